"""Dates and counts as the pages show them, without the cost of Django's general filters.

`|date` parses its format and looks each part up through translation and format settings,
about 50 µs a call; humanize's `|intcomma` goes through number_format, about 15 µs. The
lists draw a few of each per row, which made them several percent of a page. These give the
same text for the formats and values the pages use and hand anything else to Django's own.

`|datetime_text` never fails on a stored value (see workspaces.timezones).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import date as django_date
from django.template.defaultfilters import filesizeformat
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from workspaces.timezones import local_or_utc, zone_label

register = template.Library()

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The part of a format that asks for the zone: " T" at its end.
ZONE_SUFFIX = " T"


def _day(v: dt.date) -> str:
    return f"{MONTHS[v.month - 1]} {v.day}, {v.year:04d}"


def _minute(v: dt.datetime) -> str:
    return f"{_day(v)} {v.hour:02d}:{v.minute:02d}"


FORMATS: dict[str, tuple[type, Callable[[Any], str]]] = {
    "M j, Y": (dt.date, _day),
    "M j, Y H:i": (dt.datetime, _minute),
    "M j, Y H:i:s": (dt.datetime, lambda v: f"{_minute(v)}:{v.second:02d}"),
    "D, M j, Y H:i": (dt.datetime, lambda v: f"{WEEKDAYS[v.weekday()]}, {_minute(v)}"),
}


@register.filter
def datetime_text(value: Any, format_string: str) -> str:
    """`|date:format_string`, in the current time zone, faster for the formats above.

    A format ending in " T" adds the zone ("Mar 3, 2026 14:05 CET"). It never raises.
    """
    if value in (None, ""):
        return ""
    value = local_or_utc(value)
    with_zone = format_string.endswith(ZONE_SUFFIX)
    base = format_string.removesuffix(ZONE_SUFFIX) if with_zone else format_string
    kind, draw = FORMATS.get(base, (None, None))
    if draw is None or not isinstance(value, kind):
        try:
            return django_date(value, format_string)
        except (OverflowError, ValueError):
            return str(value)
    text = draw(value)
    if with_zone and isinstance(value, dt.datetime) and value.tzinfo is not None:
        text = f"{text} {zone_label(value)}"
    return text


@register.filter
def thousands(value: Any) -> str:
    """humanize's `|intcomma` for English: 1234567 → "1,234,567"."""
    if type(value) is int:
        return f"{value:,}"
    return intcomma(value)


@register.filter
def bytes_text(value: Any) -> str:
    """A byte count for people: "0 bytes", "1 byte", "1.5 MB (1,572,864 bytes)".

    The exact figure follows only when the rounded one hides it.
    """
    if value is None or value == "":
        return ""
    try:
        count = int(value)
    except (TypeError, ValueError):
        return ""
    rounded = filesizeformat(count)
    if abs(count) < 1024:
        return rounded
    return f"{rounded} ({count:,} bytes)"


_BREAK_AFTER = re.compile(r"([@.])")


@register.filter
def breakable(value: Any) -> SafeString:
    """Escaped text that may wrap after "@" and ".": a long service account address in a
    narrow column breaks between its parts, not in the middle of a word."""
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", escape(value)))  # noqa: S308 - escaped first
