"""A run split into parts on real Celery worker processes and the real Redis, reading the
stand-in's Storage Read API: a part's worker killed mid-part, another worker finishes it."""

import os
import signal

import pytest
from django.utils import timezone

from audience.models import Event
from imports import services, tasks
from imports.models import ImportRun, RunPart
from tests.fixtures.processes import start_worker, stop_worker
from tests.fixtures.standin_world import PROJECT
from tests.fixtures.waiting import wait_for
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table
from tests.imports.test_worker import finished

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_part_whose_worker_is_killed_is_finished_by_another_worker_exactly(
    google, bq_connection, alice, google_worker_env, clean_broker, tmp_path
):
    total = 200_000
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    env = {**google_worker_env, "IMPORT_RUN_PARTS": "2"}
    first = start_worker(env, tmp_path / "w1.log", name="w1")
    try:
        run = services.import_run_now(import_obj=import_obj, actor=alice)
        part = wait_for(
            lambda: RunPart.objects.filter(run=run, number=0, committed_offset__gte=20_000).first(),
            timeout=180,
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        part.refresh_from_db()
        assert part.status == RunPart.Status.RUNNING
        assert 0 < part.committed_offset < total // 2  # killed mid-part
    finally:
        stop_worker(first)

    second = start_worker(env, tmp_path / "w2.log", name="w2")
    try:
        # The dead worker's leases (its part's, and so the run's) run out; the reaper re-sends.
        wait_for(lambda: RunPart.objects.get(pk=part.pk).lease_until < timezone.now())
        wait_for(lambda: ImportRun.objects.get(pk=run.pk).lease_until < timezone.now())
        assert tasks.reap_runs() >= 1
        run = wait_for(lambda: finished(run.pk), timeout=240)
    finally:
        stop_worker(second)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.rows_written, run.committed_offset) == (total, total, total)
    assert Event.objects.count() == total  # every source row, none twice
    done = list(RunPart.objects.filter(run=run).values_list("status", "rows_read", "attempts"))
    assert [status for status, _, _ in done] == [RunPart.Status.DONE] * 2
    assert sum(read for _, read, _ in done) == total
    assert done[0][2] == 2  # part 0: the killed worker's attempt, then another's
    second_log = (tmp_path / "w2.log").read_text()
    assert "imports.tasks.run_part" in second_log
