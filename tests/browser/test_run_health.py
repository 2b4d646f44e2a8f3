"""Run health in the browser: the three health tones on the imports list, the import's
run history and the run page, and the rejected rows filtered by reason."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from imports.models import RejectedRow
from tests.connections.conftest import make_connection
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_pages import add_import, add_run

pytestmark = pytest.mark.slow

IMPORTS = "/w/acme/settings/partners/bigquery/imports/"
MISSING = "Missing identity in column user_id"
TOO_LONG = "Identity in column user_id is longer than 1,024 characters"


def test_health_badges_on_the_list_and_the_run_page_and_rejected_rows_by_reason(
    page, live_server, alice, workspace_a, screenshot
):
    connection = make_connection(workspace_a, alice)
    schema = [{"name": "user_id", "type": "STRING"}, {"name": "plan", "type": "STRING"}]
    clean = add_import(workspace_a, connection, "Clean users", status="completed")
    add_run(clean, rows_read=500, rows_written=500)
    partial = add_import(
        workspace_a, connection, "Partly rejected", status="completed", source_schema=schema
    )
    add_run(partial, ago=dt.timedelta(days=1), rows_read=100, rows_written=100)
    run = add_run(
        partial, status="succeeded_with_rejections", rows_read=100_000, rows_written=0,
        rows_unchanged=90_000, rows_rejected=10_000,
    )  # fmt: skip
    RejectedRow.objects.bulk_create(
        [
            RejectedRow(
                run=run,
                row_number=n,
                reason=MISSING if n % 3 else TOO_LONG,
                data={"user_id": None if n % 3 else "x" * 1100, "plan": "pro"},
            )  # fmt: skip
            for n in range(1, 31)
        ]
    )
    broken = add_import(workspace_a, connection, "Renamed identity", status="failed")
    add_run(
        broken, status="failed", rows_read=10_000, rows_written=0, rows_rejected=10_000,
        error_message="Rejected 10,000 of 10,000 rows (100 %), above this import's 50 % "
        "threshold: check the identity column and the mapping.",
    )  # fmt: skip
    sign_in_browser(page, live_server, alice)

    page.goto(IMPORTS)
    rows = page.locator("#imports tbody tr")
    expect(rows).to_have_count(3)
    clean_row = rows.filter(has_text="Clean users")
    partial_row = rows.filter(has_text="Partly rejected")
    broken_row = rows.filter(has_text="Renamed identity")
    expect(clean_row.locator(".run-health")).to_have_text("Health 100 %")
    expect(clean_row.locator(".run-health")).to_have_class(re.compile(r"\bbadge-ok\b"))
    expect(partial_row.locator(".run-health")).to_have_text("Health 90 %")
    expect(partial_row.locator(".run-health")).to_have_class(re.compile(r"\bbadge-warn\b"))
    expect(partial_row.locator(".run-status-succeeded_with_rejections")).to_have_text(
        "Succeeded with rejections"
    )
    expect(partial_row.locator(".run-counts")).to_have_text(
        "Read 100,000 · Written 0 · Unchanged 90,000 · Rejected 10,000"
    )
    expect(broken_row.locator(".run-health")).to_have_text("Health 0 %")
    expect(broken_row.locator(".run-health")).to_have_class(re.compile(r"\bbadge-fail\b"))
    screenshot("health-imports-list")

    page.get_by_role("link", name="Partly rejected", exact=True).click()
    history = page.locator("#runs tbody tr")
    expect(history).to_have_count(2)
    expect(history.first.locator(".run-health")).to_have_text("Health 90 %")
    expect(history.nth(1).locator(".run-health")).to_have_text("Health 100 %")
    expect(history.first.locator('[data-label="Unchanged"]')).to_have_text("90,000")
    screenshot("health-import-page")

    history.first.get_by_role("link").click()
    expect(page.locator("#run-status")).to_have_text("Succeeded with rejections")
    expect(page.locator("#run-health .badge")).to_have_class(re.compile(r"\bbadge-warn\b"))
    expect(page.locator("#run-unchanged")).to_have_text("90,000")
    expect(page.locator("#rejected tbody tr")).to_have_count(30)
    reasons = page.get_by_label("Reason")
    expect(reasons.locator("option")).to_have_text(
        ["All reasons (10,000 rows)", f"{MISSING} (20 kept rows)", f"{TOO_LONG} (10 kept rows)"]
    )
    reasons.select_option(TOO_LONG)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"reason=Identity"))
    expect(page.locator("#rejected tbody tr")).to_have_count(10)
    expect(page.locator("#rejected")).not_to_contain_text(MISSING)
    expect(page.locator("#rejected-count")).to_contain_text("10 kept rows rejected for this reason")
    screenshot("health-run-page")
