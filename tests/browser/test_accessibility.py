"""Keyboard use: the skip link, the key tabs in the WAI-ARIA tabs pattern; and the workspace
settings page and Create Import from the dashboard, in a real browser."""

import json
import re

import pytest
from playwright.sync_api import expect

from connections.models import Connection
from tests.connections.conftest import make_connection
from tests.factories import key_info
from tests.fixtures.browser import sign_in_browser
from workspaces.models import AuditEntry

pytestmark = pytest.mark.slow

BASE = "/w/acme/settings/partners/bigquery/"


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.textContent")


def test_the_first_tab_stop_skips_to_the_content(page, live_server, alice, screenshot):
    sign_in_browser(page, live_server, alice)
    page.goto(BASE)
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()  # out of sight until needed

    page.keyboard.press("Tab")

    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    screenshot("skip-link-focused")
    page.keyboard.press("Enter")
    assert focused(page) == "main"
    page.keyboard.press("Tab")  # the next stop is inside the content, past the navigation
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_the_key_tabs_follow_the_tabs_pattern(page, live_server, alice, tmp_path, screenshot):
    sign_in_browser(page, live_server, alice)
    page.goto(BASE + "add/")
    upload = page.get_by_role("tab", name="Upload JSON file")
    custom = page.get_by_role("tab", name="Custom key")
    expect(page.get_by_role("tablist", name="How to give the key")).to_be_visible()
    expect(upload).to_have_attribute("aria-selected", "true")
    expect(upload).to_have_attribute("tabindex", "0")
    expect(custom).to_have_attribute("tabindex", "-1")  # one tab stop for the whole list
    expect(page.get_by_role("tabpanel", name="Upload JSON file")).to_be_visible()

    upload.focus()
    page.keyboard.press("ArrowRight")
    expect(custom).to_be_focused()
    expect(custom).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Custom key")).to_be_visible()
    expect(page.get_by_role("tabpanel", name="Upload JSON file")).to_be_hidden()
    page.keyboard.press("ArrowRight")  # wraps round
    expect(upload).to_be_focused()
    page.keyboard.press("End")
    expect(custom).to_be_focused()
    page.keyboard.press("Home")
    expect(upload).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(custom).to_be_focused()

    # Tab from the selected tab goes into its panel
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Custom key")).to_be_focused()
    screenshot("key-tabs-keyboard")

    # Switching tabs keeps what was typed; only the chosen tab's key is sent.
    key = key_info()
    key_path = tmp_path / "key.json"
    key_path.write_text(json.dumps(key))
    page.get_by_role("textbox", name="Custom key").fill(json.dumps(key_info(slot=1)))
    upload.click()
    page.locator("#id_key_file").set_input_files(key_path)
    custom.click()
    expect(page.get_by_role("textbox", name="Custom key")).not_to_have_value("")
    upload.click()
    page.get_by_label("Connection name").fill("Uploaded")
    page.get_by_label("Project ID").fill("analytics-prod")
    page.get_by_label("Dataset ID").fill("events_v2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Connection “Uploaded” saved.")
    assert Connection.objects.get().private_key_id == key["private_key_id"]
    assert page.console_errors == []


def test_create_import_from_the_dashboard_asks_for_the_connection(
    page, live_server, alice, workspace_a, screenshot
):
    make_connection(workspace_a, alice, name="Lake")
    shop = make_connection(workspace_a, alice, name="Shop")
    sign_in_browser(page, live_server, alice)
    page.goto(BASE)

    page.get_by_role("link", name="Create Import").click()

    expect(page.get_by_role("heading", name="Create Import")).to_be_visible()
    screenshot("create-import-pick-connection")
    page.get_by_role("link", name="Create Import from Shop").click()
    expect(page).to_have_url(re.compile(rf"{BASE}{shop.pk}/imports/new/$"))
    expect(page.locator(".create-from")).to_contain_text("From Shop")

    page.goto(BASE + "imports/")
    page.get_by_role("link", name="Create Import").first.click()
    expect(page.get_by_role("link", name="Create Import from Lake")).to_be_visible()
    assert page.console_errors == []


def test_an_admin_sets_the_workspace_time_zone(page, live_server, alice, workspace_a, screenshot):
    sign_in_browser(page, live_server, alice)
    page.goto(BASE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workspace").click()

    expect(page.get_by_role("heading", name="Workspace")).to_be_visible()
    page.get_by_label("Time zone").select_option("Pacific/Kiritimati")
    page.get_by_label("Workspace name").fill("Acme Pacific")
    screenshot("workspace-settings")
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".message-success")).to_have_text("Workspace settings saved.")
    expect(page.get_by_label("Time zone")).to_have_value("Pacific/Kiritimati")
    expect(page.locator("#workspace-history")).to_contain_text(
        "Time zone from “UTC” to “Pacific/Kiritimati”"
    )
    expect(page.locator("header")).to_contain_text("Acme Pacific")
    workspace_a.refresh_from_db()
    assert workspace_a.time_zone == "Pacific/Kiritimati"
    assert AuditEntry.objects.filter(action="workspace.updated").count() == 1
    screenshot("workspace-settings-saved")
    assert page.console_errors == []
