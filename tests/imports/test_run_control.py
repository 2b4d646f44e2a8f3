"""Run now, Stop, Pause and delete while a real worker writes pages, pressed through the views.

Marked `runcontrol`: bin/test runs them on PostgreSQL and Redis, then again on a SQLite file
and the filesystem broker (the one-command set-up), where the web process, the worker and the
heartbeat share one database file.
"""

import datetime as dt
import functools
import time

import pytest
import time_machine
from django.db import close_old_connections
from django.utils import timezone

from audience.models import Event
from connections.models import Connection
from imports import services, tasks
from imports.models import Import, ImportRun, WorkerHeartbeat
from tests.conftest import client_for
from tests.fixtures import waiting
from tests.fixtures.connections import make_connection
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = [pytest.mark.slow, pytest.mark.runcontrol, pytest.mark.django_db(transaction=True)]

PAGE = 500
PAGES = 40
STRESS_ROUNDS = 50

BIGQUERY = "/w/acme/settings/partners/bigquery/"


@pytest.fixture
def worker_env(google_worker_env):
    # Small pages, so that a press lands while a page is being written; a lease that cannot
    # run out on a loaded machine.
    return {**google_worker_env, "IMPORT_PAGE_SIZE": str(PAGE), "IMPORT_LEASE_SECONDS": "120"}


@pytest.fixture
def fast_reads(google):
    """The Storage Read API reads pages faster than they are written, so the worker is
    almost always inside a page's transaction: the moment a Stop used to deadlock with."""
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=google.project)
    return google


# Runs on the embedded set-up (SQLite, filesystem broker) take longer to get going.
wait_for = functools.partial(waiting.wait_for, timeout=120.0)


def run_state(run_pk, worker_log=None):
    """What the run looked like when a wait gave up: says whether it never started (a lost
    message, or a worker still busy with an earlier run), ended early (and why) or stalled."""

    def describe() -> str:
        close_old_connections()
        run = ImportRun.objects.filter(pk=run_pk).values(
            "status", "committed_offset", "error_message", "read_path", "enqueued_at", "started_at"
        )
        tail = ""
        if worker_log is not None and worker_log.exists():
            tail = "\nworker log, last lines:\n" + "\n".join(
                worker_log.read_text(errors="replace").splitlines()[-40:]
            )
        return f": run {run_pk} is {run.first()}{tail}"

    return describe


def offset_of(run_pk) -> int | None:
    return ImportRun.objects.filter(pk=run_pk).values_list("committed_offset", flat=True).first()


def wait_mid_run(run_pk, worker_log=None) -> int:
    """Wait until a page has committed and the next one is under way; returns the offset.

    Right after an offset moves the worker is writing the next page (already read ahead),
    so polling tightly and pressing at once lands inside a page's transaction.
    """
    about = run_state(run_pk, worker_log)
    first = wait_for(lambda: offset_of(run_pk), interval=0.01, about=about)
    return wait_for(
        lambda: (offset_of(run_pk) or 0) > first and offset_of(run_pk), interval=0.005, about=about
    )


def ended(run_pk) -> ImportRun | None:
    run = ImportRun.objects.get(pk=run_pk)
    return run if run.status not in ImportRun.ACTIVE_STATUSES else None


def import_url(import_obj, suffix=""):
    return f"{BIGQUERY}imports/{import_obj.pk}/{suffix}"


def run_now(client, import_obj) -> ImportRun:
    response = client.post(import_url(import_obj, "run-now/"))
    assert response.status_code == 302
    return import_obj.runs.filter(status__in=ImportRun.ACTIVE_STATUSES).get()


def worker_errors(worker) -> list[str]:
    log = worker.log_path.read_text()
    return [
        line
        for line in log.splitlines()
        if "database error" in line or "deadlock" in line.lower() or "locked" in line
    ]


# 100 presses against a real worker: about 90 s on PostgreSQL and 120 s on SQLite when the
# machine is otherwise idle; the bound leaves room for a loaded one.
@pytest.mark.timeout(900)
def test_stop_and_delete_during_page_writes_never_fail_or_lose_a_page(
    celery_worker, fast_reads, workspace_a, alice, tmp_path
):
    worker_log = tmp_path / "worker.log"  # where the celery_worker fixture writes
    table = new_table(fast_reads.stack, EVENT_SCHEMA, event_rows(0, PAGE * PAGES))
    client = client_for(alice)
    started = time.monotonic()

    for round_number in range(STRESS_ROUNDS):
        Event.objects.all().delete()  # events dedupe per workspace: each round writes anew
        connection = make_connection(
            workspace_a,
            alice,
            f"Warehouse {round_number}",
            info=fast_reads.key.info,
            project_id=fast_reads.project,
            dataset_id=fast_reads.dataset,
        )
        import_obj = make_import(connection, alice, table=table, target="events")

        # Stop, pressed while the worker writes a page.
        run = run_now(client, import_obj)
        wait_mid_run(run.pk, worker_log)
        services.worker_heartbeat_record(hostname=f"web-{round_number}")  # another writer
        response = client.post(import_url(import_obj, "stop/"))
        assert response.status_code == 302, round_number
        run = wait_for(lambda: ended(run.pk))  # noqa: B023
        assert run.status == ImportRun.Status.CANCELLED, (round_number, run.error_message)
        assert 0 < run.committed_offset < PAGE * PAGES
        assert run.committed_offset % PAGE == 0  # whole pages only
        # Every committed page's rows are there, and nothing after the last one.
        assert run.rows_written == run.committed_offset == Event.objects.count(), round_number

        # Delete the connection, pressed while the worker writes a page of the next run.
        Event.objects.all().delete()
        run = run_now(client, import_obj)
        wait_mid_run(run.pk, worker_log)
        response = client.post(f"{BIGQUERY}{connection.pk}/delete/")
        assert response.status_code == 302, round_number
        assert not Connection.objects.filter(pk=connection.pk).exists()
        assert not ImportRun.objects.filter(pk=run.pk).exists()
        written = Event.objects.count()
        assert 0 < written < PAGE * PAGES and written % PAGE == 0, (round_number, written)
        gone = f"run {run.pk}: deleted with its import"
        wait_for(lambda: gone in celery_worker.log_path.read_text())  # noqa: B023
        assert Event.objects.count() == written  # the worker wrote nothing after the delete

    assert worker_errors(celery_worker) == []
    assert WorkerHeartbeat.objects.count() == STRESS_ROUNDS
    print(f"{STRESS_ROUNDS} rounds of Stop + delete in {time.monotonic() - started:.1f} s")


def test_pause_then_run_now_runs_once_and_the_import_stays_paused(
    celery_worker, google, bq_connection, alice
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 1200))
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", schedule_kind="hourly"
    )
    next_run_at = import_obj.next_run_at
    client = client_for(alice)

    assert client.post(import_url(import_obj, "pause/")).status_code == 302
    run = run_now(client, import_obj)
    import_obj.refresh_from_db()
    assert import_obj.status == Import.Status.PAUSED  # the run does not unpause it

    run = wait_for(lambda: ended(run.pk))
    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert Event.objects.count() == 1200
    import_obj.refresh_from_db()
    assert (import_obj.status, import_obj.next_run_at) == (Import.Status.PAUSED, next_run_at)

    # The schedule does not fire, even well after its time.
    with time_machine.travel(next_run_at + dt.timedelta(hours=3), tick=False):
        assert tasks.dispatch_due_imports() == 0
    assert import_obj.runs.count() == 1

    page = client.get(import_url(import_obj)).content.decode()
    assert 'import-status-paused">Paused<' in page
    assert "Not scheduled while paused" in page  # no Next run shown
    assert timezone.localtime(next_run_at).strftime("%b %-d, %Y %H:%M") not in page


def test_pause_during_a_scheduled_run_keeps_the_run_and_the_pause(
    celery_worker, google, bq_connection, alice
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, PAGE * PAGES))
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", schedule_kind="hourly"
    )
    client = client_for(alice)
    run = run_now(client, import_obj)
    wait_mid_run(run.pk)

    assert client.post(import_url(import_obj, "pause/")).status_code == 302

    run = wait_for(lambda: ended(run.pk))
    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.committed_offset == PAGE * PAGES
    import_obj.refresh_from_db()
    assert import_obj.status == Import.Status.PAUSED  # the run's end keeps the admin's Pause


def test_stop_then_resume_schedule(celery_worker, google, bq_connection, alice):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, PAGE * PAGES))
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        schedule_kind="daily",
        schedule_time=dt.time(3, 0),
    )
    client = client_for(alice)
    run = run_now(client, import_obj)
    wait_mid_run(run.pk)

    confirm = client.get(import_url(import_obj, "stop/")).content.decode()
    assert "Stop ends the current run after its page and clears the schedule" in confirm
    assert client.post(import_url(import_obj, "stop/")).status_code == 302

    run = wait_for(lambda: ended(run.pk))
    assert run.status == ImportRun.Status.CANCELLED
    import_obj.refresh_from_db()
    assert (import_obj.status, import_obj.next_run_at) == (Import.Status.STOPPED, None)
    page = client.get(import_url(import_obj)).content.decode()
    assert "Resume schedule" in page

    response = client.post(import_url(import_obj, "resume/"), follow=True)

    assert "schedule resumed" in response.content.decode()
    import_obj.refresh_from_db()
    assert import_obj.status == Import.Status.SCHEDULED
    assert import_obj.next_run_at > timezone.now()
