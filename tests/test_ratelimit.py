"""The sliding window over the cache: no stretch of its length holds more than its limit,
across a minute's boundary too."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from common.ratelimit import SlidingWindow

WINDOW = SlidingWindow("test-window", limit=10, seconds=60)
START = dt.datetime(2026, 3, 2, 12, 0, 55, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_minute_boundary_does_not_double_the_allowance():
    with time_machine.travel(START, tick=False) as clock:
        assert [WINDOW.attempt("ada") for _ in range(10)] == [0] * 10

        clock.move_to(START + dt.timedelta(seconds=7))  # 12:01:02, a new calendar minute
        assert WINDOW.attempt("ada") == 58  # the ten leave the window at 12:02:00

        clock.move_to(START + dt.timedelta(seconds=64))
        assert WINDOW.attempt("ada") == 1
        clock.move_to(START + dt.timedelta(seconds=65))
        assert WINDOW.attempt("ada") == 0


def test_a_refused_attempt_is_not_counted_and_subjects_are_apart():
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(10):
            WINDOW.attempt("ada")
        for _ in range(5):
            assert WINDOW.attempt("ada") > 0
        assert WINDOW.count("ada") == 10
        assert WINDOW.attempt("grace") == 0

        clock.move_to(START + dt.timedelta(seconds=65))
        assert WINDOW.count("ada") == 0


def test_events_spread_over_the_window_leave_one_by_one():
    with time_machine.travel(START, tick=False) as clock:
        for second in range(0, 50, 5):  # one event every five seconds, 12:00:55 to 12:01:40
            clock.move_to(START + dt.timedelta(seconds=second))
            assert WINDOW.attempt("ada") == 0
        assert WINDOW.retry_after("ada") == 20  # the first leaves at 12:02:00

        clock.move_to(START + dt.timedelta(seconds=65))
        assert WINDOW.count("ada") == 9
        assert WINDOW.attempt("ada") == 0
        assert WINDOW.retry_after("ada") == 5


def test_clear_forgets_the_subject():
    with time_machine.travel(START, tick=False):
        for _ in range(10):
            WINDOW.add("ada")
        assert WINDOW.retry_after("ada") > 0
        WINDOW.clear("ada")
        assert WINDOW.count("ada") == 0


def test_counts_are_kept_in_the_cache_for_the_whole_window(settings):
    """An entry that expired before its slot left the window would let more through than
    the limit (on the local-memory cache, whose expiry follows the clock the test moves)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with time_machine.travel(START, tick=False) as clock:
        assert [WINDOW.attempt("ada") for _ in range(10)] == [0] * 10

        clock.move_to(START + dt.timedelta(seconds=55))
        assert WINDOW.attempt("ada") > 0
        assert WINDOW.count("ada") == 10


def test_each_limit_counts_on_its_own_for_the_same_subject():
    """Send test and Test Connection both count per user id: neither may use up the other."""
    other = SlidingWindow("other-window", limit=10, seconds=60)
    with time_machine.travel(START, tick=False):
        assert [WINDOW.attempt("42") for _ in range(11)][-1] > 0

        assert other.attempt("42") == 0
        assert other.count("42") == 1 and WINDOW.count("42") == 10
