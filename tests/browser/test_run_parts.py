"""A split run's page in the browser: its read path, and its rejected rows by part."""

import pytest
from playwright.sync_api import expect

from imports.models import RejectedRow
from tests.connections.conftest import make_connection
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_pages import add_import, add_run, run_url

pytestmark = pytest.mark.slow

SPAN = RejectedRow.PART_ROW_SPAN


def test_a_split_runs_page_names_its_parts_and_where_each_rejected_row_came_from(
    page, live_server, alice, workspace_a, screenshot
):
    connection = make_connection(workspace_a, alice)
    import_obj = add_import(workspace_a, connection, "Events in parts", status="completed")
    run = add_run(
        import_obj,
        status="succeeded_with_rejections",
        read_path="parts",
        rows_expected=300_000,
        rows_read=300_000,
        rows_written=299_997,
        rows_rejected=3,
    )
    for number in (17, SPAN + 1, 2 * SPAN + 12_345):
        RejectedRow.objects.create(
            run=run,
            row_number=number,
            reason="Missing identity in column user_id",
            data={"user_id": None},
        )

    sign_in_browser(page, live_server, alice)
    page.goto(live_server.url + run_url(run))

    expect(
        page.get_by_text("BigQuery Storage Read API, in parts (one stream each)")
    ).to_be_visible()
    cells = page.locator("#rejected tbody tr td:first-child")
    expect(cells).to_have_text(["Part 1, row 17", "Part 2, row 1", "Part 3, row 12,345"])
    screenshot("run-page-split")
