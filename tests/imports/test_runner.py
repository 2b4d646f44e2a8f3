"""The runner, in process, against the stand-ins: the real client reads the emulator
through the permission gate and writes PostgreSQL with the bulk writers."""

import datetime as dt
import gc

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audience.models import Event, Profile
from imports import services
from imports.models import Import, ImportRun, RejectedRow
from imports.run import collector, execute, leases, write
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    USER_SCHEMA,
    event_rows,
    full_collections,
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


def when_first_served(gate, operation: str, action, monkeypatch) -> None:
    """Call `action` once, as the gate answers `operation` for the first time: after the
    request was handled, before its answer leaves the gate."""
    record = gate.record
    fired = []

    def record_then_act(entry):
        record(entry)
        if entry.operation == operation and not fired:
            fired.append(entry)
            action()

    monkeypatch.setattr(gate, "record", record_then_act)


def run_once(import_obj, user):
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = execute.execute_run(str(run.pk))
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
        bq_connection,
        alice,
        table=table,
        target="events",
        sync_mode="incremental",
        cursor_column="ts",
        cursor_type="TIMESTAMP",
    )

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


def test_the_collector_is_paused_while_pages_are_written_and_restored_after(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    collector_on_while_writing = []
    original = write.write_page

    def write_and_look(*args, **kwargs):
        collector_on_while_writing.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(write, "write_page", write_and_look)
    monkeypatch.setattr(collector, "PAGES_BETWEEN_COLLECTIONS", 2)
    gc.enable()
    with full_collections() as collections:
        status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert collector_on_while_writing == [False] * 4
    assert len(collections) == 2  # one every two pages, as set above
    assert gc.isenabled()

    google.stack.gate.inject("billing_not_enabled", times=1, match="tabledata.list")
    status, failed = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert gc.isenabled()


def test_a_run_that_fails_on_its_second_page_keeps_the_watermark_and_the_next_reads_it_all(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 100))
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        sync_mode="incremental",
        cursor_column="ts",
        cursor_type="TIMESTAMP",
    )
    # The service account is disabled once the first page is on its way: the second fails.
    email = google.key.email
    disable = lambda: google.stack.token_server.disable_account(email)  # noqa: E731
    when_first_served(google.stack.gate, "tabledata.list", disable, monkeypatch)

    status, failed = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert failed.error_message.startswith(f"The service account {email} is deleted or disabled")
    assert failed.committed_offset == 40  # the first page was written, the second was not
    assert failed.watermark_to == "2026-01-01T00:00:39+00:00"  # the highest it wrote
    assert import_obj.watermark == ""
    assert import_obj.last_error == failed.error_message

    google.stack.token_server.disable_account(email, disabled=False)
    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.watermark_from == ""
    assert run.rows_read == 100  # the first page again, and the pages never written
    assert Event.objects.count() == 100
    assert import_obj.watermark.startswith("2026-01-01T00:01:39")
    assert (import_obj.status, import_obj.last_error) == (Import.Status.COMPLETED, "")


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


def test_the_first_1000_rejected_rows_are_kept_numbered_from_1_and_all_are_counted(
    google, bq_connection, alice, settings
):
    settings.IMPORT_PAGE_SIZE = 300  # the fourth page holds the 1000th rejected row
    rows = user_rows(0, 1050)
    for row in rows:
        row["user_id"] = None
    table = new_table(google.stack, USER_SCHEMA, rows)
    import_obj = make_import(bq_connection, alice, table=table, rejection_threshold=100)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (1050, 0, 1050)
    numbers = RejectedRow.objects.filter(run=run).values_list("row_number", flat=True)
    assert sorted(numbers) == list(range(1, write.REJECTED_KEPT + 1))


def test_a_permission_error_fails_the_run_with_our_message_and_keeps_a_recurring_import_scheduled(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        schedule_kind="daily",
        schedule_time=__import__("datetime").time(3, 0),
    )
    google.stack.revoke(google.key.email, "roles/bigquery.jobUser", project=PROJECT)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert run.started_at <= run.finished_at
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


def queued_run(import_obj) -> ImportRun:
    """A run queued as Run now queues it, without a message to a broker no worker here reads."""
    return services.run_create(
        import_obj=import_obj,
        scheduled_for=timezone.now(),
        trigger=ImportRun.Trigger.MANUAL,
        enqueue=False,
    )


# Transactional: the other worker takes the run over from the gate's thread, through its own
# database connection, while this one is reading its page.
@pytest.mark.django_db(transaction=True)
def test_a_stale_duplicate_writes_nothing(google, bq_connection, alice, monkeypatch):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = queued_run(import_obj)
    taken_over = []

    def another_worker_takes_over():
        # This worker stalled past its lease, and another one claimed the run meanwhile.
        ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())
        taken_over.append(leases.run_claim(run_id=str(run.pk), owner="worker-b"))
        connection.close()  # the gate thread's own connection

    when_first_served(google.stack.gate, "tabledata.list", another_worker_takes_over, monkeypatch)

    status = execute.execute_run(str(run.pk))

    assert taken_over and taken_over[0] is not None
    assert status == "lease_lost"
    assert Profile.objects.count() == 0  # the page it had read was not written
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == (ImportRun.Status.RUNNING, "worker-b")
    assert (run.committed_offset, run.rows_read, run.rows_written) == (0, 0, 0)
    # ...and while the new owner's lease lives, a redelivered copy cannot claim the run.
    assert leases.run_claim(run_id=str(run.pk), owner="worker-c") is None


@pytest.mark.django_db(transaction=True)
def test_a_run_deleted_with_its_connection_mid_page_stops_and_says_so(
    google, bq_connection, alice, monkeypatch, caplog
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = queued_run(import_obj)

    def an_admin_deletes_the_connection():
        services.connection_delete_with_imports(connection=bq_connection, actor=alice)
        connection.close()  # the gate thread's own connection

    when_first_served(
        google.stack.gate, "tabledata.list", an_admin_deletes_the_connection, monkeypatch
    )

    status = execute.execute_run(str(run.pk))

    assert status == "deleted"
    assert not ImportRun.objects.filter(pk=run.pk).exists()
    assert Profile.objects.count() == 0  # the page it had read was not written
    assert "deleted with its import or connection; stopped without writing more" in caplog.text
    assert "another worker" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_lease_was_taken_during_its_estimate_starts_no_billed_query(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = queued_run(import_obj)

    def another_worker_takes_over():
        ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())
        assert leases.run_claim(run_id=str(run.pk), owner="worker-b") is not None
        connection.close()  # the gate thread's own connection

    # The first job is the dry run that estimates the window's cost.
    when_first_served(google.stack.gate, "jobs.insert", another_worker_takes_over, monkeypatch)

    status = execute.execute_run(str(run.pk))

    assert status == "lease_lost"
    jobs = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert [job.dry_run for job in jobs] == [True]  # the estimate only: nothing billed
    assert not [r for r in google.stack.gate.requests if r.operation == "tabledata.list"]
    run.refresh_from_db()
    assert (run.lease_owner, run.bytes_estimated, run.job_id) == ("worker-b", None, "")
    assert Profile.objects.count() == 0


def test_a_run_taken_over_keeps_its_start_time_and_counts_the_attempt(connection_a, alice):
    import_obj = make_import(connection_a, alice, table="users")
    run = queued_run(import_obj)
    first = leases.run_claim(run_id=str(run.pk), owner="worker-a")
    assert first is not None and first.attempts == 1

    # At the lease's last instant it is still worker-a's.
    with time_machine.travel(first.lease_until, tick=False):
        assert leases.run_claim(run_id=str(run.pk), owner="worker-b") is None

    # worker-a died; ten minutes later its lease has run out and worker-b takes the run.
    with time_machine.travel(first.started_at + dt.timedelta(minutes=10)):
        second = leases.run_claim(run_id=str(run.pk), owner="worker-b")

    assert second is not None
    assert (second.lease_owner, second.attempts, second.started_at) == (
        "worker-b",
        2,
        first.started_at,
    )


def test_a_run_stopped_while_its_worker_was_away_is_not_started_again(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = queued_run(import_obj)
    # A worker claimed the run and died before its first query; Stop came meanwhile.
    assert leases.run_claim(run_id=str(run.pk), owner="worker-a") is not None
    services.import_stop(import_obj=import_obj, actor=alice)
    ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())

    status = execute.execute_run(str(run.pk))

    assert status == ImportRun.Status.CANCELLED
    run.refresh_from_db()
    assert (run.status, run.error_message, run.result_table) == (
        ImportRun.Status.CANCELLED,
        "Stopped.",
        "",
    )
    # The redelivered copy stops before any job: nothing is estimated or billed.
    assert [r for r in google.stack.gate.requests if r.operation == "jobs.insert"] == []
    assert Profile.objects.count() == 0


def test_stop_between_pages_ends_the_run_as_cancelled(google, bq_connection, alice, monkeypatch):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    pages_written = []
    original = write.write_page

    def write_and_stop(run, owner, *args, **kwargs):
        written = original(run, owner, *args, **kwargs)
        pages_written.append(1)
        if len(pages_written) == 1:
            services.import_stop(import_obj=import_obj, actor=alice)
        return written

    monkeypatch.setattr(write, "write_page", write_and_stop)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.CANCELLED
    assert run.started_at <= run.finished_at
    assert run.committed_offset == 40  # the first page only, whole
    assert Profile.objects.count() == 40
    assert import_obj.status == Import.Status.STOPPED
    assert import_obj.last_error == ""  # a Stop is the admin's choice, not an error to show


@pytest.mark.django_db(transaction=True)
def test_a_worker_back_from_a_database_error_stops_if_its_run_was_taken_meanwhile(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 10))
    import_obj = make_import(bq_connection, alice, table=table)
    run = queued_run(import_obj)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (worker_backend,) = cursor.fetchone()

    def connection_dropped_and_run_taken_over():
        ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())
        assert leases.run_claim(run_id=str(run.pk), owner="worker-b") is not None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [worker_backend])
        connection.close()  # the gate thread's own connection

    when_first_served(
        google.stack.gate, "tabledata.list", connection_dropped_and_run_taken_over, monkeypatch
    )

    assert execute.execute_run(str(run.pk)) == "lease_lost"

    # It reconnected, found the run another worker's, and read no page again.
    assert len([r for r in google.stack.gate.requests if r.operation == "tabledata.list"]) == 1
    assert Profile.objects.count() == 0
    run.refresh_from_db()
    assert (run.lease_owner, run.committed_offset) == ("worker-b", 0)
