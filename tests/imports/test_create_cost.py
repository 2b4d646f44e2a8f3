"""Cost on Create Import and Edit: the review step's estimated bytes (dry runs through the
real client against the stand-ins, errors in words, never blocking Save), and the
per-import Maximum bytes billed, validated."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from common.ratelimit import SlidingWindow
from imports import estimate
from imports.estimate import review_estimates, typical_watermark
from imports.models import Import
from standins.gate import MIB
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)
from tests.imports.test_create_flow import (
    FLOW,
    mapping_data,
    post_source,
    step_url,
)
from tests.imports.test_create_flow import draft_of as draft_from
from tests.imports.test_create_sample_view import sample_url, to_review
from tests.imports.test_edit import EDIT

GIB = 1024**3


def test_the_review_shows_the_estimated_bytes_of_a_run(
    alice_client, connection, customers_table, google
):
    google.stack.gate.set_table_bytes(PROJECT, FLOW, customers_table, 3 * GIB)
    draft = to_review(alice_client, connection, customers_table)

    html = alice_client.get(sample_url(connection, draft)).content.decode()

    assert 'id="estimate-first">Each run processes about <strong>3.0\xa0GB</strong>' in html
    (estimate,) = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert estimate.dry_run and estimate.labels["purpose"] == "preview"


def test_an_estimate_over_the_limit_is_said(
    alice_client, connection, customers_table, google, settings
):
    settings.BIGQUERY_MAXIMUM_BYTES_BILLED = GIB
    google.stack.gate.set_table_bytes(PROJECT, FLOW, customers_table, 3 * GIB)
    draft = to_review(alice_client, connection, customers_table)

    html = alice_client.get(sample_url(connection, draft)).content.decode()

    assert 'id="estimate-over-limit"' in html and "limit of 1.0\xa0GB" in html


def test_a_failed_estimate_is_said_and_save_still_works(
    alice_client, connection, customers_table, google
):
    draft = to_review(alice_client, connection, customers_table)
    google.stack.gate.inject("quota_exceeded", times=None, match="jobs.insert")

    html = alice_client.get(sample_url(connection, draft)).content.decode()

    assert 'id="estimate-error"' in html and "The bytes could not be estimated." in html
    saved = alice_client.post(
        step_url(connection, draft, "review"),
        {"name": "Customers", "maximum_bytes_billed": "200 GB"},
    )
    assert saved.status_code == 302
    assert Import.objects.get(name="Customers").maximum_bytes_billed == 200 * GIB


def test_a_bad_limit_is_a_message_and_nothing_is_saved(alice_client, connection, customers_table):
    draft = to_review(alice_client, connection, customers_table)

    answer = alice_client.post(
        step_url(connection, draft, "review"), {"name": "Customers", "maximum_bytes_billed": "lots"}
    )

    assert answer.status_code == 200
    assert "Maximum bytes billed: Enter a size such as 500 GB" in answer.content.decode()
    assert not Import.objects.filter(name="Customers").exists()


def test_edit_sets_and_clears_the_imports_limit(alice_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users", name="Users")
    url = EDIT.format(import_obj.pk)

    alice_client.post(
        url, {"name": "Users", "schedule_kind": "none", "maximum_bytes_billed": "2 TB"}
    )
    import_obj.refresh_from_db()
    assert import_obj.maximum_bytes_billed == 2 * 2**40
    assert 'value="2 TB"' in alice_client.get(url).content.decode()

    alice_client.post(url, {"name": "Users", "schedule_kind": "none", "maximum_bytes_billed": ""})
    import_obj.refresh_from_db()
    assert import_obj.maximum_bytes_billed is None


def test_an_incremental_review_estimates_the_first_and_a_later_run(
    alice_client, connection, customers_table, google
):
    google.stack.gate.set_table_bytes(PROJECT, FLOW, customers_table, 3 * GIB)
    response = post_source(alice_client, connection, source_kind="table", table=customers_table)
    draft = draft_from(response)
    for step, data in (
        ("target", {"target": "profiles", "identity_column": "user_id", **mapping_data({})}),
        ("sync", {"sync_mode": "incremental", "cursor_column": "updated_at"}),
        ("schedule", {"action": "next", "schedule_kind": "none"}),
    ):
        assert alice_client.post(step_url(connection, draft, step), data).status_code == 302

    html = alice_client.get(sample_url(connection, draft)).content.decode()

    assert 'id="estimate-first">The first run processes about <strong>3.0\xa0GB' in html
    assert "A later run, reading about a day of new rows, processes about" in html
    first, later = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert first.dry_run and later.dry_run
    assert "`updated_at` IS NOT NULL" in first.sql and "`updated_at` >= @lo" in later.sql


@pytest.mark.parametrize(
    ("schedule", "cursor_type", "expected"),
    [({"schedule_kind": "hourly"}, "TIMESTAMP", ("2026-03-02T08:00:00+00:00", "an hour")),
     ({"schedule_kind": "daily", "schedule_time": dt.time(6)}, "DATETIME",
      ("2026-03-01T10:00:00", "a day")),
     ({"schedule_kind": "weekly", "schedule_time": dt.time(6), "schedule_weekday": 0}, "DATE",
      ("2026-02-23", "7 days")),
     ({"schedule_kind": "none"}, "TIMESTAMP", ("2026-03-01T09:00:00+00:00", "a day")),
     ({"schedule_kind": "daily", "schedule_time": dt.time(6)}, "INT64", ("", ""))],
)  # fmt: skip
def test_a_later_runs_watermark_is_one_schedule_interval_back(
    workspace_a, schedule, cursor_type, expected
):
    import_obj = Import(workspace=workspace_a, cursor_type=cursor_type, **schedule)
    now = dt.datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("Europe/Berlin"))  # 09:00 UTC

    assert typical_watermark(import_obj, now) == expected


# review_estimates on its own, against the stand-ins.


def estimate_jobs(stack):
    return [r for r in stack.gate.requests if r.operation == "jobs.insert"]


def test_the_estimate_is_bound_by_and_shows_the_imports_own_limit(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=20 * MIB)
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, 3 * MIB)

    estimates = review_estimates(import_obj, alice)

    assert (estimates.first, estimates.typical, estimates.limit) == (3 * MIB, None, 20 * MIB)
    assert not estimates.incremental and estimates.error == ""
    (job,) = estimate_jobs(google.stack)
    assert job.dry_run and job.maximum_bytes_billed == 20 * MIB


def test_an_integer_cursor_has_no_typical_run_to_estimate(google, bq_connection, alice):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 3))
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", sync_mode="incremental",
        cursor_column="amount", cursor_type="INT64",
    )  # fmt: skip

    estimates = review_estimates(import_obj, alice)

    assert estimates.incremental and estimates.first is not None
    assert (estimates.typical, estimates.typical_since) == (None, "")
    assert len(estimate_jobs(google.stack)) == 1  # the first run's only


def test_the_estimates_share_the_per_user_limit_on_calls_to_bigquery(
    google, bq_connection, alice, monkeypatch
):
    monkeypatch.setattr(
        estimate, "GOOGLE_CALLS", SlidingWindow("estimate-test", limit=1, seconds=60)
    )
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=20 * MIB)
    assert review_estimates(import_obj, alice).error == ""
    google.stack.gate.clear_requests()

    limited = review_estimates(import_obj, alice)

    assert re.fullmatch(
        r"You asked BigQuery for previews and checks more than 1 times in a minute\. "
        r"Wait \d+ seconds and reload this page\.",
        limited.error,
    )
    assert (limited.first, limited.limit) == (None, 20 * MIB)
    assert google.stack.gate.operations() == []


def test_a_google_error_is_said_with_its_fix_and_the_limit(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=20 * MIB)
    google.stack.gate.inject("quota_exceeded", times=None, match="jobs.insert")

    estimates = review_estimates(import_obj, alice)

    assert estimates.error == (
        f"A BigQuery quota of project {PROJECT} is used up; retrying now would not help. "
        "Wait for the quota to reset (usually within the day) or raise it in "
        "IAM & Admin > Quotas, then run the import again."
    )
    assert (estimates.first, estimates.limit) == (None, 20 * MIB)


def test_an_unexpected_failure_is_said_with_the_reference_in_the_log(
    google, bq_connection, alice, caplog
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table)
    import_obj.sync_mode, import_obj.cursor_column = "incremental", "plan"
    import_obj.cursor_type = "STRING"  # no cursor type a run knows: the window fails

    estimates = review_estimates(import_obj, alice)

    match = re.fullmatch(
        r"It failed unexpectedly\. Reference: ([0-9a-f]{12}) \(in the server log\)\.",
        estimates.error,
    )
    assert match is not None, estimates.error
    assert f"review estimate failed unexpectedly (reference {match[1]})" in caplog.text
    assert estimates.limit is not None and estimates.first is None


def test_the_limit_on_calls_to_bigquery_is_each_users_own(
    google, bq_connection, alice, bob, monkeypatch
):
    monkeypatch.setattr(
        estimate, "GOOGLE_CALLS", SlidingWindow("estimate-test", limit=1, seconds=60)
    )
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table)
    assert review_estimates(import_obj, alice).error == ""
    assert review_estimates(import_obj, alice).error.startswith("You asked BigQuery")

    estimates = review_estimates(import_obj, bob)  # the same import, another user

    assert estimates.error == "" and estimates.first is not None
