"""Types in a real browser: the mapping step shows the source time zone for a DATETIME or DATE
timestamp and the unit for an INT64 one, the review warns of a property with another type,
and Audience > Properties lists the workspace's property types."""

import datetime as dt
import uuid

import pytest
from playwright.sync_api import expect

from audience.models import PropertyType
from imports import services
from imports.models import Import
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_create_flow import flow_connection

pytestmark = pytest.mark.slow


def keep_type(workspace, name, type_, import_name):
    PropertyType.objects.create(
        workspace=workspace,
        name=name,
        type=type_,
        defined_by_import_id=uuid.uuid4(),
        defined_by_import_name=import_name,
        first_seen_at=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC),
    )


def to_target_step(page, live_server, alice, connection):
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_role("link", name="create_customers").click()
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    page.get_by_role("button", name="Next: Target").click()


def test_the_mapping_step_asks_for_the_zone_or_the_unit_the_timestamp_column_needs(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    keep_type(workspace_a, "plan", "INT64", "Legacy CRM")
    connection = flow_connection(google, workspace_a, alice)
    to_target_step(page, live_server, alice, connection)

    zone = page.get_by_label("Source time zone")
    unit = page.get_by_label("The INT64 timestamp counts")
    page.get_by_label("Events").check()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_label("A fixed name").check()
    page.get_by_label("Fixed event name").fill("Signed up")

    page.get_by_label("Timestamp column").select_option("updated_at")  # TIMESTAMP
    expect(zone).to_be_hidden()
    expect(unit).to_be_hidden()

    page.get_by_label("Timestamp column").select_option("signup_day")  # DATE
    expect(zone).to_be_visible()
    expect(zone).to_have_value("Europe/Berlin")  # the workspace's zone
    expect(unit).to_be_hidden()
    screenshot("types-target-date-zone")

    page.get_by_label("Timestamp column").select_option("visits")  # INT64
    expect(zone).to_be_hidden()
    expect(unit).to_be_visible()
    page.get_by_role("button", name="Next: Sync").click()
    expect(page.locator("#error-timestamp_unit")).to_have_text(
        "Choose whether visits counts seconds, milliseconds or microseconds since 1970-01-01: "
        "the values are not guessed."
    )
    expect(unit).to_be_visible()  # still shown after the refusal
    screenshot("types-target-int64-unit-refused")

    page.get_by_label("Timestamp column").select_option("signup_day")
    zone.select_option("America/New_York")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("No schedule (run manually)").check()
    page.get_by_role("button", name="Next: Review").click()

    target = page.locator("#review-target")
    expect(target).to_contain_text("(DATE, read in the time zone America/New_York)")
    warning = page.locator("#review-type-conflicts")
    expect(warning).to_contain_text("1 property has another type in this workspace")
    expect(warning).to_contain_text("plan is INT64 here (set by import “Legacy CRM”)")
    expect(warning).to_contain_text("Values are converted to INT64 where nothing is lost")
    screenshot("types-review-warning")
    page.get_by_role("button", name="Save").click()

    import_obj = Import.objects.get()
    assert (import_obj.source_time_zone, import_obj.timestamp_unit) == ("America/New_York", "")
    expect(page.locator("#definition-time-zone")).to_contain_text("America/New_York")
    screenshot("types-import-definition")
    assert page.console_errors == []


def test_the_properties_page_lists_each_property_with_its_type(
    page, live_server, alice, workspace_a, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    for name, type_, source in [
        ("plan", "STRING", "Customers"),
        ("lifetime_value", "NUMERIC", "Customers"),
        ("signed_up_at", "TIMESTAMP", "Customers"),
        ("tags", "ARRAY<STRING>", "Orders"),
        ("last_order", "STRUCT<id INT64, items ARRAY<STRUCT<sku STRING, qty INT64>>>", "Orders"),
        ("session_length", "INTERVAL", "Events feed"),
    ]:
        keep_type(workspace_a, name, type_, source)
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/audience/profiles/")

    page.get_by_role("link", name="Properties").click()

    expect(page.get_by_role("heading", name="Properties")).to_be_visible()
    rows = page.locator("#properties tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("last_order")
    expect(page.locator("#properties")).to_contain_text("ARRAY<STRING>")
    expect(page.locator("#result-count")).to_have_text("6 properties, by name")
    screenshot("types-properties-page")

    page.get_by_label("Property").fill("ord")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Orders")
    assert page.console_errors == []


def test_an_old_int64_import_asks_for_its_unit_on_edit(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    connection = flow_connection(google, workspace_a, alice)
    import_obj = services.import_create(
        workspace=workspace_a,
        connection=connection,
        created_by=alice,
        definition={
            "name": "Old visits",
            "source_kind": "table",
            "source_table": flow_tables,
            "source_schema": [
                {"name": "user_id", "type": "STRING", "mode": "NULLABLE"},
                {"name": "visits", "type": "INT64", "mode": "NULLABLE"},
            ],
            "target": "events",
            "identity_column": "user_id",
            "event_name_fixed": "Visited",
            "timestamp_column": "visits",
            "column_mapping": [],
            "schedule_kind": "none",
        },
    )
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/")
    expect(page.locator("#definition-timestamp-unit")).to_contain_text("Not chosen")
    screenshot("types-import-unit-not-chosen")

    page.locator("#definition-timestamp-unit").get_by_role("link", name="Edit").click()
    page.get_by_label("The INT64 timestamp counts").select_option("milliseconds")
    screenshot("types-edit-unit")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#definition-timestamp-unit")).to_have_text("Milliseconds since 1970-01-01")
    import_obj.refresh_from_db()
    assert import_obj.timestamp_unit == "milliseconds"
    assert page.console_errors == []
