"""Instants shown in a workspace's time zone, without ever failing on a stored value.

BigQuery's own limits (0001-01-01 and 9999-12-31 23:59:59.999999) are common placeholders
in imported data, and shifting them into a workspace's zone can leave the years 1–9999 that
Python's datetime holds. Such a value stays in UTC, and its zone label says so.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone

MINUS = "\u2212"
_NUMERIC_ZONE = re.compile(r"([+-])(\d{2})(\d{2})?")


def local_or_utc(value: Any) -> Any:
    """An aware datetime in the current time zone, or in UTC when the shift would leave the
    calendar; anything else as it is."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None or not settings.USE_TZ:
        return value
    return in_zone_or_utc(value, timezone.get_current_timezone())


def in_zone_or_utc(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """An aware `value` in `zone`, or in UTC when the shift would leave the calendar
    (0001-01-01 seen from west of UTC); the offset it carries always says which."""
    try:
        return value.astimezone(zone)
    except OverflowError:
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:  # an aware value built in another zone, at the very edge
            return value


def zone_label(value: dt.datetime) -> str:
    """The zone of an aware value as people read it: "CET", "UTC", "UTC+14", "UTC−03:30".

    zoneinfo names many zones only by their offset ("+14", "-0330"); those read as UTC±.
    """
    name = value.tzname() or ""
    match = _NUMERIC_ZONE.fullmatch(name)
    if match is None:
        return name
    sign, hours, minutes = match.groups()
    offset = f"{hours}:{minutes}" if minutes and minutes != "00" else hours
    return f"UTC{MINUS if sign == '-' else '+'}{offset}"


# Files of the zone database that name no place: "localtime" is a link to the host's own
# clock (another zone on each server, missing on some), the others are placeholders.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted, for a time zone picker."""
    return tuple(sorted(zoneinfo.available_timezones() - NOT_ZONES))


def is_time_zone(name: str) -> bool:
    return name in _time_zone_set()


@lru_cache(maxsize=1)
def _time_zone_set() -> frozenset[str]:
    return frozenset(time_zone_names())
