"""Incremental imports that cannot silently skip rows, through the real runner against the
stand-in: the lookback window re-reads late rows, and a future-dated cursor is rejected
instead of becoming the watermark."""

import datetime as dt

import pytest
from django.utils import timezone

from audience.models import Event, Profile
from imports.models import Import, ImportRun, RejectedRow
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    START,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)
from tests.imports.test_runner import run_once

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40
    settings.BIGQUERY_STORAGE_ENABLED = False


def incremental(connection, user, table, target, **fields):
    cursor = "ts" if target == "events" else "updated_at"
    return make_import(
        connection, user, table=table, target=target, sync_mode="incremental",
        cursor_column=cursor, cursor_type="TIMESTAMP", **fields,
    )  # fmt: skip


def late_row(target: str, at: dt.datetime) -> dict:
    if target == "events":
        return {"user_id": "late", "event": "purchase", "ts": at.isoformat(), "amount": -1}
    return {"user_id": "late", "email": "late@example.com", "plan": "pro",
            "updated_at": at.isoformat()}  # fmt: skip


def stored(target: str):
    return Event.objects if target == "events" else Profile.objects


def source_rows(target: str) -> tuple[list, list[dict]]:
    """30 rows on 2026-01-04 (3 days after START)."""
    if target == "events":
        return EVENT_SCHEMA, event_rows(0, 30, day=3)
    return USER_SCHEMA, user_rows(0, 30, updated_at=START + 3 * DAY)


@pytest.mark.parametrize("target", ["events", "profiles"])
def test_a_row_a_day_behind_the_watermark_is_read_by_a_three_day_lookback(
    google, bq_connection, alice, target
):
    schema, rows = source_rows(target)
    table = new_table(google.stack, schema, rows)
    import_obj = incremental(
        bq_connection, alice, table, target, lookback_seconds=Import.Lookback.THREE_DAYS
    )
    _, first = run_once(import_obj, alice)
    assert first.rows_read == 30
    watermark = dt.datetime.fromisoformat(import_obj.watermark)
    assert watermark.date() == dt.date(2026, 1, 4)

    google.stack.insert_rows(PROJECT, DATASET, table, [late_row(target, watermark - DAY)])
    status, second = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, second.error_message
    assert second.watermark_from == (watermark - 3 * DAY).isoformat()
    assert second.rows_read == 31  # every row of the last three days again, and the late one
    assert second.rows_written == 1  # only the late row is new
    assert stored(target).count() == 31
    assert stored(target).filter(identity="late").count() == 1
    assert import_obj.watermark == watermark.isoformat()  # the late row is earlier


@pytest.mark.parametrize("target", ["events", "profiles"])
def test_without_a_lookback_a_row_a_day_behind_the_watermark_is_never_read(
    google, bq_connection, alice, target
):
    schema, rows = source_rows(target)
    table = new_table(google.stack, schema, rows)
    import_obj = incremental(bq_connection, alice, table, target)
    run_once(import_obj, alice)
    watermark = dt.datetime.fromisoformat(import_obj.watermark)

    google.stack.insert_rows(PROJECT, DATASET, table, [late_row(target, watermark - DAY)])
    _, second = run_once(import_obj, alice)

    assert second.watermark_from == import_obj.watermark
    assert second.rows_read == 1  # the boundary row only
    assert not stored(target).filter(identity="late").exists()


def test_the_watermark_never_moves_back_when_the_rows_at_it_are_gone(google, bq_connection, alice):
    schema, rows = source_rows("profiles")
    table = new_table(google.stack, schema, rows)
    import_obj = incremental(
        bq_connection, alice, table, "profiles", lookback_seconds=Import.Lookback.THREE_DAYS
    )
    run_once(import_obj, alice)
    watermark = import_obj.watermark
    # The source loses its latest rows; a row a day behind the watermark arrives late.
    google.stack.run_sql(
        PROJECT,
        f"DELETE FROM `{PROJECT}.{DATASET}.{table}` WHERE user_id != 'u0'",  # noqa: S608
    )
    late = dt.datetime.fromisoformat(watermark) - DAY
    google.stack.insert_rows(PROJECT, DATASET, table, [late_row("profiles", late)])

    status, second = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, second.error_message
    assert second.rows_read == 2  # u0, below the watermark, and the late row
    assert Profile.objects.filter(identity="late").exists()
    assert import_obj.watermark == watermark  # the highest imported so far, not the run's


def test_rows_without_a_cursor_are_never_read_not_even_by_the_first_run(
    google, bq_connection, alice
):
    rows = user_rows(0, 10)
    for row in rows[:3]:
        row["updated_at"] = None
    table = new_table(google.stack, USER_SCHEMA, rows)
    import_obj = incremental(bq_connection, alice, table, "profiles")

    status, first = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, first.error_message
    assert (first.rows_expected, first.rows_read, first.rows_rejected) == (7, 7, 0)
    assert sorted(Profile.objects.values_list("identity", flat=True)) == sorted(
        f"u{i}" for i in range(3, 10)
    )
    # The next run reads from the watermark on, which no row without a cursor reaches.
    _, second = run_once(import_obj, alice)
    assert second.rows_read == 1  # the boundary row
    assert Profile.objects.count() == 7


@pytest.mark.parametrize("target", ["events", "profiles"])
def test_a_future_cursor_is_rejected_and_does_not_move_the_watermark(
    google, bq_connection, alice, target
):
    schema, rows = source_rows(target)
    future = timezone.now().astimezone(dt.UTC).replace(microsecond=0) + 2 * DAY
    soon = timezone.now().astimezone(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=30)
    table = new_table(google.stack, schema, rows)
    google.stack.insert_rows(PROJECT, DATASET, table, [late_row(target, future)])
    import_obj = incremental(bq_connection, alice, table, target)

    status, first = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, first.error_message
    assert (first.rows_read, first.rows_rejected) == (31, 1)
    rejected = RejectedRow.objects.get(run=first)
    assert future.isoformat() in rejected.reason
    assert "more than 1 hour after the run started" in rejected.reason
    cursor = "ts" if target == "events" else "updated_at"
    assert rejected.data[cursor] == future.isoformat()
    assert not stored(target).filter(identity="late").exists()
    watermark = dt.datetime.fromisoformat(import_obj.watermark)
    assert watermark.date() == dt.date(2026, 1, 4)  # the highest accepted cursor

    # Rows later than the watermark but not in the future are still read, and a cursor
    # within the hour's tolerance is accepted; the future row is refused again.
    newer = late_row(target, watermark + DAY) | {"user_id": "newer"}
    in_an_hour = late_row(target, soon) | {"user_id": "soon"}
    google.stack.insert_rows(PROJECT, DATASET, table, [newer, in_an_hour])
    _, second = run_once(import_obj, alice)

    assert (second.rows_read, second.rows_rejected) == (4, 1)  # boundary, 2 new, future
    assert stored(target).filter(identity__in=["newer", "soon"]).count() == 2
    assert import_obj.watermark == soon.isoformat()


def test_a_last_page_of_future_rows_only_keeps_the_watermark_of_the_pages_before(
    google, bq_connection, alice, settings
):
    """A page without one cursor value the run accepts has no highest value of its own:
    the highest of the pages before it stands."""
    settings.IMPORT_PAGE_SIZE = 10
    schema, rows = source_rows("events")
    future = timezone.now().astimezone(dt.UTC).replace(microsecond=0) + 2 * DAY
    late = [late_row("events", future + i * DAY) | {"amount": -i} for i in range(1, 11)]
    table = new_table(google.stack, schema, [*rows, *late])
    import_obj = incremental(bq_connection, alice, table, "events")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert (run.rows_read, run.rows_rejected) == (40, 10)
    highest = max(dt.datetime.fromisoformat(row["ts"]) for row in rows)
    assert run.watermark_to == import_obj.watermark == highest.isoformat()


def test_a_future_cursor_is_rejected_over_the_storage_read_api_too(
    google, bq_connection, alice, settings
):
    settings.BIGQUERY_STORAGE_ENABLED = True
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    schema, rows = source_rows("events")
    future = timezone.now().astimezone(dt.UTC).replace(microsecond=0) + 2 * DAY
    table = new_table(google.stack, schema, [*rows, late_row("events", future)])
    import_obj = incremental(bq_connection, alice, table, "events")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert run.read_path == "storage"
    assert (run.rows_read, run.rows_rejected) == (31, 1)
    assert future.isoformat() in RejectedRow.objects.get(run=run).reason
    assert dt.datetime.fromisoformat(import_obj.watermark).date() == dt.date(2026, 1, 4)


def test_the_future_limit_and_the_lookback_follow_the_cursor_type():
    from imports.run.window import future_limit, lower_bound

    now = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
    import_obj = Import(cursor_type="TIMESTAMP", lookback_seconds=Import.Lookback.SIX_HOURS)
    assert future_limit(import_obj, now) == dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)
    assert lower_bound(import_obj, "2026-06-30T12:00:00+00:00") == dt.datetime(
        2026, 6, 30, 6, tzinfo=dt.UTC
    )
    # wall-clock cursors are compared in the source's zone (Berlin: UTC+2 in summer)
    import_obj = Import(cursor_type="DATETIME", source_time_zone="Europe/Berlin")
    assert future_limit(import_obj, now) == dt.datetime(2026, 7, 1, 1, 30)  # noqa: DTZ001
    import_obj = Import(cursor_type="DATE", lookback_seconds=Import.Lookback.SIX_HOURS)
    assert future_limit(import_obj, now) == dt.date(2026, 6, 30)
    assert lower_bound(import_obj, "2026-06-30") == dt.date(2026, 6, 29)  # a whole day
    import_obj = Import(cursor_type="INT64", lookback_seconds=Import.Lookback.DAY)
    assert future_limit(import_obj, now) is None
    assert lower_bound(import_obj, "41") == 41
