"""Reads for the audit log (page, CSV export and API)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from common.csv_stream import csv_lines
from workspaces.audit_actions import action_label
from workspaces.audit_filters import AuditEntryFilter
from workspaces.models import AuditEntry, Workspace
from workspaces.timezones import in_zone_or_utc


def audit_entries_for_workspace(*, workspace: Workspace) -> QuerySet[AuditEntry]:
    return (
        AuditEntry.objects.filter(workspace=workspace)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def audit_entries_filtered(*, workspace: Workspace, params: Any) -> AuditEntryFilter:
    """A bound filter set over the workspace's audit log (`.qs` is the filtered list)."""
    return AuditEntryFilter(
        params, queryset=audit_entries_for_workspace(workspace=workspace), workspace=workspace
    )


def with_action_labels(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    entries = list(entries)
    for entry in entries:
        entry.action_label = action_label(entry.action)
    return entries


CSV_HEADER = [
    "time",
    "time_zone",
    "actor",
    "action",
    "action_label",
    "target_type",
    "target_id",
    "target_label",
    "details",
]


def audit_entries_csv(*, entries: QuerySet[AuditEntry], time_zone: str) -> Iterator[str]:
    """Every entry of `entries` as CSV, read in chunks; times in the workspace's zone (each
    with its offset, so a time the zone cannot show reads in UTC without ambiguity)."""
    zone = zoneinfo.ZoneInfo(time_zone)

    def rows() -> Iterator[list[Any]]:
        for entry in entries.iterator(chunk_size=1000):
            yield [
                in_zone_or_utc(entry.created_at, zone).isoformat(timespec="seconds"),
                time_zone,
                entry.actor.get_username() if entry.actor else entry.actor_name,
                entry.action,
                action_label(entry.action),
                entry.target_type,
                entry.target_id,
                entry.target_label,
                entry.details,
            ]

    return csv_lines(CSV_HEADER, rows())
