"""Imports executed by real Celery worker processes on the real Redis, reading the BigQuery
stand-in over HTTP, including a worker killed mid-run."""

import datetime as dt
import os
import signal
import threading

import pytest
from django.db import connection
from django.utils import timezone

from audience.models import Event
from imports import services, tasks
from imports.models import Import, ImportRun
from tests.fixtures.processes import start_worker, stop_worker
from tests.fixtures.waiting import wait_for
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_env(google_worker_env):
    return google_worker_env


def finished(run_pk):
    run = ImportRun.objects.get(pk=run_pk)
    return run if run.status not in ImportRun.ACTIVE_STATUSES else None


@pytest.mark.runcontrol
@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_and_a_worker_run_a_scheduled_import(
    celery_worker, google, bq_connection, alice
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 300))
    soon = timezone.now() + dt.timedelta(minutes=5)
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", schedule_kind="once", schedule_at=soon
    )
    assert import_obj.status == Import.Status.SCHEDULED

    assert services.imports_dispatch_due(now=soon) == 1

    run = wait_for(lambda: finished(import_obj.runs.get().pk))
    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert Event.objects.count() == 300
    import_obj.refresh_from_db()
    assert import_obj.status == Import.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_double_run(google, bq_connection, alice, clean_broker):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 1))
    soon = timezone.now() + dt.timedelta(minutes=5)
    imports = [
        make_import(
            bq_connection,
            alice,
            table=table,
            target="events",
            name=f"i{n}",
            schedule_kind="once",
            schedule_at=soon,
        )
        for n in range(30)
    ]
    results = []
    barrier = threading.Barrier(2)

    def dispatch():
        barrier.wait()
        try:
            results.append(services.imports_dispatch_due(now=soon))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 30
    assert ImportRun.objects.count() == 30
    assert all(i.runs.count() == 1 for i in imports)
    assert services.imports_dispatch_due(now=soon) == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_exactly_once(
    google, bq_connection, alice, worker_env, clean_broker, tmp_path
):
    total = 200_000
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    first = start_worker(worker_env, tmp_path / "w1.log", name="w1")
    try:
        run = services.import_run_now(import_obj=import_obj, actor=alice)
        wait_for(lambda: ImportRun.objects.get(pk=run.pk).committed_offset >= 20_000, timeout=180)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = ImportRun.objects.get(pk=run.pk).committed_offset
        assert 0 < killed_at < total
    finally:
        stop_worker(first)

    second = start_worker(worker_env, tmp_path / "w2.log", name="w2")
    try:
        assert tasks.reap_runs() == 0  # the dead worker's lease is still alive
        wait_for(lambda: ImportRun.objects.get(pk=run.pk).lease_until < timezone.now())
        assert tasks.reap_runs() == 1
        run = wait_for(lambda: finished(run.pk), timeout=180)
    finally:
        stop_worker(second)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.attempts == 2
    assert run.committed_offset == total
    assert Event.objects.count() == total  # every source row, none twice


@pytest.mark.runcontrol
@pytest.mark.django_db(transaction=True)
def test_deleting_the_connection_during_a_run_stops_it_cleanly(
    celery_worker, google, bq_connection, alice
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 40_000))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    wait_for(lambda: ImportRun.objects.get(pk=run.pk).committed_offset > 0, timeout=120)

    stopped = services.connection_delete_with_imports(connection=bq_connection, actor=alice)

    assert stopped == [import_obj.name]
    assert not Import.objects.exists() and not ImportRun.objects.exists()
    written = Event.objects.count()
    assert written % 5000 == 0  # whole pages only
    wait_for(lambda: f"run {run.pk}: deleted with its import" in celery_worker.log_path.read_text())
    assert Event.objects.count() == written  # the worker wrote nothing after the delete
