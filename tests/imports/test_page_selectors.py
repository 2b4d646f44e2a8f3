"""What the import pages read: a run's progress numbers, when a page polls, which buttons."""

import datetime as dt

import pytest

from imports import selectors
from imports.models import Import, ImportRun, RejectedRow

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def run_of(**fields) -> ImportRun:
    values = {"status": "running", "committed_offset": 0, "rows_read": 0}
    values.update(fields)
    return ImportRun(**values)


def test_progress_counts_rows_read_per_second_and_time_left_from_the_offset():
    run = run_of(
        started_at=NOW - dt.timedelta(seconds=100),
        committed_offset=200,
        rows_read=400,
        rows_expected=1000,
    )

    progress = selectors.run_progress(run=run, now=NOW)

    assert (progress.done, progress.expected, progress.percent) == (200, 1000, 20)
    assert progress.rows_per_second == 4.0  # rows read, not rows committed
    assert progress.seconds_left == 400.0  # 800 rows left at 2 committed rows a second
    assert progress.elapsed == dt.timedelta(seconds=100)


def test_a_finished_run_is_timed_to_its_end_and_has_no_time_left():
    run = run_of(
        status="failed",
        started_at=NOW - dt.timedelta(hours=1),
        finished_at=NOW - dt.timedelta(minutes=50),
        committed_offset=100,
        rows_read=100,
        rows_expected=1000,
    )

    progress = selectors.run_progress(run=run, now=NOW)

    assert progress.elapsed == dt.timedelta(minutes=10)
    assert progress.seconds_left is None
    assert progress.percent == 10


def test_a_succeeded_run_is_at_100_percent_whatever_it_expected():
    run = run_of(
        status="succeeded",
        started_at=NOW - dt.timedelta(minutes=1),
        finished_at=NOW,
        committed_offset=90,
        rows_read=90,
        rows_expected=100,
    )

    assert selectors.run_progress(run=run, now=NOW).percent == 100


def test_more_rows_than_expected_stay_at_100_percent_with_nothing_left():
    """The row count is taken when the run starts; rows added since make it run past it."""
    run = run_of(
        started_at=NOW - dt.timedelta(seconds=10),
        committed_offset=150,
        rows_read=150,
        rows_expected=100,
    )

    progress = selectors.run_progress(run=run, now=NOW)

    assert progress.percent == 100
    assert progress.seconds_left == 0


def test_no_rate_in_the_first_second():
    run = run_of(
        started_at=NOW - dt.timedelta(milliseconds=500),
        committed_offset=10,
        rows_read=10,
        rows_expected=100,
    )

    progress = selectors.run_progress(run=run, now=NOW)

    assert progress.rows_per_second is None
    assert progress.seconds_left is None


def scheduled(**fields) -> Import:
    values = {"status": "scheduled", "next_run_at": NOW}
    values.update(fields)
    return Import(**values)


@pytest.mark.parametrize(
    ("due_in", "live"),
    [
        (dt.timedelta(minutes=2), True),
        (dt.timedelta(minutes=2, seconds=1), False),
        (dt.timedelta(minutes=-5), True),  # waiting for the dispatcher's next tick
        (dt.timedelta(minutes=-5, seconds=-1), False),
    ],
)
def test_a_scheduled_import_is_followed_from_two_minutes_before_to_five_after(due_in, live):
    import_obj = scheduled(next_run_at=NOW + due_in)

    assert selectors.import_is_live(import_obj=import_obj, active_run=None, now=NOW) is live


def test_a_paused_import_due_now_is_not_followed():
    import_obj = scheduled(status="paused")

    assert selectors.import_is_live(import_obj=import_obj, active_run=None, now=NOW) is False


@pytest.mark.django_db
def test_a_stopped_import_offers_resume_schedule_only_while_its_schedule_has_runs_to_come(
    workspace_a, connection_a
):
    import_obj = Import.objects.create(
        workspace=workspace_a,
        connection=connection_a,
        name="Once",
        status="stopped",
        schedule_kind="once",
        schedule_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    assert "resume-schedule" not in selectors.import_allowed_actions(
        import_obj=import_obj, active_run=None
    )

    import_obj.schedule_kind = "daily"
    import_obj.schedule_time = dt.time(3, 0)
    allowed = selectors.import_allowed_actions(import_obj=import_obj, active_run=None)
    assert allowed == {"delete", "run-now", "edit", "resume-schedule"}


@pytest.mark.django_db
def test_a_run_started_by_hand_on_a_ready_import_can_be_stopped_but_not_run_again(
    workspace_a, connection_a
):
    import_obj = Import.objects.create(
        workspace=workspace_a, connection=connection_a, name="Ready", status="ready"
    )
    run = ImportRun.objects.create(
        import_obj=import_obj,
        workspace=workspace_a,
        scheduled_for=NOW,
        status="queued",
    )

    allowed = selectors.import_allowed_actions(import_obj=import_obj, active_run=run)

    assert allowed == {"delete", "stop"}


@pytest.mark.django_db
def test_only_an_incremental_import_offers_reimport(workspace_a, connection_a):
    full = Import(workspace=workspace_a, connection=connection_a, status="ready")
    incremental = Import(
        workspace=workspace_a, connection=connection_a, status="ready", sync_mode="incremental"
    )

    assert "reimport" not in selectors.import_allowed_actions(import_obj=full, active_run=None)
    assert "reimport" in selectors.import_allowed_actions(import_obj=incremental, active_run=None)


def test_progress_percent_is_rounded_down_so_100_means_every_row_is_done():
    def percent(done):
        run = run_of(started_at=NOW - dt.timedelta(seconds=10), committed_offset=done)
        run.rows_expected = 1000
        return selectors.run_progress(run=run, now=NOW).percent

    assert (percent(199), percent(995), percent(999), percent(1000)) == (19, 99, 99, 100)


def test_a_running_import_on_a_schedule_offers_pause_and_a_one_off_run_does_not():
    running = run_of(started_at=NOW)
    on_schedule = scheduled(status="running", next_run_at=NOW + dt.timedelta(hours=1))
    one_off = scheduled(status="running", next_run_at=None)

    on_schedule_actions = selectors.import_allowed_actions(
        import_obj=on_schedule, active_run=running
    )
    one_off_actions = selectors.import_allowed_actions(import_obj=one_off, active_run=running)

    assert on_schedule_actions == {"delete", "pause", "stop"}
    assert one_off_actions == {"delete", "stop"}


def test_a_paused_import_offers_stop_even_with_no_run_to_come():
    paused = scheduled(status="paused", next_run_at=None)

    allowed = selectors.import_allowed_actions(import_obj=paused, active_run=None)

    assert allowed == {"delete", "run-now", "edit", "resume", "stop"}


def test_an_import_marked_running_offers_neither_run_now_nor_edit_before_its_run_is_seen():
    """The import's status and its run are read one after the other: either says running."""
    marked = scheduled(status="running", next_run_at=None)

    allowed = selectors.import_allowed_actions(import_obj=marked, active_run=None)

    assert allowed == {"delete", "stop"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schedule",
    [
        {"schedule_kind": "now"},  # its one run is over: nothing is to come
        {"schedule_kind": "daily", "schedule_time": None},  # a stored schedule left incomplete
        {"schedule_kind": "cron", "schedule_cron": "61 * * * *"},
    ],
)
def test_a_stopped_import_with_no_valid_run_to_come_offers_no_resume_schedule(
    workspace_a, connection_a, schedule
):
    import_obj = Import(
        workspace=workspace_a, connection=connection_a, status="stopped", **schedule
    )

    assert not selectors.import_has_schedule_to_resume(import_obj=import_obj, now=NOW)
    allowed = selectors.import_allowed_actions(import_obj=import_obj, active_run=None)
    assert allowed == {"delete", "run-now", "edit"}


def test_a_run_expecting_no_rows_shows_no_percent_until_it_succeeds():
    """An empty source: the row count taken at the start is 0."""
    running = run_of(started_at=NOW - dt.timedelta(seconds=10), rows_expected=0)
    succeeded = run_of(status="succeeded", started_at=NOW, finished_at=NOW, rows_expected=0)

    progress = selectors.run_progress(run=running, now=NOW)

    assert (progress.percent, progress.seconds_left) == (None, None)
    assert selectors.run_progress(run=succeeded, now=NOW).percent == 100


def test_a_run_is_timed_from_its_first_whole_second():
    run = run_of(started_at=NOW - dt.timedelta(seconds=1), committed_offset=5, rows_read=7)
    run.rows_expected = 10

    progress = selectors.run_progress(run=run, now=NOW)

    assert (progress.rows_per_second, progress.seconds_left) == (7.0, 1.0)


def test_a_run_that_succeeded_with_rejections_is_at_100_percent_too():
    run = run_of(
        status="succeeded_with_rejections",
        started_at=NOW - dt.timedelta(minutes=1),
        finished_at=NOW,
        committed_offset=90,
        rows_expected=100,
    )

    assert selectors.run_progress(run=run, now=NOW).percent == 100


@pytest.mark.parametrize(
    ("status", "active"),
    [("queued", True), ("running", True), ("succeeded", False), ("failed", False)],
)
def test_a_queued_or_running_run_is_in_progress(status, active):
    assert selectors.run_progress(run=run_of(status=status), now=NOW).active is active


@pytest.mark.parametrize(
    ("row_number", "part", "row_in_part"),
    [
        (1, 1, 1),
        (RejectedRow.PART_ROW_SPAN, 1, RejectedRow.PART_ROW_SPAN),
        (RejectedRow.PART_ROW_SPAN + 1, 2, 1),
        (2 * RejectedRow.PART_ROW_SPAN + 7, 3, 7),
    ],
)
def test_a_rejected_rows_number_says_its_part_and_its_row_in_the_parts_stream(
    row_number, part, row_in_part
):
    row = RejectedRow(row_number=row_number)

    assert (row.part, row.row_in_part) == (part, row_in_part)


@pytest.mark.parametrize(
    ("time_type", "unit", "needed"),
    [
        ("INT64", "", True),
        ("INTEGER", "", True),
        ("INT64", "seconds", False),
        ("TIMESTAMP", "", False),
    ],
)
def test_only_an_int64_event_time_without_a_unit_asks_for_one(time_type, unit, needed):
    import_obj = Import(
        target="events",
        timestamp_column="ts",
        source_schema=[{"name": "ts", "type": time_type, "mode": "NULLABLE"}],
        timestamp_unit=unit,
    )

    assert import_obj.needs_timestamp_unit is needed
