"""Create Import in a real browser: htmx search and preview, fields that follow the choices,
the schedule preview, Save, and no CSP violations (they show up as console errors)."""

import re
import time

import pytest
from playwright.sync_api import expect

from imports.models import Import
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_create_flow import flow_connection

pytestmark = pytest.mark.slow


def test_create_a_table_import_through_every_step(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    connection = flow_connection(google, workspace_a, alice)
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/")
    page.get_by_role("link", name="Create Import").click()

    # 1. Source: search as you type, then preview the chosen table in place.
    expect(page.get_by_role("heading", name="Create Import")).to_be_visible()
    expect(page.locator("#tables-count")).to_contain_text("2 tables in create_import_flow")
    expect(page.locator("#panel-query")).to_be_hidden()  # the table panel is the default
    page.get_by_label("Search tables").fill("cust")
    expect(page.locator("#tables-count")).to_contain_text("1 of 2 tables match “cust”")
    expect(page.locator("#table-list tbody tr")).to_have_count(1)
    page.get_by_role("link", name="create_customers").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Chosen: create_customers")
    expect(preview.locator("#preview-rows tbody tr")).to_have_count(3)
    expect(page.locator("tr.is-chosen")).to_contain_text("create_customers")
    assert page.url.endswith("/imports/new/")  # swapped in, no page load
    screenshot("create-import-1-source")
    page.get_by_role("button", name="Next: Target").click()

    # 2. Target: User Profiles with a renamed property and one left out.
    expect(page).to_have_url(re.compile(r"/imports/new/[0-9a-f-]+/target/$"))
    expect(page.get_by_label("User Profiles")).to_be_checked()
    expect(page.locator("fieldset.create-group")).to_be_hidden()  # events-only fields
    page.get_by_label("Identity column").select_option("user_id")
    expect(page.locator("tr[data-column=user_id]")).to_contain_text("(identity)")
    page.get_by_label("Property name for email").fill("email_address")
    page.get_by_label("Import score").uncheck()
    page.get_by_label("Events").check()
    expect(page.locator("fieldset.create-group")).to_be_visible()
    expect(page.get_by_label("Fixed event name")).to_be_hidden()
    page.get_by_label("User Profiles").check()
    screenshot("create-import-2-target")
    page.get_by_role("button", name="Next: Sync").click()

    # 3. Sync: Incremental shows the cursor column.
    expect(page.get_by_label("Cursor column")).to_be_hidden()
    page.get_by_label("Incremental").check()
    page.get_by_label("Cursor column").select_option("updated_at")
    screenshot("create-import-3-sync")
    page.get_by_role("button", name="Next: Schedule").click()

    # 4. Schedule: the next five runs follow the typed time; an error from a submit without
    # the time goes as soon as the time is typed.
    page.get_by_label("Daily").check()
    expect(page.get_by_role("textbox", name="Cron expression")).to_be_hidden()
    page.get_by_role("button", name="Next: Review").click()
    expect(page.locator("#error-schedule_time")).to_be_visible()
    page.get_by_label("Time", exact=True).fill("09:30")
    runs = page.locator("#next-runs")
    expect(page.locator("#error-schedule_time")).to_have_count(0)
    expect(runs).to_contain_text("Daily at 09:30 (Europe/Berlin)")
    expect(runs.locator("li")).to_have_count(5)
    expect(page.get_by_role("button", name="Show next runs")).to_be_hidden()
    screenshot("create-import-4-schedule")
    page.get_by_role("button", name="Next: Review").click()

    # 5. Review and Save.
    expect(page.locator("#review-target")).to_contain_text("User Profiles, identified by column")
    expect(page.locator("#review-target")).to_contain_text("email_address")
    expect(page.locator("#review-sync")).to_contain_text("Incremental on column updated_at")
    expect(page.locator("#review-schedule li")).to_have_count(5)
    page.get_by_label("Import name").fill("Customers daily")
    screenshot("create-import-5-review")
    page.get_by_role("button", name="Save").click()

    import_obj = Import.objects.get()
    expect(page).to_have_url(re.compile(rf"/imports/{import_obj.pk}/$"))
    assert (import_obj.name, import_obj.target, import_obj.sync_mode) == (
        "Customers daily",
        "profiles",
        "incremental",
    )
    assert import_obj.status == Import.Status.SCHEDULED
    assert {m["column"]: m["include"] for m in import_obj.column_mapping}["score"] is False
    screenshot("create-import-6-saved")
    assert page.console_errors == []


def test_a_query_source_is_checked_in_place_and_refusals_show_by_the_field(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    connection = flow_connection(google, workspace_a, alice)
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_label("A SQL query").check()
    expect(page.locator("#panel-table")).to_be_hidden()
    page.get_by_role("button", name="Next: Target").click()  # no query yet
    expect(page.locator("#error-query")).to_be_visible()

    page.get_by_label("SQL query", exact=True).fill("SELECT 1; DROP TABLE create_import_flow.x")
    page.get_by_role("button", name="Check query").click()
    expect(page.locator("#query-check-error")).to_contain_text("more than one statement")

    page.get_by_label("SQL query", exact=True).fill(
        "SELECT user_id, plan, updated_at FROM create_import_flow.create_customers"
    )
    page.get_by_role("button", name="Check query").click()
    check = page.locator("#query-check-result")
    expect(check).to_contain_text("Dry run passed")
    expect(page.locator("#error-query")).to_have_count(0)  # the submit's error went
    expect(check).to_contain_text("updated_at TIMESTAMP")
    screenshot("create-import-query-check")

    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Events").check()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_label("A fixed name").check()
    page.get_by_label("Fixed event name").fill("Plan seen")
    page.get_by_label("Timestamp column").select_option("updated_at")
    expect(page.locator("tr[data-column=updated_at]")).to_contain_text("(timestamp)")
    page.get_by_label("Property name for plan").fill("")
    page.get_by_role("button", name="Next: Sync").click()
    expect(page.locator("#error-property_1")).to_have_text(
        "Enter a property name for column plan, or leave the column out."
    )
    expect(page.get_by_label("Fixed event name")).to_have_value("Plan seen")  # kept
    screenshot("create-import-target-error")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    expect(page.locator("#mapping")).to_be_visible()
    screenshot("create-import-target-phone")
    assert page.console_errors == []


def test_a_schedule_preview_asked_for_again_while_one_is_in_flight_is_not_aborted(
    page, live_server, alice, workspace_a, google, flow_tables
):
    """On a loaded machine the preview asked for when the step loads is still in flight
    when the admin picks a schedule. Aborting it (hx-sync replace) made htmx log
    "htmx:afterRequest" as a console error; the newer request must wait its turn instead."""
    connection = flow_connection(google, workspace_a, alice)
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_role("link", name="create_customers").click()
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_role("button", name="Next: Sync").click()

    held = []
    holding = True

    def hold(route):
        if holding:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/schedule-preview/"), hold)
    with page.expect_request(re.compile(r"/schedule-preview/")):
        page.get_by_role("button", name="Next: Schedule").click()
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.evaluate("0")  # lets Playwright hand the intercepted request to `hold`
    assert len(held) == 1  # the step's first preview, held in flight

    page.get_by_label("Daily").check()
    page.get_by_label("Time", exact=True).fill("09:30")
    holding = False
    for route in held:
        route.continue_()

    expect(page.locator("#next-runs")).to_contain_text("Daily at 09:30 (UTC)")
    assert page.console_errors == []
