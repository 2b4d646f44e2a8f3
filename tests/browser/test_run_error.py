"""A run that BigQuery refused shows its cause and its fix on the run page (a required
partition filter, answered by the gate as BigQuery does, read by the real client)."""

import pytest
from playwright.sync_api import expect

from imports.models import ImportRun
from tests.fixtures.browser import sign_in_browser
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.imports.test_runner import run_once

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_the_run_page_says_which_filter_the_table_requires(
    page, live_server, alice, bq_connection, google, settings, screenshot
):
    settings.BIGQUERY_STORAGE_ENABLED = False
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    google.stack.gate.inject(
        "partition_filter_required",
        match="jobs.insert",
        detail=f"{PROJECT}.{DATASET}.{table} updated_at",
    )
    status, run = run_once(import_obj, alice)
    assert status == ImportRun.Status.FAILED

    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/imports/runs/{run.pk}/")

    error = page.locator("#run-error")
    expect(error).to_contain_text(
        f"Table {PROJECT}.{DATASET}.{table} can only be queried with a filter on its "
        "partitioning column updated_at."
    )
    expect(error).to_contain_text("add a WHERE condition on updated_at")
    screenshot("run-partition-filter-required")
    assert page.console_errors == []
