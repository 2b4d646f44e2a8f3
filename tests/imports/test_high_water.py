"""The window's upper bound taken from the rows as they are read (imports.run.high_water):
the highest cursor value no later than the run's limit, as `SELECT MAX(cursor) ... WHERE
cursor <= limit` over the result table gave it, kept with each committed page."""

import datetime as dt

import pytest
from django.utils import timezone

from imports.models import Import, ImportRun
from imports.run import execute, high_water, write
from imports.type_contract import Field
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table
from tests.imports.test_runner import run_once

UTC = dt.UTC


def wall(*fields: int) -> dt.datetime:
    """A DATETIME: a wall-clock time, without a zone."""
    return dt.datetime(*fields)  # noqa: DTZ001


# The same three cursor values as REST's JSON and as the Storage Read API's Arrow gives
# them, and a limit between the second and the third.
CURSORS = {
    "TIMESTAMP": (
        ["1767225600000000", "1767225600500000", "1767312000000000"],
        [
            dt.datetime(2026, 1, 1, tzinfo=UTC),
            dt.datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
            dt.datetime(2026, 1, 2, tzinfo=UTC),
        ],
        "2026-01-01T12:00:00+00:00",
        "2026-01-01T00:00:00.500000+00:00",
    ),
    "DATETIME": (
        ["2026-01-01T00:00:00", "2026-01-01T09:30:00", "2026-01-03T00:00:00"],
        [wall(2026, 1, 1), wall(2026, 1, 1, 9, 30), wall(2026, 1, 3)],
        "2026-01-02T00:00:00",
        "2026-01-01T09:30:00",
    ),
    "DATE": (
        ["2026-01-01", "2026-01-02", "2026-01-09"],
        [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 9)],
        "2026-01-03",
        "2026-01-02",
    ),
}


def incremental_run(cursor_type: str, limit: str) -> ImportRun:
    import_obj = Import(
        sync_mode=Import.SyncMode.INCREMENTAL, cursor_column="c", cursor_type=cursor_type
    )
    return ImportRun(import_obj=import_obj, watermark_limit=limit)


@pytest.mark.parametrize("cursor_type", sorted(CURSORS))
def test_a_page_gives_the_same_highest_cursor_under_its_limit_whatever_the_read_path(
    cursor_type,
):
    rest, arrow, limit, expected = CURSORS[cursor_type]
    run = incremental_run(cursor_type, limit)
    columns = (Field(name="c", type=cursor_type),)
    for wire, cells in (("rest", rest), ("arrow", arrow)):
        rows = [{"c": cell} for cell in reversed(cells)] + [{"c": None}]
        high = high_water.page_high(run, columns, wire)
        assert high is not None
        assert high_water.higher("", high(rows), cursor_type) == expected, wire


@pytest.mark.parametrize("cursor_type", sorted(CURSORS))
def test_a_cursor_exactly_at_the_limit_is_the_highest_of_its_page(cursor_type):
    rest, arrow, _, at_the_limit = CURSORS[cursor_type]
    run = incremental_run(cursor_type, at_the_limit)  # the second value is the limit itself
    columns = (Field(name="c", type=cursor_type),)
    for wire, cells in (("rest", rest), ("arrow", arrow)):
        high = high_water.page_high(run, columns, wire)
        assert high is not None
        assert high_water.higher("", high([{"c": cell} for cell in cells]), cursor_type) == (
            at_the_limit
        ), wire


def test_an_int64_cursor_has_no_limit_and_compares_as_a_number():
    run = incremental_run("INT64", "")
    high = high_water.page_high(run, (Field(name="c", type="INT64"),), "rest")
    assert high is not None
    assert high([{"c": "9"}, {"c": "10"}, {"c": "-3"}, {"c": "not a number"}]) == 10
    assert high_water.higher("9", 10, "INT64") == "10"
    assert high_water.higher("10", 9, "INT64") == "10"
    assert high_water.highest(["9", "", "10"], "INT64") == "10"
    # The highest wherever it is among the parts' (the part that ends the run takes it).
    assert high_water.highest(["10", "9", ""], "INT64") == "10"
    assert high_water.highest(["", ""], "INT64") == ""
    # Zero is a cursor value like any other (the Storage Read API gives it as an int).
    arrow = high_water.page_high(run, (Field(name="c", type="INT64"),), "arrow")
    assert arrow is not None
    assert arrow([{"c": -5}, {"c": 0}, {"c": None}]) == 0
    assert high_water.higher("", 0, "INT64") == "0"


def test_the_highest_of_several_times_is_taken_wherever_it_is():
    texts = [
        "2026-01-01T00:00:00+00:00",
        "2026-01-03T00:00:00+00:00",
        "",
        "2026-01-02T00:00:00+00:00",
    ]
    assert high_water.highest(texts, "TIMESTAMP") == "2026-01-03T00:00:00+00:00"
    assert high_water.highest(["2026-01-09", "2026-01-10", "2026-01-02"], "DATE") == "2026-01-10"


def test_a_full_run_has_no_upper_bound_to_take():
    run = ImportRun(import_obj=Import(sync_mode=Import.SyncMode.FULL))
    assert high_water.page_high(run, (), "arrow") is None


@pytest.fixture
def int64_cursor_events(google, bq_connection, alice, settings):
    """120 events whose INT64 cursor falls from 119 to 0 in table order: the first page of
    40 holds the highest value, and "99" is the highest as text."""
    settings.IMPORT_PAGE_SIZE = 40
    settings.BIGQUERY_STORAGE_ENABLED = False
    table = new_table(google.stack, EVENT_SCHEMA, list(reversed(event_rows(0, 120))))
    return make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        sync_mode="incremental",
        cursor_column="amount",
        cursor_type="INT64",
    )


def test_the_watermark_is_the_highest_cursor_read_not_the_last_page(int64_cursor_events, alice):
    status, run = run_once(int64_cursor_events, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.rows_read == 120
    assert run.watermark_to == int64_cursor_events.watermark == "119"

    status, again = run_once(int64_cursor_events, alice)

    assert (status, again.rows_read) == (ImportRun.Status.SUCCEEDED, 1)  # the boundary row
    assert int64_cursor_events.watermark == "119"


def test_a_resumed_run_keeps_the_highest_cursor_of_the_pages_before(
    int64_cursor_events, alice, monkeypatch
):
    """The worker dies once the first page is committed; another takes the run over from
    its committed row and must not lose that page's value (119), higher than its own."""

    class WorkerDied(BaseException):
        pass

    def die(*args):
        raise WorkerDied

    from imports import services

    run = services.import_run_now(import_obj=int64_cursor_events, actor=alice)
    monkeypatch.setattr(write, "let_other_writers_in", die)
    with pytest.raises(WorkerDied):
        execute.execute_run(str(run.pk))
    monkeypatch.undo()
    run.refresh_from_db()
    assert (run.status, run.committed_offset, run.watermark_to) == ("running", 40, "119")

    ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())  # it ran out
    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED

    run.refresh_from_db()
    int64_cursor_events.refresh_from_db()
    assert (run.attempts, run.rows_read) == (2, 120)
    assert int64_cursor_events.watermark == "119"
