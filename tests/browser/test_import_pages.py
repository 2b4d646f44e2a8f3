import csv
import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from imports.models import Import, ImportRun, RejectedRow
from tests.connections.conftest import make_connection
from tests.fixtures.browser import sign_in_browser
from tests.imports.test_pages import add_import, add_run

pytestmark = pytest.mark.slow

IMPORTS = "/w/acme/settings/partners/bigquery/imports/"


def test_watch_a_run_live_then_read_its_rejected_rows(
    page, live_server, alice, workspace_a, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    connection = make_connection(workspace_a, alice)
    users = add_import(
        workspace_a,
        connection,
        "Nightly users",
        status="running",
        schedule_kind="daily",
        schedule_time=dt.time(2, 0),
        next_run_at=timezone.now() + dt.timedelta(hours=20),
        column_mapping=[{"column": "plan", "property": "plan", "include": True}],
        source_schema=[
            {"name": "user_id", "type": "STRING"},
            {"name": "plan", "type": "STRING"},
            {"name": "updated_at", "type": "TIMESTAMP"},
        ],
        sync_mode="incremental",
        cursor_column="updated_at",
        cursor_type="TIMESTAMP",
        created_by=alice,
    )
    add_run(
        users, ago=dt.timedelta(days=1), rows_read=800, rows_written=800, bytes_scanned=10**6,
        bytes_billed=20 * 2**20,
    )  # fmt: skip
    add_import(workspace_a, connection, "Purchases", target="events", status="paused")
    run = add_run(
        users,
        status="running",
        ago=dt.timedelta(seconds=20),
        rows_expected=1000,
        committed_offset=200,
        rows_read=200,
        rows_written=200,
        read_path="rest",
        job_id="analytics-prod:EU.job_1",
    )
    sign_in_browser(page, live_server, alice)

    page.goto(IMPORTS)
    expect(page.locator("#imports tbody tr")).to_have_count(2)
    expect(page.locator("#imports")).to_contain_text("Daily at 02:00 (Europe/Berlin)")
    screenshot("imports-list")
    page.get_by_label("Status").select_option("paused")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"status=paused"))
    expect(page.locator("#imports tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Clear").click()

    page.get_by_role("link", name="Nightly users", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Nightly users"))).to_be_visible()
    expect(page.locator("#progress-rows")).to_have_text("200 of 1,000 rows (20%)")
    expect(page.locator("#progress-bar")).to_have_attribute("value", "200")
    expect(page.locator("#import-actions")).to_contain_text("Stop")
    expect(page.locator("#import-actions")).not_to_contain_text("Run now")
    expect(page.locator("#reimport")).to_be_empty()  # not while a run reads
    page.evaluate("window.notReloaded = true")
    screenshot("import-detail-running")

    # the worker commits more pages while the page is open
    ImportRun.objects.filter(pk=run.pk).update(
        committed_offset=700, rows_read=700, rows_written=690, rows_rejected=10
    )
    expect(page.locator("#progress-rows")).to_have_text("700 of 1,000 rows (70%)")
    expect(page.locator("#progress-bar")).to_have_attribute("value", "700")
    expect(page.locator("#progress-written")).to_have_text(
        "700 read: 690 written, 0 unchanged, 10 rejected"
    )
    expect(page.locator("#progress-left")).to_contain_text("About")
    screenshot("import-detail-progress")

    # ...and finishes: polling stops, status, buttons and history follow
    RejectedRow.objects.create(
        run=run, row_number=3, reason="No identity", data={"user_id": None, "plan": "=1+1"}
    )
    ImportRun.objects.filter(pk=run.pk).update(
        status="succeeded",
        committed_offset=1000,
        rows_read=1000,
        rows_written=990,
        finished_at=timezone.now(),
    )
    Import.objects.filter(pk=users.pk).update(status="scheduled")
    expect(page.locator("#run-progress h2")).to_contain_text("Run succeeded")
    expect(page.locator("#import-status")).to_have_text("Scheduled")
    expect(page.locator("#import-actions")).to_contain_text("Run now")
    expect(page.locator("#import-actions")).to_contain_text("Pause")
    expect(page.get_by_role("link", name="Re-import everything")).to_be_visible()
    expect(page.locator("#runs tbody tr").first).to_contain_text("990")
    expect(page.locator("#run-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert page.evaluate("window.notReloaded") is True
    screenshot("import-detail-finished")

    page.get_by_role("link", name="Run details").click()
    expect(page.get_by_role("heading", name=re.compile("Run of Nightly users"))).to_be_visible()
    expect(page.locator("#run-written")).to_have_text("990")
    expect(page.locator("#run-read-path")).to_have_text("REST paging (tabledata.list)")
    expect(page.locator("#rejected")).to_contain_text("No identity")
    screenshot("import-run")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert re.fullmatch(
        r"rejected-rows-nightly-users-\d{8}-\d{4}\.csv", download.value.suggested_filename
    )
    with open(download.value.path(), newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["row_number", "reason", "user_id", "plan"], ["3", "No identity", "", "'=1+1"]]

    # an action from the detail page
    page.get_by_role("link", name="Nightly users", exact=True).click()
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".message-success")).to_have_text(
        "“Nightly users” paused. Resume it to continue its schedule."
    )
    expect(page.locator("#import-status")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    screenshot("import-detail-paused")
    assert page.console_errors == []


def test_a_member_watches_without_buttons_and_browses_the_audience(
    page, live_server, alice, bob, workspace_a, screenshot
):
    from audience.models import Profile

    connection = make_connection(workspace_a, alice)
    users = add_import(workspace_a, connection, "Nightly users", status="scheduled")
    add_run(users, rows_written=3)
    now = timezone.now()
    Profile.objects.bulk_create(
        Profile(
            workspace=workspace_a,
            identity=f"u{i}",
            properties={"plan": "pro", "email": f"u{i}@example.com"},
            first_seen=now,
            last_seen=now,
        )
        for i in range(3)
    )
    sign_in_browser(page, live_server, bob)

    page.goto(IMPORTS)
    page.get_by_role("link", name="Warehouse", exact=True).click()
    expect(page.locator("#connection-imports")).to_contain_text("Nightly users")
    expect(page.locator("#connection-imports")).to_contain_text("Scheduled")
    screenshot("connection-detail-imports")
    page.locator("#connection-imports").get_by_role("link", name="Nightly users").click()
    expect(page.locator("#definition")).to_contain_text("events_v2.users")
    expect(page.locator("#import-actions button")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page.locator("#profiles tbody tr")).to_have_count(3)
    page.get_by_label("Identity").fill("u1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#profiles tbody tr")).to_have_count(1)
    expect(page.locator("#profiles")).to_contain_text("email=u1@example.com, plan=pro")
    screenshot("audience-profiles")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    expect(page.get_by_role("heading", name="No events yet")).to_be_visible()
    assert page.console_errors == []


def test_stop_asks_first_then_a_stopped_import_offers_resume_schedule(
    page, live_server, alice, workspace_a, screenshot
):
    connection = make_connection(workspace_a, alice)
    nightly = add_import(
        workspace_a,
        connection,
        "Nightly users",
        status="scheduled",
        schedule_kind="daily",
        schedule_time=dt.time(2, 0),
        next_run_at=timezone.now() + dt.timedelta(hours=5),
        created_by=alice,
    )
    sign_in_browser(page, live_server, alice)
    page.goto(f"{IMPORTS}{nightly.pk}/")

    page.get_by_role("link", name="Stop").click()

    confirm = page.locator("#confirm-stop")
    expect(confirm).to_contain_text(
        "Stop ends the current run after its page and clears the schedule; "
        "Pause keeps the schedule and can be resumed."
    )
    expect(confirm.get_by_role("button", name="Pause instead")).to_be_visible()
    nightly.refresh_from_db()
    assert nightly.status == "scheduled"  # asking changed nothing
    screenshot("import-stop-confirm")

    confirm.get_by_role("button", name="Stop import").click()

    expect(page.locator(".message-success")).to_contain_text("“Nightly users” stopped.")
    expect(page.locator("#import-status")).to_have_text("Stopped")
    expect(page.locator("#definition-next-run")).to_have_text("Not scheduled")
    expect(page.locator("#import-actions")).not_to_contain_text("Stop")
    screenshot("import-stopped-resume-schedule")

    page.get_by_role("button", name="Resume schedule").click()

    expect(page.locator(".message-success")).to_have_text("“Nightly users”: schedule resumed.")
    expect(page.locator("#import-status")).to_have_text("Scheduled")
    expect(page.locator("#definition-next-run")).to_contain_text("02:00")
    assert page.console_errors == []


def test_a_stop_while_the_query_runs_says_the_query_is_cancelled_then_the_run_ends(
    page, live_server, alice, workspace_a, screenshot
):
    connection = make_connection(workspace_a, alice)
    users = add_import(workspace_a, connection, "Nightly users", status="running")
    run = add_run(users, status="running", ago=dt.timedelta(seconds=20), cancel_requested=True)
    sign_in_browser(page, live_server, alice)

    page.goto(f"{IMPORTS}{users.pk}/")
    expect(page.locator("#progress-stopping")).to_have_text(
        "Stop requested; its BigQuery query is being cancelled and the run ends."
    )
    screenshot("import-stopping-during-query")

    ImportRun.objects.filter(pk=run.pk).update(
        status="cancelled", error_message="Stopped.", finished_at=timezone.now()
    )
    Import.objects.filter(pk=users.pk).update(status="stopped")
    expect(page.locator("#run-progress h2")).to_contain_text("Run cancelled")
    expect(page.locator("#progress-stopping")).to_have_count(0)
    assert page.console_errors == []


def test_the_run_page_follows_its_run_until_it_ends(page, live_server, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    users = add_import(workspace_a, connection, "Nightly users", status="running")
    run = add_run(
        users,
        status="running",
        ago=dt.timedelta(seconds=20),
        rows_expected=1000,
        committed_offset=200,
        rows_read=200,
        rows_written=200,
    )
    sign_in_browser(page, live_server, alice)
    page.goto(f"{IMPORTS}runs/{run.pk}/")
    expect(page.locator("#run-read")).to_have_text("200")
    page.evaluate("window.notReloaded = true")

    ImportRun.objects.filter(pk=run.pk).update(committed_offset=600, rows_read=600)
    expect(page.locator("#run-read")).to_have_text("600")

    RejectedRow.objects.create(run=run, row_number=7, reason="No identity", data={"plan": "x"})
    ImportRun.objects.filter(pk=run.pk).update(
        status="succeeded",
        committed_offset=1000,
        rows_read=1000,
        rows_written=999,
        rows_rejected=1,
        finished_at=timezone.now(),
    )
    expect(page.locator("#run-status")).to_have_text("Succeeded")
    expect(page.locator("#run-written")).to_have_text("999")
    expect(page.locator("#rejected")).to_contain_text("No identity")
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert page.evaluate("window.notReloaded") is True
    assert page.console_errors == []


def test_edit_of_a_once_now_import_says_saving_does_not_run_it_again(
    page, live_server, alice, workspace_a, screenshot
):
    connection = make_connection(workspace_a, alice)
    once = add_import(
        workspace_a, connection, "Backfill", status="completed", schedule_kind="now",
        created_by=alice,
    )  # fmt: skip
    sign_in_browser(page, live_server, alice)
    page.goto(f"{IMPORTS}{once.pk}/edit/")

    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("saving again does not start another run (Run now does)")
    screenshot("import-edit-once-now")
    page.get_by_label("Hourly").check()
    expect(preview).to_contain_text("Every hour at :00")
    page.get_by_label("Once, now").check()
    expect(preview).to_contain_text("saving again does not start another run")

    page.get_by_label("Import name").fill("Backfill, renamed")
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".message-success")).to_be_visible()
    once.refresh_from_db()
    assert (once.name, once.status, once.next_run_at) == ("Backfill, renamed", "completed", None)
    assert not ImportRun.objects.filter(import_obj=once).exists()
    assert page.console_errors == []
