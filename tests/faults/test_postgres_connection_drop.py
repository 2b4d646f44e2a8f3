"""PostgreSQL drops a worker's connection mid-run (pg_terminate_backend, as on a server
restart or a failover): the worker reconnects and resumes from its committed offset, in a
whole run and in a part of a split run."""

import pytest

from imports import services
from imports.models import ImportRun, RunPart
from tests.faults.conftest import (
    amounts_of,
    finished,
    run_of,
    start_tagged_worker,
    terminate_backends,
    wait_for,
)
from tests.fixtures.processes import stop_worker
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_connection_is_terminated_resumes_from_its_committed_offset(
    google, bq_connection, alice, worker_env, tmp_path
):
    total = 6000
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    worker = start_tagged_worker(worker_env, tmp_path, "pg")
    try:
        run = services.import_run_now(import_obj=import_obj, actor=alice)
        wait_for(lambda: run_of(run.pk).committed_offset >= 1000, timeout=120, interval=0.05)

        assert terminate_backends("pg") >= 1
        cut_at = run_of(run.pk).committed_offset
        assert cut_at < total

        run = wait_for(lambda: finished(run.pk), timeout=120)
    finally:
        stop_worker(worker)

    log = worker.log_path.read_text()
    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert "database error" in log and "resuming from the committed row" in log
    assert run.attempts == 1  # resumed by the same task: no lease expiry, no reaper
    assert run.committed_offset == run.rows_read == total
    assert amounts_of(run) == list(range(total))  # every source row, none twice


@pytest.mark.django_db(transaction=True)
def test_a_part_whose_connection_is_terminated_resumes_from_its_committed_offset(
    google, bq_connection, alice, worker_env, tmp_path
):
    total = 6000
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    worker = start_tagged_worker({**worker_env, "IMPORT_RUN_PARTS": "2"}, tmp_path, "pgpart")
    try:
        run = services.import_run_now(import_obj=import_obj, actor=alice)
        part = wait_for(
            lambda: RunPart.objects.filter(run=run, number=0, committed_offset__gte=500).first(),
            timeout=120,
            interval=0.05,
        )

        assert terminate_backends("pgpart") >= 1
        part.refresh_from_db()
        assert part.committed_offset < total // 2  # cut mid-part

        run = wait_for(lambda: finished(run.pk), timeout=120)
    finally:
        stop_worker(worker)

    log = worker.log_path.read_text()
    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert f"run {run.pk} part 0: database error" in log
    assert "resuming from the committed row" in log
    parts = list(RunPart.objects.filter(run=run).values_list("status", "attempts"))
    assert parts == [(RunPart.Status.DONE, 1)] * 2  # resumed in place: no lease expiry
    assert run.rows_read == run.rows_written == total
    assert amounts_of(run) == list(range(total))  # every source row, none twice
