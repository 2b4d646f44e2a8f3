"""The runner, in process, against the stand-ins: the real client reads the emulator
through the permission gate and writes PostgreSQL with the bulk writers."""

import pytest

from audience.models import Event, Profile
from imports import runner, services
from imports.models import Import, ImportRun, RejectedRow
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40
    # These cover REST paging (and its faults at the gate); test_runner_storage.py covers
    # the Storage Read API.
    settings.BIGQUERY_STORAGE_ENABLED = False


def run_once(import_obj, user):
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = runner.execute_run(str(run.pk))
    run.refresh_from_db()
    import_obj.refresh_from_db()
    return status, run


def test_a_profiles_import_writes_every_row_page_by_page(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_expected, run.rows_read, run.rows_written, run.rows_rejected) == (
        130,
        130,
        130,
        0,
    )
    assert run.committed_offset == 130
    assert run.read_path == "rest"
    assert run.result_table and run.job_id
    assert Profile.objects.count() == 130
    profile = Profile.objects.get(identity="u3")
    assert profile.properties == {"email": "user3@example.com", "plan": "pro"}
    assert profile.updated_by_run_id == run.pk
    assert import_obj.status == Import.Status.COMPLETED


def test_an_events_import_is_idempotent_when_run_again(google, bq_connection, alice):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 90))
    import_obj = make_import(bq_connection, alice, table=table, target="events")

    first_status, _ = run_once(import_obj, alice)
    second_status, second = run_once(import_obj, alice)

    assert first_status == second_status == ImportRun.Status.SUCCEEDED
    assert Event.objects.count() == 90
    assert (second.rows_read, second.rows_written) == (90, 0)  # a replay changes nothing
    event = Event.objects.get(identity="u7", properties__amount=7)
    assert event.name == "purchase"


def test_incremental_runs_lose_nothing_and_duplicate_nothing(google, bq_connection, alice):
    rows = event_rows(0, 60, day=0)
    table = new_table(google.stack, EVENT_SCHEMA, rows)
    import_obj = make_import(
        bq_connection, alice, table=table, target="events",
        sync_mode="incremental", cursor_column="ts", cursor_type="TIMESTAMP",
    )  # fmt: skip

    _, first = run_once(import_obj, alice)
    assert first.rows_read == 60
    watermark_1 = import_obj.watermark
    assert watermark_1.startswith("2026-01-01T00:00:59")

    # rows arriving late with the boundary value, and new ones
    boundary = dict(rows[-1], user_id="late-user", amount=10_000)
    google.stack.insert_rows(PROJECT, DATASET, table, [boundary, *event_rows(60, 20, day=0)])
    _, second = run_once(import_obj, alice)
    assert second.watermark_from == watermark_1
    assert second.rows_read == 22  # the boundary row re-read, the late row, 20 new
    assert Event.objects.filter(identity="late-user").count() == 1

    google.stack.insert_rows(PROJECT, DATASET, table, event_rows(80, 10, day=1))
    _, third = run_once(import_obj, alice)

    assert third.rows_read == 11
    assert Event.objects.count() == 91  # 60 + 1 late + 20 + 10, each once
    assert import_obj.watermark.startswith("2026-01-02")


def test_rejected_rows_are_counted_and_kept_with_the_reason(google, bq_connection, alice):
    rows = user_rows(0, 10)
    rows[4]["user_id"] = None
    rows[7]["user_id"] = ""
    table = new_table(google.stack, USER_SCHEMA, rows)
    import_obj = make_import(bq_connection, alice, table=table)

    _, run = run_once(import_obj, alice)

    assert (run.rows_written, run.rows_rejected) == (8, 2)
    rejected = list(RejectedRow.objects.filter(run=run).values_list("row_number", "reason"))
    assert [number for number, _ in rejected] == sorted(number for number, _ in rejected)
    assert all("identity" in reason.lower() for _, reason in rejected)


def test_a_permission_error_fails_the_run_with_our_message_and_keeps_a_recurring_import_scheduled(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(
        bq_connection, alice, table=table, schedule_kind="daily",
        schedule_time=__import__("datetime").time(3, 0),
    )  # fmt: skip
    google.stack.revoke(google.key.email, "roles/bigquery.jobUser", project=PROJECT)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert "bigquery.jobs.create is missing" in run.error_message
    assert "Grant" in run.error_message and "BigQuery Job User" in run.error_message
    assert import_obj.status == Import.Status.SCHEDULED
    assert import_obj.next_run_at is not None
    assert "bigquery.jobs.create" in import_obj.last_error


def test_a_key_deleted_since_the_test_is_reported_as_such(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    google.stack.token_server.delete_key(google.key.key_id)

    _, run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.FAILED
    assert run.error_message.startswith("Google rejected the key: it was deleted or replaced")
    assert import_obj.status == Import.Status.FAILED


def test_a_transient_503_and_a_rate_limit_mid_run_are_retried(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    unavailable = google.stack.gate.inject("backend_error", times=2, match="tabledata.list")
    rate_limited = google.stack.gate.inject("rate_limit", times=1, match="tabledata.list")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "rest"
    assert (unavailable.fired, rate_limited.fired) == (2, 1)
    assert Profile.objects.count() == 130


def test_a_stale_duplicate_writes_nothing(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    first = runner.run_claim(run_id=str(run.pk), owner="worker-a")

    # A redelivered copy cannot claim a run whose lease is alive...
    assert runner.run_claim(run_id=str(run.pk), owner="worker-b") is None
    # ...and once the lease is taken over, the first owner's writes are fenced out.
    ImportRun.objects.filter(pk=run.pk).update(lease_owner="worker-b")
    with pytest.raises(runner.LeaseLost):
        runner._renew(first, "worker-a")


def test_stop_between_pages_ends_the_run_as_cancelled(google, bq_connection, alice, monkeypatch):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    pages_written = []
    original = runner._write_page

    def write_and_stop(run, owner, *args):
        original(run, owner, *args)
        pages_written.append(1)
        if len(pages_written) == 1:
            services.import_stop(import_obj=import_obj, actor=alice)

    monkeypatch.setattr(runner, "_write_page", write_and_stop)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.CANCELLED
    assert run.committed_offset == 40  # the first page only, whole
    assert Profile.objects.count() == 40
    assert import_obj.status == Import.Status.STOPPED
