"""Dates and counts as the pages show them, without the cost of Django's general filters.

`|date` parses its format and looks each part up through translation and format settings,
about 50 µs a call; humanize's `|intcomma` goes through number_format, about 15 µs. The
lists draw a few of each per row, which made them several percent of a page. These give the
same text for the formats and values the pages use and hand anything else to Django's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import date as django_date

register = template.Library()

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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


@register.filter(expects_localtime=True)
def datetime_text(value: Any, format_string: str) -> str:
    """`|date:format_string`, in the current time zone, faster for the formats above."""
    if value in (None, ""):
        return ""
    kind, draw = FORMATS.get(format_string, (None, None))
    if draw is None or not isinstance(value, kind):
        return django_date(value, format_string)
    return draw(value)


@register.filter
def thousands(value: Any) -> str:
    """humanize's `|intcomma` for English: 1234567 → "1,234,567"."""
    if type(value) is int:
        return f"{value:,}"
    return intcomma(value)
