"""Re-import from a day in the browser: the import page's form, the confirmation with the
dry run's estimate, and the import page after it; and the lookback window at the wizard's
sync step."""

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from imports.models import Import
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table
from tests.imports.test_create_flow import flow_connection, mapping_data

pytestmark = pytest.mark.slow


def signed_in(page, live_server, user) -> Client:
    """A session for `user` shared by the browser and the returned test client."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return client


def test_re_import_from_a_day_asks_with_the_estimate_then_moves_the_watermark(
    page, live_server, google, bq_connection, alice, workspace_a, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 40, day=3))
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", name="Purchases",
        sync_mode="incremental", cursor_column="ts", cursor_type="TIMESTAMP",
        lookback_seconds=Import.Lookback.DAY,
    )  # fmt: skip
    Import.objects.filter(pk=import_obj.pk).update(
        watermark="2026-01-04T00:00:39+00:00", status="completed"
    )
    signed_in(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/")
    expect(page.locator("#definition-lookback")).to_contain_text("1 day: each run reads from")
    expect(page.get_by_role("link", name="Re-import everything")).to_be_visible()
    screenshot("reimport-1-import-page")

    page.get_by_label("Re-import from").fill("2026-01-03")
    page.get_by_role("button", name="Re-import from this day").click()

    confirm = page.locator("#confirm-reimport")
    expect(confirm.get_by_role("heading")).to_have_text("Re-import “Purchases” from Jan 3, 2026?")
    # the day's start in Berlin, minus the 1-day lookback
    expect(confirm).to_contain_text("at or after 2026-01-01T23:00:00+00:00")
    expect(confirm.locator("#reimport-estimate")).to_contain_text(
        re.compile(r"BigQuery estimates that reading it processes \d[\d.,]*\s(bytes|[KMGT]B)")
    )
    screenshot("reimport-2-confirmation")
    assert Import.objects.get(pk=import_obj.pk).watermark == "2026-01-04T00:00:39+00:00"

    confirm.get_by_role("button", name="Re-import").click()

    expect(page.locator(".messages, [role=status]").first).to_contain_text(
        "“Purchases”: the next run reads from Jan 3, 2026. Run now starts it now."
    )
    expect(page.locator("#watermark-note")).to_contain_text(
        "because alice@acme.test chose Re-import from Jan 3, 2026; the next run reads from "
        "2026-01-01T23:00:00+00:00."
    )
    expect(page.locator("#definition-watermark code").first).to_have_text(
        "2026-01-02T23:00:00+00:00"
    )
    screenshot("reimport-3-after")
    assert page.console_errors == []


def test_the_sync_step_offers_the_lookback_window_for_incremental_only(
    page, live_server, google, alice, workspace_a, flow_tables, screenshot
):
    connection = flow_connection(google, workspace_a, alice)
    client = signed_in(page, live_server, alice)
    new = f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/"
    source = client.post(
        new, {"action": "next", "source_kind": "table", "table": "create_customers"}
    )
    target = source["Location"]
    client.post(
        target,
        {"target": "profiles", "identity_column": "user_id", **mapping_data({})},
    )
    page.goto(target.replace("/target/", "/sync/"))

    lookback = page.get_by_label("Lookback window")
    expect(lookback).to_be_hidden()  # Full is the default
    page.get_by_label("Incremental").check()
    expect(lookback).to_be_visible()
    lookback.select_option(label="3 days")
    expect(page.locator("main")).to_contain_text("more than 1 hour in the future is rejected")
    screenshot("create-import-3-sync-lookback")
    page.get_by_role("button", name="Next: Schedule").click()
    expect(page).to_have_url(re.compile(r"/schedule/$"))
    assert page.console_errors == []
