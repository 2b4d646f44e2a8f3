"""Reads for the audience browse pages: newest first, workspace-scoped, search by identity."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet

from audience.models import Event, Profile
from workspaces.models import Workspace

SUMMARY_PROPERTIES = 4
SUMMARY_VALUE_CHARS = 40


def profiles_for_browse(*, workspace: Workspace, identity: str = "") -> QuerySet[Profile]:
    """Profiles seen most recently first; `identity` matches a prefix (the index serves it)."""
    queryset = Profile.objects.filter(workspace=workspace)
    if identity:
        queryset = queryset.filter(identity__startswith=identity)
    return queryset.order_by("-last_seen", "-pk")


def events_for_browse(*, workspace: Workspace, identity: str = "") -> QuerySet[Event]:
    queryset = Event.objects.filter(workspace=workspace)
    if identity:
        queryset = queryset.filter(identity__startswith=identity)
    return queryset.order_by("-timestamp", "-pk")


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
