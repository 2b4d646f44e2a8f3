"""A source query that BigQuery takes a while to finish (the gate reports it RUNNING): the
run keeps its lease while it waits, and a Stop meanwhile cancels the query at BigQuery
(which would otherwise run, and bill, it to the end) and ends the run at once."""

import pytest
from django.db import connection as django_connection

from audience.models import Profile
from imports import services
from imports.models import Import, ImportRun
from imports.run import execute, leases
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows

# The gate's request threads act on the run through their own database connections; run
# control, so bin/test runs these on SQLite too.
pytestmark = [pytest.mark.runcontrol, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.BIGQUERY_STORAGE_ENABLED = False


def on_jobs_get(gate, actions: dict, monkeypatch) -> None:
    """Call `actions[n]` in the gate's request thread as it answers the n-th jobs.get (the
    runner's poll of its query), before the answer leaves the gate."""
    record = gate.record
    seen = []

    def record_then_act(entry):
        record(entry)
        if entry.operation == "jobs.get":
            seen.append(entry)
            if len(seen) in actions:
                try:
                    actions[len(seen)]()
                finally:
                    django_connection.close()  # this thread's own connection

    monkeypatch.setattr(gate, "record", record_then_act)


def test_stop_while_the_query_runs_cancels_it_and_ends_the_run(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 30))
    import_obj = make_import(bq_connection, alice, table=table)
    gate = google.stack.gate
    gate.jobs_keep_running = True
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    def stop() -> None:
        services.import_stop(import_obj=Import.objects.get(pk=import_obj.pk), actor=alice)

    def finish_after_all() -> None:  # a run that missed the Stop ends, and fails the test
        gate.jobs_keep_running = False

    on_jobs_get(gate, {2: stop, 10: finish_after_all}, monkeypatch)

    status = execute.execute_run(str(run.pk))

    run.refresh_from_db()
    assert status == ImportRun.Status.CANCELLED
    assert (run.status, run.error_message, run.rows_read) == (
        ImportRun.Status.CANCELLED,
        "Stopped.",
        0,
    )
    cancels = [r for r in gate.requests if r.operation == "jobs.cancel"]
    assert [(r.path.split("/")[-2], r.status) for r in cancels] == [(run.job_id, 200)]
    assert "tabledata.list" not in gate.operations()
    assert not Profile.objects.exists()


def test_the_lease_is_renewed_while_the_query_runs(
    google, bq_connection, alice, monkeypatch, settings
):
    settings.IMPORT_LEASE_SECONDS = 2
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 30))
    import_obj = make_import(bq_connection, alice, table=table)
    gate = google.stack.gate
    gate.jobs_keep_running = True
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    claimed_by_another = []

    def another_worker_tries_then_the_query_ends():
        # About 2.5 s after the claim (polls every 0.5 s): an unrenewed lease had expired.
        claimed_by_another.append(leases.run_claim(run_id=str(run.pk), owner="another"))
        gate.jobs_keep_running = False

    on_jobs_get(gate, {5: another_worker_tries_then_the_query_ends}, monkeypatch)

    status = execute.execute_run(str(run.pk))

    run.refresh_from_db()
    assert claimed_by_another == [None]
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.attempts) == (30, 1)
    assert Profile.objects.count() == 30
    assert "jobs.cancel" not in gate.operations()
