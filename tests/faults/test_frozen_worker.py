"""A worker frozen (SIGSTOP) past its lease: another worker takes the run over through the
reaper and finishes it; when the frozen one wakes up, the lease fence lets it write nothing.
(A worker killed outright is covered by tests/imports/test_worker.py.)"""

import time

import pytest
from django.utils import timezone

from audience.models import Event
from imports import services, tasks
from imports.models import ImportRun
from tests.faults.conftest import (
    amounts_of,
    finished,
    freeze,
    run_of,
    start_tagged_worker,
    thaw,
    wait_for,
    worker_backends,
)
from tests.fixtures.processes import stop_worker
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow


def freeze_between_pages(worker, name: str) -> None:
    """SIGSTOP the whole worker while its database session is idle, i.e. not in the middle
    of a page's transaction (a worker frozen inside one holds the run's row lock, and the
    takeover then waits for it: safe, but not what this test is about)."""
    for _ in range(200):
        freeze(worker)
        time.sleep(0.05)  # let a statement sent just before the stop finish on the server
        if all(backend["state"] == "idle" for backend in worker_backends(name)):
            return
        thaw(worker)
        time.sleep(0.02)
    pytest.fail("the worker was never caught between pages")


@pytest.mark.django_db(transaction=True)
def test_a_worker_frozen_past_its_lease_writes_nothing_when_it_wakes(
    google, bq_connection, alice, worker_env, tmp_path
):
    total = 6000
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    first = start_tagged_worker(worker_env, tmp_path, "w1")
    second = None
    try:
        run = services.import_run_now(import_obj=import_obj, actor=alice)
        wait_for(lambda: run_of(run.pk).committed_offset >= 1000, timeout=120, interval=0.05)
        freeze_between_pages(first, "w1")
        frozen_at = run_of(run.pk).committed_offset
        assert 0 < frozen_at < total

        second = start_tagged_worker(worker_env, tmp_path, "w2")
        wait_for(lambda: run_of(run.pk).lease_until < timezone.now(), timeout=30)  # lease: 4 s
        assert tasks.reap_runs() == 1
        run = wait_for(lambda: finished(run.pk), timeout=120)
        assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
        assert run.attempts == 2
        assert run.committed_offset == total

        thaw(first)
        wait_for(lambda: "lease lost" in first.log_path.read_text(), timeout=60)
    finally:
        thaw(first)
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    after = run_of(run.pk)
    assert after.status == ImportRun.Status.SUCCEEDED
    assert after.finished_at == run.finished_at  # completed once, by the second worker
    assert after.attempts == 2
    assert after.committed_offset == after.rows_read == total  # the stale page was not counted
    assert amounts_of(after) == list(range(total))  # every source row, none twice
    assert Event.objects.count() == total
    assert "lease lost" not in second.log_path.read_text()
