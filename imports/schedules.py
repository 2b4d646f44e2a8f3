"""When an import runs: checking a schedule, computing its run times, saying it in words.

Schedules are stated in the workspace's wall-clock time; run times come back in UTC, the
way ``Import.next_run_at`` is stored. Daylight-saving changes follow two rules:

* A schedule that names its hours (once, daily, weekly, a cron expression that does not
  run every hour) runs at most once per wall-clock time and never skips a day. A time the
  clock jumps over runs at the first instant after the jump (02:30 on the spring-forward
  day in Europe/Berlin runs at 03:00); a time the clock shows twice runs at its first
  occurrence only.
* A schedule that runs every hour (hourly, a cron expression whose hour field is every
  hour) runs whenever the clock shows a matching time. The skipped hour has no run and the
  repeated hour has two, so runs stay an hour apart instead of bunching up at the jump.
  Vixie cron treats its wildcard jobs the same way.

Wall times are turned into instants here with zoneinfo rather than by croniter, whose
time-zone handling has changed between releases; croniter only parses cron expressions
and finds the days they run on.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from croniter import CroniterBadDateError, croniter
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

if TYPE_CHECKING:
    from imports.models import Import

KINDS = ("none", "now", "once", "hourly", "daily", "weekly", "cron")
RECURRING_KINDS = ("hourly", "daily", "weekly", "cron")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Tight cron schedules would keep a worker busy with one import and pile up runs.
MIN_CRON_INTERVAL_MINUTES = 5

RUN_AT_REQUIRED = "Run at needs a date and a time."
RUN_AT_PAST = "Run at must be in the future."
WEEKDAY_REQUIRED = "Choose the day of a weekly schedule."
WEEKDAY_RANGE = "Day must be between 0 (Monday) and 6 (Sunday)."
CRON_REQUIRED = "Cron expression is required."
CRON_FIELDS = (
    "Cron expression must have 5 fields (minute hour day month weekday), e.g. 0 9 * * 1-5."
)
CRON_INVALID = "Cron expression is not valid."
CRON_NEVER = "Cron expression never runs: no date matches its day, month and weekday."
CRON_TOO_OFTEN = f"Cron expression may run at most every {MIN_CRON_INTERVAL_MINUTES} minutes."

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CRON_FIELD_RULES = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("weekday", "0-6 or SUN-SAT, 0 is Sunday"),
)
# croniter's hashed (H) and random (R) values are not cron and would make runs unpredictable.
_HASH_OR_RANDOM = re.compile(r"(^|[,/-])[HR](\(|$|[,/-])", re.IGNORECASE)
# The largest jump of a zone's offset (Antarctica/Troll moves by two hours); a clock that
# follows the wall can show a time again at most this long after it first showed it.
_MAX_SHIFT = dt.timedelta(hours=3)


@dataclass(frozen=True)
class Schedule:
    """An import's schedule apart from the model, so it can be checked and computed alone."""

    kind: str
    at: dt.datetime | None = None
    time: dt.time | None = None
    weekday: int | None = None
    cron: str = ""
    tz: str = "UTC"

    @classmethod
    def from_import(cls, import_obj: Import, tz: str | None = None) -> Schedule:
        """Read the schedule fields of an import; ``tz`` defaults to its workspace's zone."""
        if tz is None:
            tz = import_obj.workspace.time_zone
        return cls(
            kind=import_obj.schedule_kind,
            at=import_obj.schedule_at,
            time=import_obj.schedule_time,
            weekday=import_obj.schedule_weekday,
            cron=import_obj.schedule_cron or "",
            tz=tz,
        )


@dataclass(frozen=True)
class _Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    # "0 0 <day> <month> <weekday>": croniter walks the days the expression runs on.
    days: str


def validate(schedule: Schedule, now: dt.datetime | None = None) -> None:
    """Raise ValidationError keyed by the Import field at fault, or by ``__all__`` for the zone.

    ``now`` (default: the current time) decides whether a one-time run is still ahead.
    """
    errors = _errors(schedule)
    if schedule.kind == "once" and not errors:
        now = now or dt.datetime.now(dt.UTC)
        if _run_at(schedule) <= now:
            errors["schedule_at"] = ValidationError(RUN_AT_PAST, code="past")
    if errors:
        raise ValidationError(errors)


def wall_time_to_utc(wall: dt.datetime, tz: str) -> dt.datetime:
    """The UTC instant of a naive wall-clock time in ``tz``, by the schedules' DST rule.

    A time the clock skips becomes the first instant after the jump; a time it shows twice
    becomes its first occurrence. Forms taking a local "run at" can use this to agree with
    the recurring schedules.
    """
    if wall.tzinfo is not None:
        raise ValueError("wall must be a naive wall-clock time")
    return _first_instant_at_or_after(wall, _zone(tz))


def next_run_after(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    """The first run strictly after ``after``, in UTC; None when nothing more is due.

    "now" has no run after its first (see ``first_run``); "once" has one until it passes.
    Raises ValidationError for a schedule ``validate`` would refuse (other than a past time).
    """
    _require_aware(after, "after")
    _raise_if_invalid(schedule)
    if schedule.kind in ("none", "now"):
        return None
    if schedule.kind == "once":
        at = _run_at(schedule)
        return at if at > after else None

    zone = _zone(schedule.tz)
    wall_after = after.astimezone(zone).replace(tzinfo=None)
    if not _follows_clock(schedule):
        # The first instant showing a wall time or later only grows with the wall time, so
        # the first match that lands after `after` is the answer.
        for wall in _walls(schedule, wall_after):
            instant = _first_instant_at_or_after(wall, zone)
            if instant > after:
                return instant
        return None  # pragma: no cover - _walls never ends

    # The clock may show a time again after a fall back, so start a little earlier and keep
    # looking until no later wall time could land before the best instant found.
    best: dt.datetime | None = None
    best_wall = wall_after
    for wall in _walls(schedule, wall_after - _MAX_SHIFT):
        if best is not None and wall > best_wall + _MAX_SHIFT:
            break
        for instant in _instants_showing(wall, zone):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, wall
    return best


def first_run(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The run to schedule when an import is saved or resumed at ``now``, in UTC."""
    _require_aware(now, "now")
    _raise_if_invalid(schedule)
    if schedule.kind == "now":
        return now.astimezone(dt.UTC)
    if schedule.kind == "once":
        at = _run_at(schedule)
        return at if at > now else None
    return next_run_after(schedule, now)


def preview(schedule: Schedule, now: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next ``count`` run times in UTC, for showing a schedule before it is saved."""
    runs: list[dt.datetime] = []
    run = first_run(schedule, now)
    while run is not None and len(runs) < count:
        runs.append(run)
        run = next_run_after(schedule, run)
    return runs


def describe(schedule: Schedule) -> str:
    """The schedule in words for lists and detail pages; tolerates incomplete schedules."""
    kind, tz = schedule.kind, schedule.tz
    if kind == "none":
        return "No schedule"
    if kind == "now":
        return "Once, now"
    if kind == "once":
        if schedule.at is None:
            return "Once (date not set)"
        at = schedule.at
        if at.tzinfo is not None and _zone_or_none(tz) is not None:
            at = at.astimezone(_zone(tz))
        return (
            f"Once on {_MONTH_ABBR[at.month - 1]} {at.day}, {at.year} at {_clock(at.time())} ({tz})"
        )
    if kind == "hourly":
        minute = schedule.time.minute if schedule.time else 0
        return f"Every hour at :{minute:02d}"
    if kind == "daily":
        when = f"at {_clock(schedule.time)}" if schedule.time else "(time not set)"
        return f"Daily {when} ({tz})"
    if kind == "weekly":
        weekday = schedule.weekday
        day = (
            WEEKDAY_NAMES[weekday] if weekday is not None and 0 <= weekday < 7 else "(day not set)"
        )
        when = f"at {_clock(schedule.time)}" if schedule.time else "(time not set)"
        return f"Weekly on {day} {when} ({tz})"
    if kind == "cron":
        return f"Cron {' '.join(schedule.cron.split())} ({tz})"
    return f"Unknown schedule ({kind})"


# Checking


def _errors(schedule: Schedule) -> dict[str, ValidationError]:
    errors: dict[str, ValidationError] = {}
    if _zone_or_none(schedule.tz) is None:
        errors[NON_FIELD_ERRORS] = ValidationError(
            f"Time zone {schedule.tz!r} is not a known IANA time zone.", code="time_zone"
        )
    kind = schedule.kind
    if kind not in KINDS:
        errors["schedule_kind"] = ValidationError(
            f"Schedule kind {kind!r} is not one of: {', '.join(KINDS)}.", code="invalid"
        )
    elif kind == "once":
        if schedule.at is None:
            errors["schedule_at"] = ValidationError(RUN_AT_REQUIRED, code="required")
    elif kind in ("daily", "weekly"):
        if schedule.time is None:
            errors["schedule_time"] = ValidationError(
                f"Time is required for a {kind} schedule.", code="required"
            )
        if kind == "weekly":
            weekday = schedule.weekday
            if weekday is None:
                errors["schedule_weekday"] = ValidationError(WEEKDAY_REQUIRED, code="required")
            elif isinstance(weekday, bool) or weekday not in range(7):
                errors["schedule_weekday"] = ValidationError(WEEKDAY_RANGE, code="invalid")
    elif kind == "cron":
        parsed = _parse_cron(schedule.cron)
        if isinstance(parsed, ValidationError):
            errors["schedule_cron"] = parsed
    return errors


def _raise_if_invalid(schedule: Schedule) -> None:
    errors = _errors(schedule)
    if errors:
        raise ValidationError(errors)


@functools.lru_cache(maxsize=512)
def _parse_cron(expr: str) -> _Cron | ValidationError:
    fields = expr.split()
    if not fields:
        return ValidationError(CRON_REQUIRED, code="required")
    if len(fields) != 5:
        return ValidationError(CRON_FIELDS, code="cron_fields")
    for position, (name, allowed) in enumerate(_CRON_FIELD_RULES):
        probe = ["*"] * 5
        probe[position] = fields[position]
        if _HASH_OR_RANDOM.search(fields[position]) or not _croniter_accepts(" ".join(probe)):
            return ValidationError(
                f"Cron expression is not valid: {name} field {fields[position]!r} "
                f"(allowed {allowed}).",
                code="cron_invalid",
            )
    try:
        expanded, _nth_weekday = croniter.expand(" ".join(fields))
    except ValueError:
        return ValidationError(CRON_INVALID, code="cron_invalid")
    minutes = tuple(range(60)) if expanded[0] == ["*"] else tuple(sorted(expanded[0]))
    hours = tuple(range(24)) if expanded[1] == ["*"] else tuple(sorted(expanded[1]))
    days = " ".join(["0", "0", *fields[2:]])
    try:
        croniter(days, dt.datetime(2000, 1, 1)).get_next(dt.datetime)  # noqa: DTZ001
    except CroniterBadDateError:
        return ValidationError(CRON_NEVER, code="cron_never")
    if _shortest_gap(minutes, hours) < MIN_CRON_INTERVAL_MINUTES:
        return ValidationError(CRON_TOO_OFTEN, code="cron_too_often")
    return _Cron(minutes=minutes, hours=hours, days=days)


def _croniter_accepts(expr: str) -> bool:
    try:
        return bool(croniter.is_valid(expr))
    except ValueError:
        return False


def _shortest_gap(minutes: tuple[int, ...], hours: tuple[int, ...]) -> int:
    """Minutes between the closest two runs, judged on the clock's minutes and hours."""
    gaps = [b - a for a, b in zip(minutes, minutes[1:], strict=False)]
    # Counting 23:xx -> 00:xx as adjacent may refuse a rare day-limited expression; that
    # errs on the safe side.
    if any((hour + 1) % 24 in hours for hour in hours):
        gaps.append(60 - minutes[-1] + minutes[0])
    return min(gaps, default=60)


# Computing


def _zone(tz: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(tz)


def _zone_or_none(tz: str) -> zoneinfo.ZoneInfo | None:
    try:
        return _zone(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _run_at(schedule: Schedule) -> dt.datetime:
    at = schedule.at
    if at is None:  # pragma: no cover - callers check first
        raise ValueError("a one-time schedule needs `at`")
    if at.tzinfo is None:
        return wall_time_to_utc(at, schedule.tz)
    return at.astimezone(dt.UTC)


def _follows_clock(schedule: Schedule) -> bool:
    if schedule.kind == "hourly":
        return True
    if schedule.kind == "cron":
        return len(_cron(schedule).hours) == 24
    return False


def _cron(schedule: Schedule) -> _Cron:
    parsed = _parse_cron(schedule.cron)
    if isinstance(parsed, ValidationError):  # pragma: no cover - checked before
        raise parsed
    return parsed


def _walls(schedule: Schedule, start: dt.datetime) -> Iterator[dt.datetime]:
    """Matching naive wall-clock times from ``start`` on, in increasing order."""
    days: Iterator[dt.date]
    if schedule.kind == "cron":
        cron = _cron(schedule)
        times = [dt.time(h, m) for h in cron.hours for m in cron.minutes]
        days = _cron_days(cron.days, start.date())
    elif schedule.kind == "hourly":
        minute = schedule.time.minute if schedule.time else 0
        times = [dt.time(h, minute) for h in range(24)]
        days = _every_day(start.date())
    else:
        assert schedule.time is not None  # noqa: S101 - checked by _errors
        times = [schedule.time.replace(microsecond=0, tzinfo=None)]
        days = _every_day(start.date())
        if schedule.kind == "weekly":
            days = (day for day in days if day.weekday() == schedule.weekday)
    for day in days:
        for time in times:
            wall = dt.datetime.combine(day, time)
            if wall >= start:
                yield wall


def _every_day(first: dt.date) -> Iterator[dt.date]:
    day = first
    while True:
        yield day
        day += dt.timedelta(days=1)


def _cron_days(days: str, first: dt.date) -> Iterator[dt.date]:
    # Naive datetimes keep croniter on plain calendar arithmetic.
    it = croniter(days, dt.datetime.combine(first, dt.time()) - dt.timedelta(minutes=1))
    while True:
        yield it.get_next(dt.datetime).date()


def _shows(instant: dt.datetime, zone: zoneinfo.ZoneInfo, wall: dt.datetime) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def _instants_showing(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> list[dt.datetime]:
    """Every instant at which the clock shows ``wall``: none in a gap, two in an overlap."""
    instants = set()
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)
        if _shows(instant, zone, wall):
            instants.add(instant)
    return sorted(instants)


def _first_instant_at_or_after(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first instant the clock shows ``wall`` or later: fold 0, or the end of a gap."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if _shows(instant, zone, wall):
        return instant
    # In a gap fold=0 reads the time with the offset from before the jump and lands after
    # it; fold=1 uses the offset from after and lands before. Offsets change on whole
    # seconds, so a search by the second finds the jump.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(instant.timestamp())
    offset_before = _offset_at(before, zone)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset_at(middle, zone) == offset_before:
            before = middle
        else:
            after = middle
    return dt.datetime.fromtimestamp(after, dt.UTC)


def _offset_at(timestamp: int, zone: zoneinfo.ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(timestamp, zone).utcoffset()


def _clock(time: dt.time) -> str:
    return f"{time:%H:%M:%S}" if time.second else f"{time:%H:%M}"
