"""{{ entry.details|details_text }}: an audit entry's details as one line of text."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import template

from workspaces.templatetags.formats import date_in_zone

register = template.Library()

# A time as services record it (datetime.isoformat() of an aware value): shown as the page
# shows its own times, in the workspace's zone, not as "2026-12-10T07:42:28.105782+00:00".
_AWARE_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str) and _AWARE_ISO_TIME.fullmatch(value):
        try:
            return date_in_zone(dt.datetime.fromisoformat(value), "M j, Y H:i T")
        except ValueError:  # shaped like a time but not one (a month 13): as written
            return value
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_value(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(item) for item in value) or "none"
    return str(value)


def _change(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"from", "to"}


@register.filter
def details_text(details: Any) -> str:
    """`{"name": {"from": "a", "to": "b"}}` → `name: a → b`; other keys as `key: value`."""
    if not details:
        return ""
    if _change(details):
        return f"{_value(details['from'])} → {_value(details['to'])}"
    if not isinstance(details, dict):
        return _value(details)
    parts = []
    for key, value in details.items():
        label = key.replace("_", " ")
        if _change(value):
            parts.append(f"{label}: {_value(value['from'])} → {_value(value['to'])}")
        else:
            parts.append(f"{label}: {_value(value)}")
    return "; ".join(parts)
