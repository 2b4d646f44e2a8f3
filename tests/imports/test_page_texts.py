"""The words and numbers the import pages compute: durations, rates, a rejected row's data."""

import datetime as dt

import pytest

from imports.views import _data_text, duration_text, rate_text

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (0, "<1 s"),
        (0.4, "<1 s"),
        (-3, "<1 s"),  # a clock that went back shows no negative time
        (1, "1 s"),
        (45, "45 s"),
        (59.6, "1 min"),  # rounded to the second first
        (60, "1 min"),
        (200, "3 min 20 s"),
        (3600, "1 h"),
        (3661, "1 h 1 min"),  # seconds are left out beside hours
        (7500, "2 h 5 min"),
        (dt.timedelta(minutes=1, seconds=40), "1 min 40 s"),
    ],
)
def test_durations_read_in_the_largest_units_without_wrapping(value, text):
    assert duration_text(value) == text.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (None, ""),
        (0, "0"),
        (2.5, "2.5"),
        (3.0, "3"),
        (9.94, "9.9"),
        (9.96, "10"),
        (10, "10"),
        (10.6, "11"),
        (1234.4, "1,234"),
    ],
)
def test_rates_have_one_decimal_below_ten_and_thousands_separators_above(rate, text):
    assert rate_text(rate) == text


def test_a_rejected_rows_data_follows_the_source_order_then_the_unknown_columns():
    data = {"extra": [1, 2], "email": "a@example.com", "user_id": None, "n": 5}

    text = _data_text(data, ["user_id", "email", "missing"])

    assert text == "user_id=null, email=a@example.com, extra=[1,2], n=5"


def test_rejected_data_that_is_not_an_object_is_shown_as_it_is():
    assert _data_text("a raw line", ["user_id"]) == "a raw line"
    assert _data_text([1, "x"], []) == '[1,"x"]'
