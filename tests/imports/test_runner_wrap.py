"""A full-sync run wraps the stored query, as the Create Import form promises: a statement
that passed the SELECT check runs only as a subquery (seen in the gate's request log)."""

import pytest

from imports.models import ImportRun
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.imports.test_runner import run_once


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.BIGQUERY_STORAGE_ENABLED = False


def test_a_full_sync_runs_the_stored_query_wrapped(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    stored = f"SELECT user_id, email, plan, updated_at FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608
    import_obj = make_import(
        bq_connection, alice, table="", source_kind="query", source_query=stored + ";"
    )

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    estimate, job = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert estimate.dry_run and not job.dry_run
    assert estimate.sql == job.sql == f"SELECT * FROM (\n{stored}\n)"  # noqa: S608
