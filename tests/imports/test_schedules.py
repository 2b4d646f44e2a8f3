"""Schedules: validation messages, run times across DST changes, and descriptions."""

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from django.core.exceptions import ValidationError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imports.models import Import
from imports.schedules import (
    Schedule,
    describe,
    first_run,
    next_run_after,
    preview,
    validate,
    wall_time_to_utc,
)
from workspaces.models import Workspace

UTC = dt.UTC
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int, fold: int = 0) -> dt.datetime:
    """A wall time in ``tz`` as a UTC instant (an aware time in an overlap never equals one
    in another zone, so comparing in UTC keeps the assertions honest)."""
    return dt.datetime(*args, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def daily(hour: int, minute: int = 0, tz: str = "UTC") -> Schedule:
    return Schedule("daily", time=dt.time(hour, minute), tz=tz)


def hourly(minute: int | None = None, tz: str = "UTC") -> Schedule:
    return Schedule("hourly", time=None if minute is None else dt.time(0, minute), tz=tz)


def weekly(weekday: int, hour: int, minute: int = 0, tz: str = "UTC") -> Schedule:
    return Schedule("weekly", time=dt.time(hour, minute), weekday=weekday, tz=tz)


def cron(expr: str, tz: str = "UTC") -> Schedule:
    return Schedule("cron", cron=expr, tz=tz)


# next_run_after: (schedule, after, expected run in UTC)
NEXT_RUN_CASES = {
    # Daily
    "daily later today": (daily(9, tz=BERLIN), utc(2026, 3, 2, 7), utc(2026, 3, 2, 8)),
    "daily strictly after": (daily(9, tz=BERLIN), utc(2026, 3, 2, 8), utc(2026, 3, 3, 8)),
    "daily tomorrow": (daily(9, tz=BERLIN), utc(2026, 3, 2, 12), utc(2026, 3, 3, 8)),
    "daily in summer time": (daily(9, tz=BERLIN), utc(2026, 7, 1), utc(2026, 7, 1, 7)),
    "daily 02:30 Berlin, day before spring forward": (
        daily(2, 30, BERLIN),
        utc(2026, 3, 27, 12),
        utc(2026, 3, 28, 1, 30),
    ),
    "daily 02:30 Berlin, spring forward runs at 03:00": (
        daily(2, 30, BERLIN),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1),
    ),
    "daily 02:30 Berlin, day after spring forward": (
        daily(2, 30, BERLIN),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
    ),
    "daily 02:30 Berlin, fall back runs at first 02:30": (
        daily(2, 30, BERLIN),
        utc(2026, 10, 24, 12),
        utc(2026, 10, 25, 0, 30),
    ),
    "daily 02:30 Berlin, not again at second 02:30": (
        daily(2, 30, BERLIN),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ),
    "daily 02:30 Berlin, from inside the repeated hour": (
        daily(2, 30, BERLIN),
        local(BERLIN, 2026, 10, 25, 2, 10, fold=1),
        utc(2026, 10, 26, 1, 30),
    ),
    "daily 02:30 New York, spring forward runs at 03:00": (
        daily(2, 30, NEW_YORK),
        utc(2026, 3, 7, 12),
        utc(2026, 3, 8, 7),
    ),
    "daily 01:30 New York, fall back runs at first 01:30": (
        daily(1, 30, NEW_YORK),
        utc(2026, 10, 31, 12),
        utc(2026, 11, 1, 5, 30),
    ),
    "daily 01:30 New York, not again at second 01:30": (
        daily(1, 30, NEW_YORK),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ),
    "daily Kolkata": (daily(9, tz=KOLKATA), utc(2026, 1, 1), utc(2026, 1, 1, 3, 30)),
    "daily with seconds": (
        Schedule("daily", time=dt.time(9, 0, 30)),
        utc(2026, 1, 1, 9),
        utc(2026, 1, 1, 9, 0, 30),
    ),
    "after given in another zone": (
        daily(9, tz=BERLIN),
        dt.datetime(2026, 3, 2, 2, 30, tzinfo=ZoneInfo(NEW_YORK)),  # 08:30 Berlin
        utc(2026, 3, 2, 8),
    ),
    # Hourly
    "hourly defaults to :00": (hourly(), utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 11)),
    "hourly at :15": (hourly(15), utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 11, 15)),
    "hourly at :15 Kolkata is :45 UTC": (
        hourly(15, KOLKATA),
        utc(2026, 1, 1),
        utc(2026, 1, 1, 0, 45),
    ),
    "hourly at :00 Kolkata is :30 UTC": (
        hourly(0, KOLKATA),
        utc(2026, 1, 1),
        utc(2026, 1, 1, 0, 30),
    ),
    "hourly Berlin spring forward skips the missing hour": (
        hourly(15, BERLIN),
        local(BERLIN, 2026, 3, 29, 1, 15),
        local(BERLIN, 2026, 3, 29, 3, 15),
    ),
    "hourly Berlin fall back: first 02:15": (
        hourly(15, BERLIN),
        local(BERLIN, 2026, 10, 25, 1, 15),
        local(BERLIN, 2026, 10, 25, 2, 15),
    ),
    "hourly Berlin fall back: second 02:15 an hour later": (
        hourly(15, BERLIN),
        local(BERLIN, 2026, 10, 25, 2, 15),
        local(BERLIN, 2026, 10, 25, 2, 15, fold=1),
    ),
    "hourly Berlin fall back: second 02:15 is found from 02:20": (
        hourly(15, BERLIN),
        local(BERLIN, 2026, 10, 25, 2, 20),
        local(BERLIN, 2026, 10, 25, 2, 15, fold=1),
    ),
    # Weekly
    "weekly Sunday 02:30 Berlin on spring forward": (
        weekly(6, 2, 30, BERLIN),
        utc(2026, 3, 23),
        utc(2026, 3, 29, 1),
    ),
    "weekly Sunday 02:30 Berlin on fall back": (
        weekly(6, 2, 30, BERLIN),
        utc(2026, 10, 19),
        utc(2026, 10, 25, 0, 30),
    ),
    "weekly same day, later": (weekly(0, 9), utc(2026, 3, 2, 8), utc(2026, 3, 2, 9)),
    "weekly same day, passed": (weekly(0, 9), utc(2026, 3, 2, 9), utc(2026, 3, 9, 9)),
    # Cron
    "cron weekdays at 9, Friday to Monday": (
        cron("0 9 * * 1-5", BERLIN),
        local(BERLIN, 2026, 3, 6, 9),
        local(BERLIN, 2026, 3, 9, 9),
    ),
    "cron weekdays at 9, midweek": (
        cron("0 9 * * mon-fri", BERLIN),
        local(BERLIN, 2026, 3, 3, 10),
        local(BERLIN, 2026, 3, 4, 9),
    ),
    "cron step within hour range": (
        cron("*/15 9-10 * * *"),
        utc(2026, 1, 1, 9, 50),
        utc(2026, 1, 1, 10),
    ),
    "cron step past the hour range": (
        cron("*/15 9-10 * * *"),
        utc(2026, 1, 1, 10, 45),
        utc(2026, 1, 2, 9),
    ),
    "cron minute range with step": (
        cron("5-50/15 * * * *"),
        utc(2026, 1, 1, 9, 51),
        utc(2026, 1, 1, 10, 5),
    ),
    "cron hour step": (cron("0 */6 * * *"), utc(2026, 1, 1, 6), utc(2026, 1, 1, 12)),
    "cron quarterly": (cron("0 0 1 */3 *"), utc(2026, 1, 15), utc(2026, 4, 1)),
    "cron month names": (cron("30 8 * jun-aug sat"), utc(2026, 1, 1), utc(2026, 6, 6, 8, 30)),
    "cron day or weekday": (cron("0 9 13 * 5"), utc(2026, 3, 6, 10), utc(2026, 3, 13, 9)),
    "cron leap day": (cron("0 0 29 2 *"), utc(2026, 3, 1), utc(2028, 2, 29)),
    "cron last day of month": (cron("0 18 L * *"), utc(2026, 2, 1), utc(2026, 2, 28, 18)),
    "cron Kolkata": (cron("0 9 * * *", KOLKATA), utc(2026, 1, 1), utc(2026, 1, 1, 3, 30)),
    "cron 02:30 Berlin, spring forward runs at 03:00": (
        cron("30 2 * * *", BERLIN),
        utc(2026, 3, 28, 12),
        utc(2026, 3, 29, 1),
    ),
    "cron 02:xx Berlin, spring forward runs once at 03:00": (
        cron("0,30 2 * * *", BERLIN),
        utc(2026, 3, 29, 1),
        local(BERLIN, 2026, 3, 30, 2),
    ),
    "cron 02:30 Berlin, fall back runs once": (
        cron("30 2 * * *", BERLIN),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ),
    "cron 01:30 New York, fall back runs once": (
        cron("30 1 * * *", NEW_YORK),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ),
    "cron every 30 minutes follows the clock through fall back": (
        cron("*/30 * * * *", BERLIN),
        local(BERLIN, 2026, 10, 25, 2, 30),
        local(BERLIN, 2026, 10, 25, 2, 0, fold=1),
    ),
    "cron every 30 minutes skips the missing hour": (
        cron("*/30 * * * *", NEW_YORK),
        local(NEW_YORK, 2026, 3, 8, 1, 30),
        local(NEW_YORK, 2026, 3, 8, 3, 0),
    ),
    "cron twice an hour Berlin fall back: the first 02:45 comes before the second 02:15": (
        cron("15,45 * * * *", BERLIN),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 0, 45),
    ),
    "hourly Troll fall back by two hours: the repeated 01:15 is next": (
        hourly(15, "Antarctica/Troll"),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 15),
    ),
    "cron every hour but one names its hours: fall back runs 02:00 once": (
        cron("0 0-22 * * *", BERLIN),
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 2, 0),
    ),
    "daily runs on the whole second of its time": (
        Schedule("daily", time=dt.time(9, 0, 0, 500000)),
        utc(2026, 3, 2, 7),
        utc(2026, 3, 2, 9),
    ),
    # One-off kinds
    "once ahead": (
        Schedule("once", at=utc(2026, 3, 3, 8, 30), tz=BERLIN),
        utc(2026, 3, 1),
        utc(2026, 3, 3, 8, 30),
    ),
    "once given in another zone comes back in UTC": (
        Schedule("once", at=dt.datetime(2026, 3, 3, 9, 30, tzinfo=ZoneInfo(BERLIN))),
        utc(2026, 3, 1),
        utc(2026, 3, 3, 8, 30),
    ),
    "once passed": (Schedule("once", at=utc(2026, 3, 3, 8, 30)), utc(2026, 3, 3, 8, 30), None),
    "now has no next run": (Schedule("now"), utc(2026, 1, 1), None),
    "none has no run": (Schedule("none"), utc(2026, 1, 1), None),
}


@pytest.mark.parametrize(
    ("schedule", "after", "expected"), NEXT_RUN_CASES.values(), ids=NEXT_RUN_CASES.keys()
)
def test_it_computes_the_next_run(schedule, after, expected):
    result = next_run_after(schedule, after)

    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@pytest.mark.parametrize("weekday", range(7))
def test_weekly_runs_on_its_weekday(weekday):
    # 2026-03-02 is a Monday.
    schedule = weekly(weekday, 9, tz=BERLIN)

    result = next_run_after(schedule, local(BERLIN, 2026, 3, 2, 12))

    assert result == local(BERLIN, 2026, 3, 2 + (weekday or 7), 9)
    assert result.astimezone(ZoneInfo(BERLIN)).weekday() == weekday


def test_daily_runs_once_a_day_across_both_berlin_changes():
    spring = preview(daily(2, 30, BERLIN), utc(2026, 3, 27, 12), count=4)
    autumn = preview(daily(2, 30, BERLIN), utc(2026, 10, 23, 12), count=4)

    assert [run.astimezone(ZoneInfo(BERLIN)).isoformat() for run in spring] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert [run.astimezone(ZoneInfo(BERLIN)).isoformat() for run in autumn] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_hourly_keeps_an_hour_between_runs_across_dst():
    spring = preview(hourly(15, BERLIN), local(BERLIN, 2026, 3, 29, 0, 30), count=4)
    autumn = preview(hourly(15, BERLIN), local(BERLIN, 2026, 10, 25, 1, 30), count=4)

    for runs in (spring, autumn):
        assert [b - a for a, b in zip(runs, runs[1:], strict=False)] == [dt.timedelta(hours=1)] * 3
        assert {run.astimezone(ZoneInfo(BERLIN)).minute for run in runs} == {15}


def test_first_run_of_now_is_now():
    now = local(BERLIN, 2026, 3, 2, 10)

    assert first_run(Schedule("now", tz=BERLIN), now) == utc(2026, 3, 2, 9)
    in_berlin = dt.datetime(2026, 3, 2, 10, tzinfo=ZoneInfo(BERLIN))
    assert first_run(Schedule("now", tz=BERLIN), in_berlin).tzinfo is UTC
    assert preview(Schedule("now", tz=BERLIN), now) == [utc(2026, 3, 2, 9)]


def test_first_run_of_once_is_its_time_while_ahead():
    schedule = Schedule("once", at=utc(2026, 3, 3, 8, 30))

    assert first_run(schedule, utc(2026, 3, 1)) == utc(2026, 3, 3, 8, 30)
    assert first_run(schedule, utc(2026, 3, 3, 8, 30)) is None
    assert preview(schedule, utc(2026, 3, 1)) == [utc(2026, 3, 3, 8, 30)]
    assert preview(schedule, utc(2026, 3, 4)) == []


def test_first_run_of_a_recurring_schedule_is_the_next_run():
    now = utc(2026, 3, 2, 7)

    assert first_run(daily(9, tz=BERLIN), now) == next_run_after(daily(9, tz=BERLIN), now)
    assert first_run(Schedule("none"), now) is None
    assert preview(Schedule("none"), now) == []


def test_preview_lists_the_next_runs_in_utc():
    runs = preview(cron("0 9 * * 1-5", BERLIN), local(BERLIN, 2026, 3, 27, 12), count=5)

    assert runs == [
        utc(2026, 3, 30, 7),
        utc(2026, 3, 31, 7),
        utc(2026, 4, 1, 7),
        utc(2026, 4, 2, 7),
        utc(2026, 4, 3, 7),
    ]


def test_naive_once_time_is_read_in_the_schedule_zone():
    schedule = Schedule("once", at=dt.datetime(2026, 3, 3, 9, 30), tz=BERLIN)  # noqa: DTZ001

    assert first_run(schedule, utc(2026, 3, 1)) == utc(2026, 3, 3, 8, 30)


@pytest.mark.parametrize(
    ("wall", "tz", "expected"),
    [
        (dt.datetime(2026, 3, 29, 2, 30), BERLIN, utc(2026, 3, 29, 1)),  # noqa: DTZ001
        (dt.datetime(2026, 10, 25, 2, 30), BERLIN, utc(2026, 10, 25, 0, 30)),  # noqa: DTZ001
        (dt.datetime(2026, 3, 8, 2, 15), NEW_YORK, utc(2026, 3, 8, 7)),  # noqa: DTZ001
        (dt.datetime(2026, 3, 29, 2, 0, 1), BERLIN, utc(2026, 3, 29, 1)),  # noqa: DTZ001
        (dt.datetime(2026, 1, 1, 9), KOLKATA, utc(2026, 1, 1, 3, 30)),  # noqa: DTZ001
    ],
)
def test_wall_time_to_utc_applies_the_dst_rule(wall, tz, expected):
    assert wall_time_to_utc(wall, tz) == expected


def test_wall_time_to_utc_refuses_an_aware_time():
    with pytest.raises(ValueError, match="naive"):
        wall_time_to_utc(utc(2026, 3, 29, 2, 30), BERLIN)


@pytest.mark.parametrize("compute", [next_run_after, first_run])
def test_it_refuses_a_naive_time_to_start_from(compute):
    with pytest.raises(ValueError, match="timezone-aware"):
        compute(Schedule("now"), dt.datetime(2026, 1, 1))  # noqa: DTZ001


class _NoOffset(dt.tzinfo):
    """A time zone that does not know its offset: such a time is as naive as one without."""

    def utcoffset(self, value):
        return None

    def dst(self, value):
        return None

    def tzname(self, value):
        return None


def test_it_refuses_an_after_whose_zone_has_no_offset():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_after(daily(9), dt.datetime(2026, 1, 1, tzinfo=_NoOffset()))


@pytest.mark.parametrize(
    ("compute", "schedule", "errors"),
    [
        (next_run_after, cron("*/2 * * * *"),
         {"schedule_cron": ["Cron expression may run at most every 5 minutes."]}),
        (first_run, Schedule("once", at=utc(2026, 3, 3), tz="Mars/Olympus_Mons"),
         {"__all__": ["Time zone 'Mars/Olympus_Mons' is not a known IANA time zone."]}),
    ],
)  # fmt: skip
def test_computing_an_invalid_schedule_raises_the_validation_error(compute, schedule, errors):
    with pytest.raises(ValidationError) as raised:
        compute(schedule, utc(2026, 1, 1))

    assert raised.value.message_dict == errors


# Validation


FIVE_FIELDS = (
    "Cron expression must have 5 fields (minute hour day month weekday), e.g. 0 9 * * 1-5."
)

INVALID_CASES = {
    "once without a time": (Schedule("once"), {"schedule_at": ["Run at needs a date and a time."]}),
    "once in the past": (
        Schedule("once", at=utc(2026, 1, 1)),
        {"schedule_at": ["Run at must be in the future."]},
    ),
    "once right now": (
        Schedule("once", at=utc(2026, 3, 1)),
        {"schedule_at": ["Run at must be in the future."]},
    ),
    "daily without a time": (
        Schedule("daily"),
        {"schedule_time": ["Time is required for a daily schedule."]},
    ),
    "weekly without anything": (
        Schedule("weekly"),
        {
            "schedule_time": ["Time is required for a weekly schedule."],
            "schedule_weekday": ["Choose the day of a weekly schedule."],
        },
    ),
    "weekly with weekday 7": (
        Schedule("weekly", time=dt.time(9), weekday=7),
        {"schedule_weekday": ["Day must be between 0 (Monday) and 6 (Sunday)."]},
    ),
    "weekly with weekday True": (
        Schedule("weekly", time=dt.time(9), weekday=True),
        {"schedule_weekday": ["Day must be between 0 (Monday) and 6 (Sunday)."]},
    ),
    "weekly with weekday -1": (
        Schedule("weekly", time=dt.time(9), weekday=-1),
        {"schedule_weekday": ["Day must be between 0 (Monday) and 6 (Sunday)."]},
    ),
    "cron empty": (cron("  "), {"schedule_cron": ["Cron expression is required."]}),
    "cron with four fields": (cron("0 9 * *"), {"schedule_cron": [FIVE_FIELDS]}),
    "cron with seconds": (cron("0 0 9 * * 1-5"), {"schedule_cron": [FIVE_FIELDS]}),
    "cron with seconds and year": (cron("0 0 9 * * 1-5 2026"), {"schedule_cron": [FIVE_FIELDS]}),
    "cron alias": (cron("@daily"), {"schedule_cron": [FIVE_FIELDS]}),
    "cron minute out of range": (
        cron("61 * * * *"),
        {"schedule_cron": ["Cron expression is not valid: minute field '61' (allowed 0-59)."]},
    ),
    "cron hour out of range": (
        cron("0 24 * * *"),
        {"schedule_cron": ["Cron expression is not valid: hour field '24' (allowed 0-23)."]},
    ),
    "cron day zero": (
        cron("0 9 0 * *"),
        {"schedule_cron": ["Cron expression is not valid: day field '0' (allowed 1-31)."]},
    ),
    "cron month unknown": (
        cron("0 9 * foo *"),
        {
            "schedule_cron": [
                "Cron expression is not valid: month field 'foo' (allowed 1-12 or JAN-DEC)."
            ]
        },
    ),
    "cron weekday out of range": (
        cron("0 9 * * 8"),
        {
            "schedule_cron": [
                "Cron expression is not valid: weekday field '8' "
                "(allowed 0-6 or SUN-SAT, 0 is Sunday)."
            ]
        },
    ),
    "cron zero step": (
        cron("*/0 * * * *"),
        {"schedule_cron": ["Cron expression is not valid: minute field '*/0' (allowed 0-59)."]},
    ),
    "cron hashed": (
        cron("H 9 * * *"),
        {"schedule_cron": ["Cron expression is not valid: minute field 'H' (allowed 0-59)."]},
    ),
    "cron random": (
        cron("0 R * * *"),
        {"schedule_cron": ["Cron expression is not valid: hour field 'R' (allowed 0-23)."]},
    ),
    "cron random in lower case": (
        cron("0 r * * *"),
        {"schedule_cron": ["Cron expression is not valid: hour field 'r' (allowed 0-23)."]},
    ),
    "cron never runs": (
        cron("0 9 30 2 *"),
        {
            "schedule_cron": [
                "Cron expression never runs: no date matches its day, month and weekday."
            ]
        },
    ),
    "cron every minute": (
        cron("* * * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "cron every 2 minutes in one hour": (
        cron("*/2 9 * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "cron close minutes": (
        cron("0,3 9 * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "cron close across the hour": (
        cron("0,57 9,10 * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "cron close across midnight": (
        cron("0,58 0,23 * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "cron 4 minutes apart across the hour": (
        cron("2,58 * * * *"),
        {"schedule_cron": ["Cron expression may run at most every 5 minutes."]},
    ),
    "unknown kind": (
        Schedule("monthly"),
        {
            "schedule_kind": [
                "Schedule kind 'monthly' is not one of: "
                "none, now, once, hourly, daily, weekly, cron."
            ]
        },
    ),
    "unknown zone": (
        daily(9, tz="Mars/Olympus_Mons"),
        {"__all__": ["Time zone 'Mars/Olympus_Mons' is not a known IANA time zone."]},
    ),
    "zone as a path": (
        daily(9, tz="../etc/localtime"),
        {"__all__": ["Time zone '../etc/localtime' is not a known IANA time zone."]},
    ),
    "empty zone": (daily(9, tz=""), {"__all__": ["Time zone '' is not a known IANA time zone."]}),
}


@pytest.mark.parametrize(("schedule", "errors"), INVALID_CASES.values(), ids=INVALID_CASES.keys())
def test_it_refuses_an_invalid_schedule(schedule, errors):
    with pytest.raises(ValidationError) as raised:
        validate(schedule, now=utc(2026, 3, 1))

    assert raised.value.message_dict == errors


VALID = [
    Schedule("none"),
    Schedule("now", tz=BERLIN),
    Schedule("once", at=utc(2026, 3, 3, 8, 30), tz=BERLIN),
    hourly(),
    hourly(45, KOLKATA),
    daily(9, tz=NEW_YORK),
    weekly(0, 9),
    weekly(6, 23, 59, BERLIN),
    cron("0 9 * * 1-5", BERLIN),
    cron("*/5 * * * *"),
    cron("58 0,1 * * *"),
    cron("0,55 9 * * *"),
    cron("0 0 L * *"),
    cron("0 12 * jan-mar mon#1"),
    cron("  0   9 * * 1-5 "),
]


@pytest.mark.parametrize("schedule", VALID, ids=describe)
def test_it_accepts_a_valid_schedule(schedule):
    validate(schedule, now=utc(2026, 3, 1))


def test_validation_errors_carry_codes():
    with pytest.raises(ValidationError) as raised:
        validate(cron("*/2 * * * *"))

    assert raised.value.error_dict["schedule_cron"][0].code == "cron_too_often"


# Descriptions


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Schedule("none"), "No schedule"),
        (Schedule("now", tz=BERLIN), "Once, now"),
        (
            Schedule("once", at=utc(2026, 3, 3, 8, 30), tz=BERLIN),
            "Once on Mar 3, 2026 at 09:30 (Europe/Berlin)",
        ),
        (
            Schedule("once", at=utc(2026, 6, 30, 20), tz=KOLKATA),
            "Once on Jul 1, 2026 at 01:30 (Asia/Kolkata)",  # the next day there
        ),
        (hourly(15), "Every hour at :15"),
        (hourly(), "Every hour at :00"),
        (daily(9, tz=BERLIN), "Daily at 09:00 (Europe/Berlin)"),
        (Schedule("daily", time=dt.time(9, 0, 30)), "Daily at 09:00:30 (UTC)"),
        (weekly(0, 9), "Weekly on Monday at 09:00 (UTC)"),
        (weekly(6, 18, 45, KOLKATA), "Weekly on Sunday at 18:45 (Asia/Kolkata)"),
        (cron("0 9 * * 1-5", BERLIN), "Cron 0 9 * * 1-5 (Europe/Berlin)"),
        (cron(" 0  9 * * 1-5", BERLIN), "Cron 0 9 * * 1-5 (Europe/Berlin)"),
        (Schedule("daily", tz=BERLIN), "Daily (time not set) (Europe/Berlin)"),
        (Schedule("once", tz=BERLIN), "Once (date not set)"),
        (
            Schedule("weekly", time=dt.time(9), weekday=7),
            "Weekly on (day not set) at 09:00 (UTC)",
        ),
        (
            Schedule("once", at=utc(2026, 3, 3, 8, 30), tz="Mars/Olympus_Mons"),
            "Once on Mar 3, 2026 at 08:30 (Mars/Olympus_Mons)",
        ),
        (Schedule("monthly"), "Unknown schedule (monthly)"),
    ],
)
def test_it_describes_a_schedule(schedule, text):
    assert describe(schedule) == text


@pytest.mark.parametrize(
    "fields",
    [
        {"schedule_kind": "weekly", "schedule_time": dt.time(9), "schedule_weekday": 2},
        {"schedule_kind": "once", "schedule_at": utc(2026, 3, 3, 8, 30)},
        {"schedule_kind": "cron", "schedule_cron": "0 9 * * 1-5"},
    ],
)
def test_it_reads_an_import_in_its_workspaces_zone_unless_given_another(fields):
    import_obj = Import(workspace=Workspace(time_zone=KOLKATA), **fields)
    expected = Schedule(
        fields["schedule_kind"],
        at=fields.get("schedule_at"),
        time=fields.get("schedule_time"),
        weekday=fields.get("schedule_weekday"),
        cron=fields.get("schedule_cron", ""),
        tz=KOLKATA,
    )

    assert Schedule.from_import(import_obj) == expected
    assert Schedule.from_import(import_obj, BERLIN) == replace(expected, tz=BERLIN)


# Properties

ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    KOLKATA,
    "Europe/London",
    "America/Santiago",  # changes at midnight
    "Australia/Lord_Howe",  # moves by half an hour
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kathmandu",  # +05:45
]

times = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
cron_exprs = st.builds(
    "{} {} {} {} {}".format,
    st.sampled_from(["0", "15", "59", "*/5", "*/15", "0,30", "5-50/15", "10-40/10"]),
    st.sampled_from(["*", "0", "1", "2", "1-3", "*/2", "0,12", "9-17", "23", "2-4/2"]),
    st.sampled_from(["*", "1", "15", "28", "1-7", "L", "*/10"]),
    st.sampled_from(["*", "1", "*/3", "2", "mar-may", "10,11"]),
    st.sampled_from(["*", "1-5", "0", "sat,sun", "3"]),
)
recurring = st.one_of(
    st.builds(lambda t, tz: Schedule("hourly", time=t, tz=tz), times, st.sampled_from(ZONES)),
    st.builds(lambda t, tz: Schedule("daily", time=t, tz=tz), times, st.sampled_from(ZONES)),
    st.builds(
        lambda t, d, tz: Schedule("weekly", time=t, weekday=d, tz=tz),
        times,
        st.integers(0, 6),
        st.sampled_from(ZONES),
    ),
    st.builds(lambda e, tz: Schedule("cron", cron=e, tz=tz), cron_exprs, st.sampled_from(ZONES)),
)
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2090, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(ZONES).map(ZoneInfo),
    allow_imaginary=False,
)


def is_valid(schedule: Schedule) -> bool:
    try:
        validate(schedule)
    except ValidationError:
        return False
    return True


@settings(max_examples=100, deadline=None)
@given(schedule=recurring, after=instants)
def test_runs_are_strictly_later_utc_and_never_repeat(schedule, after):
    assume(is_valid(schedule))
    runs = []
    previous = after
    for _ in range(6):
        run = next_run_after(schedule, previous)
        assert run is not None
        assert run > previous
        assert run.tzinfo is UTC
        runs.append(run)
        previous = run

    assert len(set(runs)) == len(runs)
    assert runs == sorted(runs)


@settings(max_examples=100, deadline=None)
@given(schedule=recurring, after=instants)
def test_each_run_shows_a_matching_time_or_is_the_end_of_a_gap(schedule, after):
    assume(is_valid(schedule))
    zone = ZoneInfo(schedule.tz)
    run = next_run_after(schedule, after)
    wall = run.astimezone(zone).replace(tzinfo=None)

    if schedule.kind == "hourly":
        matches = wall.minute == schedule.time.minute and wall.second == 0
    elif schedule.kind == "cron":
        matches = croniter.match(schedule.cron, wall)
    else:
        matches = wall.time() == schedule.time
        if schedule.kind == "weekly":
            matches = matches and wall.weekday() == schedule.weekday
    just_before = (run - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
    at_a_gap_end = just_before != run.astimezone(zone).utcoffset()

    assert matches or (at_a_gap_end and schedule.kind != "hourly")


@settings(max_examples=60, deadline=None)
@given(time=times, tz=st.sampled_from(ZONES), after=instants)
def test_daily_runs_on_each_local_day_exactly_once(time, tz, after):
    zone = ZoneInfo(tz)
    runs = preview(Schedule("daily", time=time, tz=tz), after, count=8)
    days = [run.astimezone(zone).date() for run in runs]

    assert [b - a for a, b in zip(days, days[1:], strict=False)] == [dt.timedelta(days=1)] * 7


@settings(max_examples=60, deadline=None)
@given(schedule=recurring, now=instants, count=st.integers(1, 8))
def test_preview_lists_count_distinct_increasing_times(schedule, now, count):
    assume(is_valid(schedule))
    runs = preview(schedule, now, count=count)

    assert len(runs) == count
    assert all(a < b for a, b in zip(runs, runs[1:], strict=False))
    assert runs[0] > now
