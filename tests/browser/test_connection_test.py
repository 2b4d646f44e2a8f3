import re

import pytest
from playwright.sync_api import expect

from tests.connections.conftest import make_connection
from tests.fixtures.browser import sign_in_browser
from tests.fixtures.standin_world import DATASET, PROJECT

pytestmark = pytest.mark.slow


def test_test_connection_from_the_form_swaps_the_checklist_in_place(
    page, live_server, alice, google, screenshot
):
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/add/")
    page.get_by_label("Project ID").fill(PROJECT)
    page.get_by_label("Dataset ID").fill("no_such_dataset")
    page.get_by_role("button", name="Save").click()  # no name, no key yet
    expect(page.locator("#error-name")).to_have_text("Connection name is required.")
    expect(page.locator("#error-key_file")).to_contain_text(
        "Google Service Account Key is required"
    )
    page.get_by_label("Connection name").fill("Warehouse")
    page.get_by_role("tab", name="Custom key").click()
    page.get_by_role("textbox", name="Custom key").fill(google.key.to_json())

    page.get_by_role("button", name="Test Connection").click()

    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("Not passed")
    # the errors of the earlier Save went with it: the fields were corrected since
    expect(page.locator(".field-error")).to_have_count(0)
    expect(checklist.locator("[data-check=dataset]")).to_contain_text("✗ Fail")
    expect(checklist.locator("[data-check=dataset]")).to_contain_text("Fix:")
    expect(checklist.locator("[data-check=job_user]")).to_contain_text("Skipped")
    # swapped in place: the typed key is still in the form, nothing was saved
    expect(page.get_by_role("textbox", name="Custom key")).not_to_have_value("")
    screenshot("test-connection-form-fail")

    page.get_by_label("Dataset ID").fill(DATASET)
    page.get_by_role("button", name="Test Connection").click()
    expect(checklist).to_contain_text("Passed with a warning")
    expect(checklist.locator(".check-pass")).to_have_count(6)
    # no Read Session User: a warning with the role to grant, not a failure
    read_session = checklist.locator("[data-check=read_session]")
    expect(read_session).to_contain_text("! Warning")
    expect(read_session).to_contain_text("imports will use the slower REST path")
    expect(read_session).to_contain_text("BigQuery Read Session User role")
    screenshot("test-connection-form-warning")

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Connection “Warehouse” saved.")
    # the test that passed on exactly these values is the saved connection's result
    expect(page.locator("h1 .badge")).to_have_text("OK")
    expect(page.locator("#checklist")).to_contain_text("Passed with a warning")
    expect(page.locator("#checklist [data-check=read_session]")).to_contain_text("! Warning")
    screenshot("test-connection-saved-warning")
    assert page.console_errors == []


def test_test_connection_on_a_saved_connection_stores_the_result(
    page, live_server, alice, workspace_a, google, screenshot
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/")
    expect(page.locator("h1 .badge")).to_have_text("Untested")

    google.stack.revoke(google.key.email, "roles/bigquery.jobUser", project=PROJECT)
    page.get_by_role("button", name="Test Connection").click()
    expect(page.locator("#checklist [data-check=job_user]")).to_contain_text(
        "BigQuery Job User role"
    )
    expect(page.locator("h1 .badge")).to_have_text("Failing")  # updated without a reload
    screenshot("test-connection-saved-fail")
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("Failing")
    expect(page.locator("dl.fields")).to_contain_text("bigquery.jobs.create is missing")

    google.stack.grant(google.key.email, "roles/bigquery.jobUser", project=PROJECT)
    page.get_by_role("button", name="Test Connection").click()
    expect(page.locator("#checklist")).to_contain_text("Passed")
    page.goto("/w/acme/settings/partners/bigquery/")
    expect(page.locator("#connections")).to_contain_text("OK")
    expect(page.locator("#connections")).not_to_contain_text(re.compile("Failing|Untested"))
    screenshot("connections-ok")
