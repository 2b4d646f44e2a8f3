"""Every page fits a laptop (1,280 px) and a phone (390 px): nothing makes the page scroll
sideways (a long one-line SQL query wraps), the navigation is reachable, status badges stay
whole. Screenshots of each page at both widths."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audience.models import Event, Profile
from imports.models import Import, ImportRun
from notifications.models import Recipient
from tests.api.conftest import make_token
from tests.connections.conftest import make_connection
from tests.factories import key_info
from tests.fixtures.browser import sign_in_browser

pytestmark = pytest.mark.slow

BASE = "/w/acme/settings/partners/bigquery/"
WIDTHS = {"laptop": 1280, "phone": 390}
COLUMNS = ", ".join(f"properties_column_number_{i}" for i in range(40))
# a fixed query shown on a page, never run
LONG_SQL = (
    f"SELECT user_id, event_name, event_timestamp, {COLUMNS} FROM "  # noqa: S608
    "analytics_production_events_dataset_with_a_long_name.events_partitioned_daily "
    "WHERE event_timestamp >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)"
)
LONG_NAME = "Customer data warehouse for the European marketing analytics team"
LONG_DATASET = "events_" + "x" * 90


@pytest.fixture
def pages(workspace_a, alice, bob):
    """A workspace with the long values real ones have, and the paths of its pages."""
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    long_email = "bigquery-import-loader-service@analytics-production-1234.iam.gserviceaccount.com"
    connection = make_connection(
        workspace_a,
        alice,
        name=LONG_NAME,
        info=key_info(email=long_email),
        project_id="analytics-production-1234",
        dataset_id=LONG_DATASET,
    )
    for i, status in enumerate(("ok", "failing", "untested")):
        other = make_connection(workspace_a, bob if i % 2 else alice, name=f"Lake {i}")
        other.status = status
        other.status_reason = "Project and dataset: no access" if status == "failing" else ""
        other.save()
    import_obj = Import.objects.create(
        workspace=workspace_a,
        connection=connection,
        name="Events of the last thirty days",
        source_kind="query",
        source_query=LONG_SQL,
        target="events",
        identity_column="user_id",
        event_name_column="event_name",
        timestamp_column="event_timestamp",
        status=Import.Status.SCHEDULED,
        schedule_kind="daily",
        schedule_time=dt.time(9),
        next_run_at=timezone.now() + dt.timedelta(hours=5),
    )
    now = timezone.now()
    run = ImportRun.objects.create(
        import_obj=import_obj,
        workspace=workspace_a,
        scheduled_for=now,
        started_at=now,
        finished_at=now + dt.timedelta(minutes=3),
        status="succeeded",
        rows_read=123456,
        rows_written=123000,
        rows_rejected=456,
        bytes_scanned=10 * 1024**3,
        watermark_from="2026-01-01T00:00:00+00:00",
        watermark_to="2026-01-31T23:59:59+00:00",
        error_message="456 of 123,456 rows were rejected: check the identity column.",
    )
    Profile.objects.bulk_create(
        Profile(
            workspace=workspace_a,
            identity=f"customer-{i:05d}@example.com",
            properties={"plan": "enterprise", "country": "DE", "long": "y" * 80},
            first_seen=now,
            last_seen=now,
        )
        for i in range(5)
    )
    Event.objects.bulk_create(
        Event(
            workspace=workspace_a,
            identity=f"customer-{i:05d}@example.com",
            name="checkout_completed_with_a_long_event_name",
            timestamp=now,
            properties={"amount": i, "currency": "EUR"},
            dedupe_key=uuid.uuid4(),
        )
        for i in range(5)
    )
    make_token(alice, workspace_a, name="dbt Cloud nightly job for the marketing warehouse")
    Recipient.objects.create(workspace=workspace_a, email="data-alerts-team@example.com")
    return {
        "dashboard": BASE,
        "help-panel": BASE + "#before-you-start",
        "ip-addresses": BASE + "ip-addresses/",
        "add-database": BASE + "add/",
        "connection": f"{BASE}{connection.pk}/",
        "imports": BASE + "imports/",
        "import": f"{BASE}imports/{import_obj.pk}/",
        "run": f"{BASE}imports/runs/{run.pk}/",
        "create-import-pick": BASE + "imports/new/",
        "profiles": "/w/acme/audience/profiles/",
        "events": "/w/acme/audience/events/",
        "workspace-settings": "/w/acme/settings/workspace/",
        "api-tokens": "/w/acme/settings/api-tokens/",
        "notifications": "/w/acme/settings/notifications/",
    }


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def broken_badges(page) -> list[str]:
    """Badges drawn on more than one line."""
    return page.evaluate(
        """Array.from(document.querySelectorAll('.badge'))
             .filter(b => b.getClientRects().length > 1)
             .map(b => b.textContent)"""
    )


@pytest.mark.parametrize("device", WIDTHS)
def test_every_page_fits_without_sideways_scrolling(
    page, live_server, alice, pages, screenshot, device, settings
):
    settings.EGRESS_IP_RANGES = ["203.0.113.7/32", "198.51.100.0/28"]
    page.set_viewport_size({"width": WIDTHS[device], "height": 900})
    sign_in_browser(page, live_server, alice)

    for name, path in pages.items():
        page.goto(path)
        expect(page.locator("main h1").first).to_be_visible()
        screenshot(f"{name}-{device}")
        assert overflow(page) <= 0, f"{name} scrolls sideways at {WIDTHS[device]} px"
        assert broken_badges(page) == [], name
    assert page.console_errors == []


def test_a_long_one_line_query_wraps_on_the_import_page(page, live_server, alice, pages):
    sign_in_browser(page, live_server, alice)
    page.goto(pages["import"])

    query = page.locator("#definition-source pre")
    expect(query).to_contain_text("properties_column_number_39")
    box = query.bounding_box()
    assert box["x"] + box["width"] <= 1280
    assert box["height"] > 40  # several lines, not one line cut off or scrolled


def test_the_dashboards_columns_fit_a_laptop(page, live_server, alice, pages):
    sign_in_browser(page, live_server, alice)
    page.goto(pages["dashboard"])

    table = page.locator("#connections")
    box = table.bounding_box()
    wrapper = page.locator("#connections").locator("xpath=..").bounding_box()
    assert box["width"] <= wrapper["width"]  # no scrolling inside the table's frame either
    expect(table.locator("th").last).to_be_in_viewport()


def test_the_run_historys_columns_and_error_fit_a_laptop(page, live_server, alice, pages):
    sign_in_browser(page, live_server, alice)
    page.goto(pages["import"])

    table = page.locator("#runs")
    table.scroll_into_view_if_needed()
    wrapper = table.locator("xpath=..").bounding_box()
    assert table.bounding_box()["width"] <= wrapper["width"]  # nothing behind a scroll bar
    expect(table.locator('td[data-label="Error"]')).to_be_in_viewport()
    expect(table.locator("th").last).to_be_in_viewport()


def test_on_a_phone_the_navigation_is_reachable(page, live_server, alice, pages):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in_browser(page, live_server, alice)
    page.goto(pages["events"])

    nav = page.get_by_role("navigation", name="Main")
    for link in ("BigQuery", "Imports", "Profiles", "Events", "Workspace"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    nav.get_by_role("link", name="Imports", exact=True).click()
    expect(page.get_by_role("heading", name="Imports", exact=True)).to_be_visible()
    assert overflow(page) <= 0
