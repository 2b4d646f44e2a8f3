"""The review step's typed preview in a real browser: Create Import walked to Review, where
"What will land" is read in place (htmx) and shows each property's stored values and type,
the flags, and how many sample identities already exist."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audience.models import Profile, PropertyType
from tests.fixtures.browser import sign_in_browser
from tests.fixtures.standin_world import PROJECT
from tests.imports.test_create_flow import flow_connection

pytestmark = pytest.mark.slow


def test_the_review_step_shows_what_the_sample_rows_would_store(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    PropertyType.objects.create(
        workspace=workspace_a,
        name="score",
        type="INT64",
        defined_by_import_name="Legacy CRM",
        first_seen_at=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC),
    )
    now = timezone.now()
    Profile.objects.create(workspace=workspace_a, identity="c2", first_seen=now, last_seen=now)
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    connection = flow_connection(google, workspace_a, alice)
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_role("link", name="create_customers").click()
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("No schedule (run manually)").check()
    page.get_by_role("button", name="Next: Review").click()

    sample = page.locator("#review-sample")
    expect(sample).to_contain_text("3 sample rows read with the Storage Read API")
    expect(sample.locator("#sample-identities")).to_contain_text(
        "2 sample identities: 1 already in this workspace (update), 1 new."
    )
    score = sample.locator("tr[data-property=score]")
    expect(score).to_contain_text("INT64")
    expect(score).to_contain_text("column is FLOAT64")
    expect(score.locator("[data-flag=conflict]")).to_contain_text("set by import “Legacy CRM”")
    expect(score.locator("[data-flag=precision]")).to_contain_text(
        "Digits would be lost: 1 sample row would be rejected: Property score is INT64 in "
        "this workspace; value 0.5 cannot be stored as INT64"
    )
    expect(sample.locator("#sample-rejections li")).to_have_count(1)
    expect(sample.locator("tr[data-property=visits]")).to_contain_text("6")
    expect(sample.locator("tr[data-property=email] .badge")).to_have_text("OK")
    screenshot("create-import-review-sample")
    page.get_by_label("Import name").fill("Customers")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages, [role=status]").first).to_contain_text("saved")
    assert page.console_errors == []


def walk_events_to_review(page, live_server, alice, connection, before_review=None):
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/")
    page.get_by_role("link", name="create_customers").click()
    expect(page.locator("#preview")).to_contain_text("Chosen: create_customers")
    page.get_by_role("button", name="Next: Target").click()
    page.get_by_label("Events").check()
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_label("A fixed name").check()
    page.get_by_label("Fixed event name").fill("Signed up")
    page.get_by_label("Timestamp column").select_option("signup_day")
    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("No schedule (run manually)").check()
    if before_review is not None:
        before_review()
    page.get_by_role("button", name="Next: Review").click()


def test_without_read_session_user_the_sample_says_it_read_with_rest(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    connection = flow_connection(google, workspace_a, alice)
    walk_events_to_review(page, live_server, alice, connection)

    sample = page.locator("#review-sample")
    expect(sample).to_contain_text("3 sample rows read with REST paging")
    expect(sample.locator("#sample-read-path")).to_contain_text(
        "it lacks BigQuery Read Session User, roles/bigquery.readSessionUser"
    )
    expect(sample.locator("#sample-events")).to_have_text(
        "3 sample events: 0 already in this workspace (the run skips them as duplicates), 3 new."
    )
    expect(sample.locator("#sample-event-times")).to_contain_text(
        '"2025-12-01" → 2025-11-30T23:00:00+00:00'
    )
    expect(sample.locator("tr[data-property=updated_at]")).to_contain_text(
        "2026-01-01T10:00:00+00:00"
    )
    screenshot("create-import-review-sample-events-rest")
    assert page.console_errors == []


def test_a_sample_bigquery_refuses_is_explained_and_the_import_still_saves(
    page, live_server, alice, workspace_a, google, flow_tables, screenshot
):
    connection = flow_connection(google, workspace_a, alice)

    def refuse_reads():  # only now: the source step's table preview reads rows too
        google.stack.gate.inject("quota_exceeded", times=None, match="tabledata.list")

    walk_events_to_review(page, live_server, alice, connection, before_review=refuse_reads)

    error = page.locator("#sample-error")
    expect(error).to_contain_text(
        f"The sample could not be read. A BigQuery quota of project {PROJECT} is used up; "
        "retrying now would not help."
    )
    expect(error).to_contain_text("This does not stop you from saving the import.")
    screenshot("create-import-review-sample-error")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/imports/[0-9a-f-]+/$"))
