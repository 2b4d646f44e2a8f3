"""The connection form's Advanced part in a browser: collapsed until needed, opened by an
error in it, and Test Connection on the typed Billing project and Scratch dataset."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import sign_in_browser
from tests.imports.conftest import USER_SCHEMA, user_rows

pytestmark = pytest.mark.slow


def test_advanced_fields_are_validated_and_tested_as_typed(
    page, live_server, alice, google, screenshot
):
    stack, suffix = google.stack, uuid.uuid4().hex[:6]
    data, billing = f"data-{suffix}", f"bill-{suffix}"
    stack.create_project(data)
    stack.create_project(billing)
    stack.create_dataset(data, "sales", location="EU")
    stack.create_dataset(data, "sales_imports_tmp", location="EU")
    stack.create_table(data, "sales", "customers", USER_SCHEMA, user_rows(0, 3))
    key = stack.register_service_account(
        f"importer@{billing}.iam.gserviceaccount.com", project_id=billing
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project=billing)
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=billing)
    for dataset in ("sales", "sales_imports_tmp"):
        stack.grant(key.email, "roles/bigquery.dataEditor", project=data, dataset=dataset)

    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/add/")
    advanced = page.locator("details.advanced")
    expect(advanced).not_to_have_attribute("open", "")
    page.get_by_label("Connection name").fill("Split billing")
    page.get_by_label("Project ID").fill(data)
    page.get_by_label("Dataset ID").fill("sales")
    page.get_by_role("tab", name="Custom key").click()
    page.get_by_role("textbox", name="Custom key").fill(key.to_json())
    advanced.locator("summary").click()
    page.get_by_label("Billing project").fill(billing)
    page.get_by_label("Scratch dataset").fill("not_there")

    page.get_by_role("button", name="Test Connection").click()

    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("Not passed")
    expect(checklist.locator("[data-check=job_user]")).to_contain_text(
        f"query jobs in project {billing} (the billing project)"
    )
    scratch = checklist.locator("[data-check=scratch]")
    expect(scratch).to_contain_text("✗ Fail")
    expect(scratch).to_contain_text(f"{data}:not_there")
    expect(scratch).to_contain_text("name an existing dataset")
    screenshot("connection-advanced-scratch-fail")

    page.get_by_label("Scratch dataset").fill("")
    page.get_by_role("button", name="Test Connection").click()
    expect(checklist).to_contain_text("Passed")
    expect(checklist.locator(".check-pass")).to_have_count(7)
    expect(checklist.locator("[data-check=dataset]")).to_contain_text(f"billing project {billing}")
    screenshot("connection-advanced-billing-pass")

    page.get_by_label("Maximum bytes billed").fill("ten gigs")
    page.get_by_role("textbox", name="Custom key").fill(key.to_json())
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#errors-maximum_bytes_billed")).to_contain_text(
        "Maximum bytes billed: Enter a size such as 500 GB"
    )
    expect(page.locator("details.advanced")).to_have_attribute("open", "")
    screenshot("connection-advanced-bytes-error")

    page.get_by_label("Maximum bytes billed").fill("100 GB")
    page.get_by_role("tab", name="Custom key").click()
    page.get_by_role("textbox", name="Custom key").fill(key.to_json())
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Connection “Split billing” saved.")
    assert page.console_errors == []


def test_a_malformed_scratch_dataset_fails_its_check_without_calling_google(
    page, live_server, alice, google, screenshot
):
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/add/")
    page.get_by_label("Project ID").fill("analytics-prod")
    page.get_by_label("Dataset ID").fill("events")
    page.get_by_role("tab", name="Custom key").click()
    page.get_by_role("textbox", name="Custom key").fill(google.key.to_json())
    page.locator("details.advanced summary").click()
    page.get_by_label("Scratch dataset").fill("scratch space")

    page.get_by_role("button", name="Test Connection").click()

    scratch = page.locator("#checklist [data-check=scratch]")
    expect(scratch).to_contain_text("✗ Fail")
    expect(scratch).to_contain_text("Scratch dataset may contain only")
    expect(scratch).to_contain_text("Correct the Scratch dataset (Advanced)")
    expect(page.locator("#errors-scratch_dataset_id")).to_contain_text(
        "Scratch dataset may contain only letters, digits and underscores."
    )
    screenshot("connection-advanced-scratch-malformed")
    assert google.stack.token_server.requests == []
    assert page.console_errors == []
