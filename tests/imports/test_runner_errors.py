"""Google's documented failures during a run, through the real client against the gate:
the run page says what went wrong and what to fix, and only short-term limits are retried."""

import re

import pytest

from imports.models import ImportRun
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.imports.test_runner import run_once


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40
    settings.BIGQUERY_STORAGE_ENABLED = False
    settings.IMPORT_RETRY_BASE_SECONDS = 0.01


def failed_run(google, bq_connection, alice, fault, *, match="jobs.insert", detail=None, **fields):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table, **fields)
    injected = google.stack.gate.inject(fault, times=None, match=match, detail=detail)
    status, run = run_once(import_obj, alice)
    assert status == ImportRun.Status.FAILED
    return run, injected


# fault, detail, words of the cause, words of the fix
CASES = [
    (
        "invalid_query", "Bad int64 value: abc", "BigQuery could not run the query: Bad int64 "
        "value: abc", "Fix the query",
    ),
    (
        "partition_filter_required", f"{PROJECT}.{DATASET}.page_views event_date",
        f"Table {PROJECT}.{DATASET}.page_views can only be queried with a filter on its "
        "partitioning column event_date.", "add a WHERE condition on event_date",
    ),
    (
        "table_not_found", "other-project:sales.orders", "Table other-project:sales.orders was "
        "not found.", "Check the table the import reads",
    ),
    (
        "location_mismatch", f"{PROJECT}:eu_events EU", f"Dataset {PROJECT}:eu_events was not found "
        "in location EU, where the query runs", f"same location as dataset {DATASET}",
    ),
    (
        "response_too_large", None, "The query's result is larger than BigQuery returns",
        "make the import incremental",
    ),
    (
        "bytes_billed_limit", "5000000 20971520",
        "limit allows (4.8 MB (5,000,000 bytes); it needs 20.0 MB (20,971,520 bytes))",
        "Raise the maximum bytes billed",
    ),
    (
        "vpc_service_controls", "uid-123", f"project {PROJECT} is inside a service perimeter",
        "Security > VPC Service Controls",
    ),
    (
        "cmek_required", PROJECT, "requires queries in project acme-analytics to use a "
        "customer-managed encryption key (CMEK)", "default Cloud KMS key",
    ),
    (
        "billing_not_enabled", None, f"Billing is not enabled for project {PROJECT}.",
        "Link a billing account",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "detail", "cause", "fix"), CASES, ids=[c[0] for c in CASES])
def test_the_run_says_what_went_wrong_and_what_to_fix(
    google, bq_connection, alice, fault, detail, cause, fix
):
    run, injected = failed_run(google, bq_connection, alice, fault, detail=detail)

    assert cause in run.error_message
    assert fix in run.error_message
    assert "Project ID" not in run.error_message and "Data Editor" not in run.error_message
    assert injected.fired == 1  # permanent: neither the client nor the runner asked again


@pytest.mark.parametrize("fault", ["billing_not_enabled", "quota_exceeded"])
def test_a_permanent_failure_mid_run_is_not_retried(google, bq_connection, alice, fault):
    run, injected = failed_run(google, bq_connection, alice, fault, match="tabledata.list")

    assert injected.fired == 1
    assert run.committed_offset == 0
    if fault == "quota_exceeded":
        assert "retrying now would not help" in run.error_message
        assert "Wait for the quota to reset" in run.error_message


def test_a_rate_limit_mid_run_is_retried(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    # More than the client's own retries within a call: the runner retries from the row.
    limited = google.stack.gate.inject("rate_limit", times=3, match="tabledata.list")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert limited.fired == 3


def test_the_run_page_shows_the_cause_and_the_fix(google, bq_connection, alice, alice_client):
    run, _ = failed_run(google, bq_connection, alice, "invalid_query", detail="Bad int64 value: x")

    page = alice_client.get(f"/w/acme/settings/partners/bigquery/imports/runs/{run.pk}/")

    html = page.content.decode()
    assert "BigQuery could not run the query: Bad int64 value: x" in html
    assert "Fix the query" in html


def test_an_unexpected_error_fails_the_run_with_a_reference_found_in_the_log(
    google, bq_connection, alice, monkeypatch, caplog
):
    from imports.run import pages

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a Google error")

    monkeypatch.setattr(pages, "read_pages", broken)
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    status, run = run_once(make_import(bq_connection, alice, table=table), alice)

    assert status == ImportRun.Status.FAILED
    match = re.fullmatch(
        r"The import failed unexpectedly\. Reference: ([0-9a-f]{12}) \(in the server log\)\.",
        run.error_message,
    )
    assert match, run.error_message
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and "a bug" in str(logged[0].exc_info[1])
    assert f"run {run.pk} failed unexpectedly" in logged[0].getMessage()
