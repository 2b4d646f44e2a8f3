"""The error pages and the oversize-key answer, as a browser shows them."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.fixtures.browser import sign_in_browser

pytestmark = pytest.mark.slow

BACK = "Back to BigQuery Imports"


def not_the_status(errors: list[str]) -> list[str]:
    """Console errors besides Chromium's note of the page's own 4xx status (a CSP violation
    or a missing asset would remain)."""
    return [e for e in errors if not re.match(r"Failed to load resource: .* status of 4\d\d", e)]


def show(page, response) -> None:
    """Put an answer the browser cannot be made to ask for (a bad Host, a server error) on
    a page of the app's own address, so its styles load as they would."""
    page.goto("/signin/")
    page.set_content(response.content.decode())


def test_error_pages_in_the_layout_with_a_way_back(page, live_server, bob, screenshot):
    sign_in_browser(page, live_server, bob)

    page.goto("/w/acme/settings/no-such-page/")
    expect(page.get_by_role("heading", name="Page not found (404)")).to_be_visible()
    expect(page.locator(".topbar")).to_contain_text("bob@acme.test")
    screenshot("error-404")

    page.goto("/w/acme/settings/partners/bigquery/add/")  # a member may not add
    expect(page.get_by_role("heading", name="Not allowed (403)")).to_be_visible()
    screenshot("error-403")
    page.get_by_role("link", name=BACK).click()
    expect(page).to_have_url(re.compile(r"/w/acme/settings/partners/bigquery/$"))

    show(page, Client(raise_request_exception=False).get("/", HTTP_HOST="bad.example"))
    expect(page.get_by_role("heading", name="Bad request (400)")).to_be_visible()
    screenshot("error-400")

    show(page, Client().post("/signin/", {"username": "x" * 2_000_000}))
    expect(page.get_by_role("heading", name="What you sent is too large (413)")).to_be_visible()
    screenshot("error-413")

    from django.test import RequestFactory
    from django.views.defaults import server_error

    show(page, server_error(RequestFactory().get("/")))
    expect(page.get_by_role("heading", name="Something went wrong (500)")).to_be_visible()
    expect(page.get_by_role("link", name=BACK)).to_be_visible()
    screenshot("error-500")
    assert not_the_status(page.console_errors) == []


def test_a_pasted_key_far_over_the_limit_gets_the_key_message(page, live_server, alice, screenshot):
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/add/")
    page.get_by_label("Connection name").fill("Warehouse")
    page.get_by_label("Project ID").fill("acme-analytics")
    page.get_by_label("Dataset ID").fill("events")
    page.get_by_role("tab", name="Custom key").click()
    # 10 MiB typed into the custom key box (set directly: typing it would take minutes)
    page.evaluate("document.getElementById('id_key_text').value = 'x'.repeat(10 * 1024 * 1024)")

    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("The key file is larger than 64 KiB")).to_be_visible()
    expect(page.get_by_role("heading", name="Add Database")).to_be_visible()
    screenshot("oversize-key")
    assert not_the_status(page.console_errors) == []
