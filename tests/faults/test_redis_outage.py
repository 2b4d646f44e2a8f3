"""Redis (broker and cache) stopped while a run is in progress and while runs are being
sent, until the run has ended and the worker has failed to reconnect: pages keep working,
Run now still queues, and once Redis is back the dispatcher and the reaper bring every due
or orphaned run to completion, each exactly once.

Redis here is a private redis-server without persistence, SIGKILLed and started again on
the same port: the message that was waiting in its queue is lost, as in production.
"""

import datetime as dt
import logging

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.utils import timezone

from audience.models import Event
from imports import services, tasks
from imports.models import Import, ImportRun
from tests.faults.conftest import amounts_of, finished, run_of, start_tagged_worker, wait_for
from tests.fixtures.processes import stop_worker
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow

LIST = "/w/acme/settings/partners/bigquery/imports/"


def requeue_age(settings) -> dt.timedelta:
    """How far the reaper's clock moves so that a queued run counts as lost: this process's
    clock only (the worker keeps real time, so the leases it holds stay valid)."""
    return dt.timedelta(seconds=settings.IMPORT_REQUEUE_AFTER_SECONDS + 1)


@pytest.mark.django_db(transaction=True)
def test_a_redis_outage_loses_no_run_and_keeps_the_import_pages_up(
    google, bq_connection, alice, alice_client, worker_env, fault_broker, settings, tmp_path
):
    sources = {}  # import pk -> the `amount` of each of its source rows

    def events_import(name: str, start: int, count: int, **fields) -> Import:
        table = new_table(google.stack, EVENT_SCHEMA, event_rows(start, count))
        import_obj = make_import(
            bq_connection, alice, table=table, target="events", name=name, **fields
        )
        sources[import_obj.pk] = list(range(start, start + count))
        return import_obj

    def due_now(name: str, start: int, count: int) -> Import:
        """An hourly import whose next run is due now, for the dispatcher ("Once, now" would
        start its run with the save)."""
        import_obj = events_import(name, start, count, schedule_kind="hourly")
        Import.objects.filter(pk=import_obj.pk).update(next_run_at=timezone.now())
        return import_obj

    long_one = events_import("Long", 0, 12_000)
    waiting = events_import("Waiting", 100_000, 300)
    due = due_now("Due", 200_000, 300)
    manual = events_import("Manual", 300_000, 300)
    worker = start_tagged_worker(worker_env, tmp_path, "w1")
    try:
        long_run = services.import_run_now(import_obj=long_one, actor=alice)
        wait_for(lambda: run_of(long_run.pk).committed_offset > 0, timeout=120, interval=0.05)
        services.import_run_now(import_obj=waiting, actor=alice)
        assert fault_broker.queued() == 1  # behind the long run (prefetch 1, one process)

        fault_broker.kill()
        assert run_of(long_run.pk).committed_offset < 12_000

        # Pages answer; /healthz says what is wrong.
        assert alice_client.get(LIST).status_code == 200
        assert alice_client.get(f"{LIST}{long_one.pk}/").status_code == 200
        health = alice_client.get("/healthz")
        assert (health.status_code, health.json()["broker"]) == (503, "unreachable")
        # Run now queues the run in the database; the reaper will send it.
        response = alice_client.post(f"{LIST}{manual.pk}/run-now/")
        assert response.status_code == 302
        assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]
        assert manual.runs.get().status == ImportRun.Status.QUEUED
        # A dispatcher pass (e.g. one already running when Redis went away) creates the run.
        assert tasks.dispatch_due_imports() == 1
        assert due.runs.get().status == ImportRun.Status.QUEUED
        # Due meanwhile, but no dispatcher tick reaches a worker while Redis is down.
        missed = due_now("Missed", 400_000, 300)
        # The run in progress needs nothing from Redis: it ends while Redis is down.
        long_run = wait_for(lambda: finished(long_run.pk), timeout=120)
        assert long_run.status == ImportRun.Status.SUCCEEDED, long_run.error_message
        assert alice_client.get(f"{LIST}{manual.pk}/").status_code == 200
        # Redis stays down until the worker has tried to reconnect and failed.
        wait_for(lambda: "Cannot connect to redis://" in worker.log_path.read_text(), timeout=120)

        fault_broker.start()
        assert fault_broker.queued() == 0  # the waiting run's message died with Redis

        # By the reaper's clock the runs queued during the outage have waited long enough.
        with time_machine.travel(requeue_age(settings)):
            assert tasks.reap_runs() == 3  # Waiting, Due and Manual: queued, never picked up
        assert tasks.dispatch_due_imports() == 1  # Missed
        assert alice_client.get("/healthz").status_code == 200
        runs = [
            wait_for(lambda i=i: finished(i.runs.get().pk), timeout=120)
            for i in (waiting, due, manual, missed)
        ]
    finally:
        stop_worker(worker)

    for run in [long_run, *runs]:
        assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
        assert run.attempts == 1
        assert run.import_obj.runs.count() == 1
        assert amounts_of(run) == sources[run.import_obj_id]  # exactly the source's rows
    assert Event.objects.count() == sum(len(rows) for rows in sources.values())


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_stops_answering_neither_hangs_run_now_nor_loses_the_run(
    google, bq_connection, alice, alice_client, worker_env, fault_broker, settings, tmp_path
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(500_000, 300))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    worker = start_tagged_worker(worker_env, tmp_path, "w1")
    try:
        fault_broker.freeze()
        try:
            # Without a socket timeout on the broker connection both would wait forever.
            response = alice_client.post(f"{LIST}{import_obj.pk}/run-now/")
            health = alice_client.get("/healthz")
        finally:
            fault_broker.thaw()
        assert response.status_code == 302
        assert import_obj.runs.get().status == ImportRun.Status.QUEUED
        assert (health.status_code, health.json()["broker"]) == (503, "unreachable")

        # The send that timed out may still have reached Redis once it woke up: then the worker
        # has the run already, the reaper's copy (if any) finds it claimed, and nothing doubles.
        with time_machine.travel(requeue_age(settings)):
            tasks.reap_runs()
        run = wait_for(lambda: finished(import_obj.runs.get().pk), timeout=120)
    finally:
        stop_worker(worker)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.attempts == 1
    assert amounts_of(run) == list(range(500_000, 500_300))


def test_the_reaper_stops_at_the_first_refused_send_and_counts_only_what_was_sent(
    connection_a, alice, fault_broker, settings, caplog
):
    runs = [
        services.run_create(
            import_obj=make_import(connection_a, alice, table="users", name=f"Import {n}"),
            scheduled_for=timezone.now(),
            trigger=ImportRun.Trigger.MANUAL,
            enqueue=False,
        )
        for n in range(3)
    ]
    queued_at = {run.pk: run.enqueued_at for run in runs}
    fault_broker.kill()

    with caplog.at_level(logging.WARNING, logger="imports.queue"):
        with time_machine.travel(requeue_age(settings)):
            resent = services.runs_resend_lost()

    # One refusal costs one connection attempt; the other two wait for the reaper's next tick.
    assert resent == 0
    assert len([r for r in caplog.records if "could not enqueue" in r.getMessage()]) == 1
    assert {run.pk: run.enqueued_at for run in ImportRun.objects.all()} == queued_at
