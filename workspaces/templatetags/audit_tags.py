"""{{ entry.details|details_text }}: an audit entry's details as one line of text."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
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
