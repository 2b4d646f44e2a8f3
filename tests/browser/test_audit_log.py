"""The Audit log page in a browser: entries with their zone, filters, and the CSV link that
carries them."""

import datetime as dt
import re

import pytest
import requests
from django.conf import settings
from playwright.sync_api import expect

from api.services import api_token_create
from connections.services import connection_update
from imports.services import import_pause, import_run_now
from tests.connections.conftest import make_connection
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_pages import add_import

pytestmark = pytest.mark.slow


def test_filter_the_audit_log_and_download_what_is_shown(
    page, live_server, alice, bob, workspace_a, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    connection = make_connection(workspace_a, alice, name="Warehouse")
    connection_update(
        connection=connection,
        actor=alice,
        name="Main warehouse",
        project_id=connection.project_id,
        dataset_id="events_v3",
        key=None,
    )
    nightly = add_import(workspace_a, connection, "Nightly users", status="scheduled")
    import_pause(import_obj=nightly, actor=bob)
    import_run_now(import_obj=add_import(workspace_a, connection, "Purchases"), actor=bob)
    api_token_create(
        workspace=workspace_a,
        user=bob,
        role="member",
        name="Notebook",
        scope="read",
        expires_at=None,
    )
    sign_in_browser(page, live_server, alice)

    page.goto(f"/w/{workspace_a.slug}/settings/partners/bigquery/")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    table = page.locator("#audit-log")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("thead")).to_contain_text("When (Europe/Berlin)")
    expect(table.locator("tbody tr").first).to_contain_text(re.compile(r"\d{2}:\d{2}:\d{2} CES?T"))
    expect(table).to_contain_text("name: Warehouse → Main warehouse")
    screenshot("audit-log")

    page.get_by_label("Actor").select_option(label="bob@acme.test")
    page.get_by_label("Action").select_option(label="Import run started (Run now)")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"actor={bob.pk}"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Purchases")
    expect(page.locator("#result-count")).to_have_text("1 entry matches the filters")
    screenshot("audit-log-filtered")

    link = page.get_by_role("link", name="Download CSV (filtered)")
    href = link.get_attribute("href")
    assert f"actor={bob.pk}" in href and "action=import.run_now" in href
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    download = requests.get(
        live_server.url + href, cookies={cookie["name"]: cookie["value"]}, timeout=10
    )
    lines = download.text.strip().splitlines()
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert len(lines) == 2 and "Purchases" in lines[1] and "bob@acme.test" in lines[1]

    page.get_by_label("From", exact=True).fill("2001-01-02")
    page.get_by_label("To", exact=True).fill("2001-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("alert")).to_contain_text("The From date is after the To date.")
    screenshot("audit-log-bad-range")
    page.get_by_role("link", name="Clear").first.click()
    expect(table.locator("tbody tr")).to_have_count(5)
    assert page.console_errors == []


def test_the_times_are_in_the_workspaces_zone(page, live_server, alice, workspace_a):
    from workspaces.models import AuditEntry

    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    entry = AuditEntry.objects.create(
        workspace=workspace_a,
        actor=alice,
        action="import.paused",
        target_type="import",
        target_id="1",
        target_label="X",
    )
    AuditEntry.objects.filter(pk=entry.pk).update(
        created_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    )
    sign_in_browser(page, live_server, alice)

    page.goto(f"/w/{workspace_a.slug}/audit/")

    expect(page.locator("#audit-log tbody tr").first).to_contain_text("Mar 2, 2026 08:30:00 JST")
