"""BigQuery answers 503 for longer than the client's retry deadline and the runner's own
retries: the run fails with a message a person can act on, the recurring import stays
scheduled, and its next run, once BigQuery is back, imports everything."""

import datetime as dt

import pytest
from django.utils import timezone

from imports import services, tasks
from imports.models import Import, ImportRun
from tests.faults.conftest import amounts_of, finished, start_tagged_worker, wait_for
from tests.fixtures.processes import stop_worker
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow

UNAVAILABLE = (
    "Google did not answer in time, or answered with a temporary error. Try again in a minute. "
    "If it keeps happening, check that this server can reach Google."
)


@pytest.fixture
def worker_env(worker_env):
    # REST paging, where the lasting 503s are injected (Storage faults have their own tests in
    # tests/standins and tests/imports/test_runner_storage.py); quick back-off and two
    # retries of the runner's own, so that giving up takes seconds, not minutes.
    return {
        **worker_env,
        "BIGQUERY_STORAGE_ENABLED": "false",
        "IMPORT_RETRY_BASE_SECONDS": "0.2",
        "IMPORT_TRANSIENT_RETRIES": "2",
    }


@pytest.mark.django_db(transaction=True)
def test_lasting_503s_fail_the_run_and_the_next_scheduled_run_succeeds(
    google, bq_connection, alice, worker_env, tmp_path
):
    total = 1000
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, total))
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        schedule_kind="hourly",
        schedule_time=dt.time(0, 0),
    )
    next_run_at = import_obj.next_run_at
    assert import_obj.status == Import.Status.SCHEDULED and next_run_at > timezone.now()
    google.stack.gate.inject("backend_error", times=None, match="tabledata.list")
    worker = start_tagged_worker(worker_env, tmp_path, "bq")
    try:
        failed = services.import_run_now(import_obj=import_obj, actor=alice)
        failed = wait_for(lambda: finished(failed.pk), timeout=120)

        assert failed.status == ImportRun.Status.FAILED
        assert failed.error_message == UNAVAILABLE
        assert failed.committed_offset == 0 and not amounts_of(failed)
        # The client's retries, then each of the runner's, all answered 503.
        answered_503 = [r for r in google.stack.gate.requests if r.fault == "backend_error"]
        assert len(answered_503) > 3
        import_obj.refresh_from_db()
        assert import_obj.status == Import.Status.SCHEDULED
        assert import_obj.next_run_at == next_run_at
        assert import_obj.last_error == UNAVAILABLE

        google.stack.gate.faults.clear()
        Import.objects.filter(pk=import_obj.pk).update(next_run_at=timezone.now())  # its time
        assert tasks.dispatch_due_imports() == 1
        run = wait_for(lambda: finished(import_obj.runs.exclude(pk=failed.pk).get().pk))
    finally:
        stop_worker(worker)

    assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.trigger == ImportRun.Trigger.SCHEDULE
    assert run.committed_offset == run.rows_read == total
    assert amounts_of(run) == list(range(total))
    import_obj.refresh_from_db()
    assert import_obj.status == Import.Status.SCHEDULED and import_obj.last_error == ""
    assert import_obj.next_run_at > timezone.now()
    assert "transient backend_error" in worker.log_path.read_text()
