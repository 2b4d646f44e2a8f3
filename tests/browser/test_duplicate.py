"""Duplicate in a real browser: from a saved import's page, Create Import opens with the
import's choices; Next through every step and Save make the copy."""

import re

import pytest
from playwright.sync_api import expect

from imports.models import Import
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_create_flow import flow_connection

pytestmark = pytest.mark.slow


def test_duplicate_opens_create_import_with_the_imports_choices(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    connection = flow_connection(google, workspace_a, alice)
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_role("link", name="create_customers").click()
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_label("Property name for email").fill("email_address")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("No schedule (run manually)").check()
    page.get_by_role("button", name="Next: Review").click()
    page.get_by_label("Import name").fill("Customers")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Customers")

    page.get_by_role("button", name="Duplicate").click()

    expect(page.locator(".messages")).to_contain_text("A copy of “Customers” with all its choices")
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    screenshot("duplicate-source")
    page.get_by_role("button", name="Next: Target").click()
    expect(page.get_by_label("Identity column")).to_have_value("user_id")
    expect(page.get_by_label("Property name for email")).to_have_value("email_address")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    expect(page.get_by_label("No schedule (run manually)")).to_be_checked()
    page.get_by_role("button", name="Next: Review").click()
    expect(page.get_by_label("Import name")).to_have_value("Copy of Customers")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("h1")).to_contain_text(re.compile("^Copy of Customers"))
    copy, original = (Import.objects.get(name=n) for n in ("Copy of Customers", "Customers"))
    assert copy.column_mapping == original.column_mapping
    assert page.console_errors == []
