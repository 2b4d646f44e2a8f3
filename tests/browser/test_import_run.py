"""End to end: Run now in the browser, a real worker runs the import against the BigQuery
stand-in, the page follows the run live, and the profiles show up in Audience."""

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import sign_in_browser
from tests.fixtures.processes import start_worker, stop_worker
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_env(google_worker_env):
    return google_worker_env


@pytest.mark.runcontrol
@pytest.mark.django_db(transaction=True)
def test_run_now_runs_the_import_and_the_profiles_land(
    page, live_server, celery_worker, google, bq_connection, alice, screenshot
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 12_000))
    import_obj = make_import(bq_connection, alice, table=table, name="Users nightly")
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/")
    expect(page.locator("h1")).to_contain_text("Users nightly")

    page.get_by_role("button", name="Run now").click()

    expect(page.locator("h1 .badge")).to_have_text(re.compile("Running|Completed"))
    expect(page.locator("h1 .badge")).to_have_text("Completed", timeout=90_000)
    history = page.locator("table").last
    expect(history).to_contain_text("Succeeded")
    expect(history).to_contain_text("12,000")
    screenshot("import-run-completed")

    page.goto("/w/acme/audience/profiles/")
    expect(page.locator("main")).to_contain_text("u11999")
    page.get_by_role("searchbox").fill("u1199")
    page.get_by_role("button", name=re.compile("Search|Apply")).click()
    expect(page.locator("main")).to_contain_text("user11999@example.com")
    screenshot("audience-profiles-imported")
    assert page.console_errors == []


@pytest.mark.runcontrol
@pytest.mark.django_db(transaction=True)
def test_after_save_the_page_follows_the_run_from_queued_to_finished_without_a_reload(
    page,
    live_server,
    google,
    bq_connection,
    alice,
    worker_env,
    clean_broker,
    tmp_path,
    screenshot,
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 500))
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{bq_connection.pk}/")
    page.get_by_role("link", name="Create Import").click()
    page.get_by_label("Search tables").fill(table)
    page.get_by_role("link", name=table).click()
    expect(page.locator("#preview")).to_contain_text(f"Chosen: {table}")
    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("Once, now").check()
    page.get_by_role("button", name="Next: Review").click()
    page.get_by_label("Import name").fill("Users from the browser")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Users from the browser")
    # "Once, now": the save queued the run itself, not the scheduler's next tick.
    expect(page.locator("body")).to_contain_text("Its first run has started.")
    expect(page.locator("#run-progress h2")).to_contain_text("Queued, waiting for a worker")
    page.evaluate("window.notReloaded = true")
    from imports.services import imports_dispatch_due

    assert imports_dispatch_due() == 0  # nothing left for the scheduler; no worker is up yet
    expect(page.locator("#import-status")).to_have_text("Running")
    screenshot("import-live-queued")

    # The first page read hangs until released, so the page is seen running.
    google.stack.gate.inject("hang", match="tabledata.list", seconds=60)
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        expect(page.locator("#run-progress h2")).to_contain_text("Running now", timeout=60_000)
        expect(page.locator("#import-actions")).to_contain_text("Stop")
        screenshot("import-live-running")
        google.stack.gate.faults.clear()  # the read fails once; the runner reads it again

        expect(page.locator("#import-status")).to_have_text("Completed", timeout=90_000)
    finally:
        stop_worker(worker)
    expect(page.locator("#run-progress h2")).to_contain_text("Run succeeded")
    expect(page.locator("#runs tbody tr").first).to_contain_text("500")
    expect(page.locator("#import-actions")).to_contain_text("Run now")
    expect(page.locator("#run-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert page.evaluate("window.notReloaded") is True
    screenshot("import-live-finished")
    assert page.console_errors == []
    page.goto("/w/acme/audience/profiles/?q=u499")
    expect(page.locator("main")).to_contain_text("user499@example.com")
