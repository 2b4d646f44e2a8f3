"""Cost on Create Import and Edit: the review step's estimated bytes (dry runs through the
real client against the stand-ins, errors in words, never blocking Save), and the
per-import Maximum bytes billed, validated."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from imports.estimate import typical_watermark
from imports.models import Import
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import make_import
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
