"""Event time through the real runner: a DATETIME or DATE column is read in the import's
source time zone, an INT64 column in its chosen unit (never guessed by size), and a time
that cannot be stored is rejected with its reason, on both read paths alike."""

import datetime as dt

import pytest

from audience.models import Event
from imports import services
from imports.models import Import, ImportRun
from imports.run.execute import execute_run
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import make_import, new_table

SCHEMA = [
    ("user_id", "STRING"),
    ("event", "STRING"),
    ("local_time", "DATETIME"),
    ("day", "DATE"),
    ("epoch", "INT64"),
]
ROWS = [
    {"user_id": "summer", "event": "visit", "local_time": "2024-06-01 09:00:00",
     "day": "2024-06-01", "epoch": 1717225200123},
    {"user_id": "winter", "event": "visit", "local_time": "2024-01-15 09:00:00.250000",
     "day": "2024-01-15", "epoch": 0},
    # 02:30 on 31 March 2024 does not exist in Berlin: the clocks jump from 02:00 to 03:00.
    {"user_id": "gap", "event": "visit", "local_time": "2024-03-31 02:30:00",
     "day": "2024-03-31", "epoch": 253402300800000},  # milliseconds: after 9999-12-31
]  # fmt: skip
UTC = dt.UTC


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 2


@pytest.fixture(params=["storage", "rest"])
def read_path(request, google):
    if request.param == "storage":
        google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    return request.param


def run_once(import_obj, user) -> ImportRun:
    run = services.import_run_now(import_obj=import_obj, actor=user)
    execute_run(str(run.pk))
    run.refresh_from_db()
    return run


def times(column_mapping=None) -> dict[str, dt.datetime]:
    return dict(Event.objects.values_list("identity", "timestamp"))


def events_import(connection, user, table, **fields):
    return make_import(
        connection,
        user,
        table=table,
        target="events",
        event_name_column="event",
        column_mapping=[],
        **fields,
    )


def test_a_datetime_event_time_is_read_in_the_source_time_zone(
    google, bq_connection, alice, read_path
):
    table = new_table(google.stack, SCHEMA, ROWS)
    import_obj = events_import(
        bq_connection,
        alice,
        table,
        timestamp_column="local_time",
        source_time_zone="Europe/Berlin",
    )

    run = run_once(import_obj, alice)

    # the time the clocks skip is rejected (1 of 3, within the 50 % threshold)
    assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert run.read_path == read_path
    assert times() == {
        "summer": dt.datetime(2024, 6, 1, 7, tzinfo=UTC),  # 09:00 in Berlin, summer time
        "winter": dt.datetime(2024, 1, 15, 8, 0, 0, 250000, tzinfo=UTC),
    }
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (3, 2, 1)
    [rejected] = run.rejected_rows.all()
    assert rejected.row_number in (1, 2, 3)
    assert rejected.reason == (
        "Timestamp in column local_time, 2024-03-31 02:30:00, does not exist in Europe/Berlin "
        "(the clocks skip it)"
    )
    assert rejected.data["user_id"] == "gap"
    assert rejected.data["local_time"] == "2024-03-31T02:30:00"


def test_a_date_event_time_is_midnight_in_the_source_time_zone(
    google, bq_connection, alice, read_path
):
    table = new_table(google.stack, SCHEMA, ROWS)
    import_obj = events_import(
        bq_connection, alice, table, timestamp_column="day", source_time_zone="America/New_York"
    )

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert times() == {
        "summer": dt.datetime(2024, 6, 1, 4, tzinfo=UTC),
        "winter": dt.datetime(2024, 1, 15, 5, tzinfo=UTC),
        "gap": dt.datetime(2024, 3, 31, 4, tzinfo=UTC),
    }


def test_an_int64_event_time_counts_the_chosen_unit_and_rejects_what_is_out_of_range(
    google, bq_connection, alice, read_path
):
    table = new_table(google.stack, SCHEMA, ROWS)
    import_obj = events_import(
        bq_connection, alice, table, timestamp_column="epoch", timestamp_unit="milliseconds"
    )

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert times() == {
        "summer": dt.datetime(2024, 6, 1, 7, 0, 0, 123000, tzinfo=UTC),
        "winter": dt.datetime(1970, 1, 1, tzinfo=UTC),
    }
    [rejected] = run.rejected_rows.all()
    assert rejected.reason == (
        "Timestamp in column epoch, 253402300800000 milliseconds since 1970-01-01, is outside "
        "the years 1 to 9999"
    )


def test_the_same_rows_in_seconds_are_not_guessed_as_milliseconds(google, bq_connection, alice):
    table = new_table(google.stack, SCHEMA, ROWS[:1])
    import_obj = events_import(
        bq_connection, alice, table, timestamp_column="epoch", timestamp_unit="seconds"
    )

    run = run_once(import_obj, alice)

    # 1717225200123 seconds is after the year 9999: rejected, not read as milliseconds.
    assert (run.rows_written, run.rows_rejected) == (0, 1)
    assert "1717225200123 seconds since 1970-01-01, is outside" in run.rejected_rows.get().reason


def test_an_int64_event_time_without_a_unit_fails_the_run_saying_what_to_choose(
    google, bq_connection, alice
):
    table = new_table(google.stack, SCHEMA, ROWS)
    # An import from before units were asked for (the migration leaves the unit empty).
    import_obj = events_import(bq_connection, alice, table, timestamp_column="epoch")
    Import.objects.filter(pk=import_obj.pk).update(
        source_schema=[{"name": n, "type": t, "mode": "NULLABLE"} for n, t in SCHEMA]
    )
    import_obj.refresh_from_db()
    assert import_obj.needs_timestamp_unit

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.FAILED
    assert run.error_message == (
        "The import's mapping cannot work: The timestamp column epoch is INT64: choose whether "
        "it counts seconds, milliseconds or microseconds since 1970-01-01 (Edit the import)."
    )
    assert not Event.objects.exists()
