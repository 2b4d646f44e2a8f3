"""Reads for the audience browse pages, workspace-scoped."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet

from audience.models import Event, Profile
from workspaces.models import Workspace

SUMMARY_PROPERTIES = 4
SUMMARY_VALUE_CHARS = 40


def profiles_for_browse(*, workspace: Workspace) -> QuerySet[Profile]:
    """The workspace's profiles; the page orders them by last_seen, newest first, and
    searches them by identity prefix (config.pagination.page_by_position)."""
    return Profile.objects.filter(workspace=workspace)


def events_for_browse(*, workspace: Workspace) -> QuerySet[Event]:
    return Event.objects.filter(workspace=workspace)


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
