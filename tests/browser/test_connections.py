import datetime as dt
import json
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from connections.models import Connection
from tests.factories import key_info
from tests.fixtures.browser import sign_in_browser
from tests.security.needles import key_leaks

pytestmark = pytest.mark.slow

BIGQUERY = "/w/acme/settings/partners/bigquery/"


def fill_basics(page, name, project="analytics-prod", dataset="events_v2"):
    page.get_by_label("Connection name").fill(name)
    page.get_by_label("Project ID").fill(project)
    page.get_by_label("Dataset ID").fill(dataset)


def test_add_filter_rotate_and_delete_connections(
    page, live_server, alice, bob, tmp_path, screenshot
):
    sign_in_browser(page, live_server, alice)
    page.goto(BIGQUERY)

    # Add by upload (the default tab)
    page.get_by_role("link", name="Add Database").first.click()
    expect(page.get_by_role("heading", name="Add Database")).to_be_visible()
    expect(page.get_by_role("tab", name="Upload JSON file")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.get_by_role("textbox", name="Custom key")).to_be_hidden()
    fill_basics(page, "Uploaded warehouse")
    uploaded = key_info()
    key_path = tmp_path / "key.json"
    key_path.write_text(json.dumps(uploaded))
    page.locator("#id_key_file").set_input_files(key_path)
    screenshot("add-database-upload")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Connection “Uploaded warehouse” saved.")
    expect(page.locator("dl.fields")).to_contain_text(uploaded["private_key_id"])
    assert key_leaks(page.content(), uploaded) == []

    # Add by paste, after a failed try that keeps the typed values but not the key
    page.goto(BIGQUERY + "add/")
    page.get_by_role("tab", name="Custom key").click()
    fill_basics(page, "Pasted lake", project="Bad_Project")
    pasted = key_info(email="loader@analytics-prod.iam.gserviceaccount.com", slot=1)
    page.get_by_role("textbox", name="Custom key").fill(json.dumps(pasted))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-project_id")).to_have_text(
        "Project ID may contain only lowercase letters, digits and hyphens."
    )
    expect(page.get_by_label("Connection name")).to_have_value("Pasted lake")
    screenshot("add-database-error")
    page.get_by_label("Project ID").fill("analytics-prod")
    page.get_by_role("tab", name="Custom key").click()
    expect(page.get_by_role("textbox", name="Custom key")).to_have_value("")
    page.get_by_role("textbox", name="Custom key").fill(json.dumps(pasted))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Connection “Pasted lake” saved.")

    # bob's older connection, to filter on
    bobs = Connection.objects.get(name="Pasted lake")
    bobs.created_by = bob
    bobs.created_at = timezone.now() - dt.timedelta(days=40)
    bobs.save()

    page.goto(BIGQUERY)
    expect(page.locator("#connections tbody tr")).to_have_count(2)
    page.get_by_label("Connected By").select_option(label="bob@acme.test")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"connected_by=\d+"))
    expect(page.locator("#connections tbody tr")).to_have_count(1)
    expect(page.locator("#result-count")).to_have_text("1 connection matches the filters")
    expect(page.locator("#connections")).to_contain_text("Pasted lake")

    page.goto(BIGQUERY)
    today = timezone.localdate()
    page.locator("#id_connected_on_after").fill((today - dt.timedelta(days=1)).isoformat())
    page.locator("#id_connected_on_before").fill(today.isoformat())
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#connections tbody tr")).to_have_count(1)
    expect(page.locator("#connections")).to_contain_text("Uploaded warehouse")
    screenshot("connections-filtered")

    # Detail, then rotate the key without retyping the rest
    page.get_by_role("link", name="Uploaded warehouse").click()
    expect(page.get_by_role("heading", name=re.compile("Uploaded warehouse"))).to_be_visible()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Project ID")).to_have_value("analytics-prod")
    rotated = key_info(slot=2)
    key_path.write_text(json.dumps(rotated))
    page.locator("#id_key_file").set_input_files(key_path)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#audit")).to_contain_text("Replaced the key")
    expect(page.locator("#audit")).to_contain_text(rotated["private_key_id"])
    screenshot("connection-detail-rotated")
    assert key_leaks(page.content(), rotated) == []

    # Delete
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete “Uploaded warehouse”?")).to_be_visible()
    page.get_by_role("button", name="Delete connection").click()
    expect(page.locator(".message-success")).to_have_text(
        "Connection “Uploaded warehouse” deleted."
    )
    expect(page.locator("#connections tbody tr")).to_have_count(1)
    screenshot("connections-after-delete")
    assert page.console_errors == []
