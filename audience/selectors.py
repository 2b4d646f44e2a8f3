"""Reads for the audience browse pages, workspace-scoped."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Lower

from audience.models import Event, Profile, PropertyType
from workspaces.models import Workspace

SUMMARY_PROPERTIES = 4
SUMMARY_VALUE_CHARS = 40


def profiles_for_browse(*, workspace: Workspace) -> QuerySet[Profile]:
    """The workspace's profiles; the page orders them by last_seen, newest first, and
    searches them by identity prefix (common.pagination.page_by_position)."""
    return Profile.objects.filter(workspace=workspace)


def events_for_browse(*, workspace: Workspace) -> QuerySet[Event]:
    return Event.objects.filter(workspace=workspace)


def property_types_for_browse(*, workspace: Workspace, name: str = "") -> QuerySet[PropertyType]:
    """The workspace's property types by name, letter case aside; `name` matches any part of
    the name, in any letter case."""
    queryset = PropertyType.objects.filter(workspace=workspace)
    if name:
        queryset = queryset.filter(name__icontains=name)
    return queryset.order_by(Lower("name"), "name", "pk")


def property_types_of(*, workspace_id: Any, names: list[str]) -> dict[str, PropertyType]:
    """The types the workspace keeps for these property names (those it has)."""
    if not names:
        return {}
    rows = PropertyType.objects.filter(workspace_id=workspace_id, name__in=names)
    return {row.name: row for row in rows}


def properties_summary(properties: Any, limit: int = SUMMARY_PROPERTIES) -> str:
    """'plan=pro, country=DE, +3 more' for a table cell."""
    if not isinstance(properties, dict) or not properties:
        return ""
    parts = []
    # jsonb stores keys shortest first; alphabetical reads better and stays put.
    for key in sorted(properties)[:limit]:
        value = properties[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) > SUMMARY_VALUE_CHARS:
            text = text[: SUMMARY_VALUE_CHARS - 1] + "…"
        parts.append(f"{key}={text}")
    if len(properties) > limit:
        parts.append(f"+{len(properties) - limit} more")
    return ", ".join(parts)


def profile_identities_stored(*, workspace_id: Any, identities: set[str]) -> set[str]:
    """Which of these identities the workspace already has a profile for."""
    if not identities:
        return set()
    rows = Profile.objects.filter(workspace_id=workspace_id, identity__in=identities)
    return set(rows.values_list("identity", flat=True))


def event_keys_stored(*, workspace_id: Any, keys: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these dedupe keys the workspace already has an event for."""
    if not keys:
        return set()
    rows = Event.objects.filter(workspace_id=workspace_id, dedupe_key__in=keys)
    return set(rows.values_list("dedupe_key", flat=True))
