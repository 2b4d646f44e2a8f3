"""The target step's first guess from the source's columns: Events for a table with an
event column beside a timestamp, User Profiles otherwise (the admin can always switch)."""

import re

import pytest

from imports.forms import TargetForm


def schema(*columns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "type": kind} for name, kind in columns]


@pytest.mark.parametrize(
    ("columns", "target"),
    [
        ((("user_id", "STRING"), ("event", "STRING"), ("ts", "TIMESTAMP")), "events"),
        ((("user_id", "STRING"), ("Event_Name", "STRING"), ("at", "TIMESTAMP")), "events"),
        # "name" names people as often as events: a user table keeps the profiles guess.
        ((("user_id", "STRING"), ("name", "STRING"), ("updated_at", "TIMESTAMP")), "profiles"),
        # An event column but no time to place the events at.
        ((("user_id", "STRING"), ("event", "STRING")), "profiles"),
        ((("user_id", "STRING"), ("event", "INT64"), ("ts", "TIMESTAMP")), "profiles"),
        ((("user_id", "STRING"), ("email", "STRING")), "profiles"),
    ],
)
def test_the_first_guess_of_the_target_follows_the_columns(columns, target):
    form = TargetForm(schema=schema(*columns))

    assert form["target"].value() == target
    checked = re.findall(r'value="(\w+)"[^>]* checked', str(form["target"]))
    assert checked == [target]


def test_a_stored_choice_is_kept_over_the_guess():
    events_table = schema(("user_id", "STRING"), ("event", "STRING"), ("ts", "TIMESTAMP"))
    form = TargetForm({"target": "profiles"}, schema=events_table)

    assert form["target"].value() == "profiles"


@pytest.mark.parametrize(
    ("columns", "field", "guess"),
    [
        # user_id before email, whichever comes first in the table
        ((("email", "STRING"), ("user_id", "STRING")), "identity_column", "user_id"),
        # a TIMESTAMP column, not an INT64 counter before it
        ((("user_id", "STRING"), ("visits", "INT64"), ("ts", "TIMESTAMP")), "timestamp_column", "ts"),
        ((("user_id", "STRING"), ("day", "DATETIME")), "source_time_zone", "Asia/Kolkata"),
    ],
)  # fmt: skip
def test_the_first_guess_of_each_column_and_of_the_source_time_zone(columns, field, guess):
    form = TargetForm(schema=schema(*columns), tz="Asia/Kolkata")

    assert form[field].value() == guess
