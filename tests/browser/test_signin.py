import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow


def test_an_admin_signs_in_and_lands_on_bigquery(page, alice, screenshot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin/\?next=/$"))

    page.get_by_label("Email or username").fill("alice@acme.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/w/acme/settings/partners/bigquery/$"))
    expect(page.locator(".breadcrumbs")).to_have_text("Settings › Partners › BigQuery")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="BigQuery")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    expect(page.locator(".topbar")).to_contain_text("Acme")
    assert screenshot("bigquery-empty").stat().st_size > 0
    assert page.console_errors == []  # e.g. a CSP violation would show here
