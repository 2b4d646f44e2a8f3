"""Dates and byte counts as the pages show them.

`|date_in_zone` is Django's `|date` with one difference: the shift into the workspace's time
zone never fails. Django's `|date` converts an aware value to the current zone before the
filter runs, and BigQuery's own limits (0001-01-01, 9999-12-31 23:59:59.999999), common
placeholders in imported data, leave the calendar when shifted west or east of UTC: the page
would fail with an OverflowError. A format ending in " T" names the zone as people read it
("CET", "UTC+14", "UTC−03:30"; see workspaces.timezones) rather than zoneinfo's "+14".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import template
from django.template.defaultfilters import date as django_date
from django.template.defaultfilters import filesizeformat
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from workspaces.timezones import local_or_utc, zone_label

register = template.Library()

# The part of a format that asks for the zone: " T" at its end.
ZONE_SUFFIX = " T"


@register.filter(expects_localtime=False)
def date_in_zone(value: Any, format_string: str) -> str:
    """`|date:format_string` in the current time zone, or in UTC when the shift would leave
    the calendar; a format ending in " T" adds the zone label ("Mar 3, 2026 14:05 CET")."""
    if value in (None, ""):
        return ""
    value = local_or_utc(value)
    with_zone = format_string.endswith(ZONE_SUFFIX)
    text = django_date(value, format_string.removesuffix(ZONE_SUFFIX))
    if with_zone and isinstance(value, dt.datetime) and value.tzinfo is not None:
        text = f"{text} {zone_label(value)}"
    return text


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
