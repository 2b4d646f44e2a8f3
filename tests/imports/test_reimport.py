"""Re-import everything / Re-import from a day: the confirmation (what will be read, the
dry run's estimate), the audited change, refusals, and the next run reading from there
through the real runner against the stand-in."""

import datetime as dt

import pytest

from audience.models import Event
from imports import services
from imports.models import Import, ImportRun
from tests.conftest import client_for
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table
from tests.imports.test_runner import run_once
from workspaces.models import AuditEntry


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40
    settings.BIGQUERY_STORAGE_ENABLED = False


@pytest.fixture
def four_days(google, bq_connection, alice, workspace_a):
    """An incremental events import that has read 10 events on each of Jan 1-4, 2026."""
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    rows = [row for day in range(4) for row in event_rows(day * 10, 10, day=day)]
    table = new_table(google.stack, EVENT_SCHEMA, rows)
    import_obj = make_import(
        bq_connection, alice, table=table, target="events",
        sync_mode="incremental", cursor_column="ts", cursor_type="TIMESTAMP",
    )  # fmt: skip
    status, run = run_once(import_obj, alice)
    assert (status, run.rows_read) == (ImportRun.Status.SUCCEEDED, 40)
    return import_obj


def url(import_obj, query=""):
    return f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/reimport/{query}"


def test_the_import_page_offers_both_re_imports_to_admins_only(four_days, alice_client, bob):
    page = alice_client.get(four_days.get_absolute_url()).content.decode()
    assert "Re-import everything" in page and "Re-import from this day" in page
    assert f'action="{url(four_days)}"' in page

    member_page = client_for(bob).get(four_days.get_absolute_url()).content.decode()
    assert "Re-import" not in member_page


def test_re_import_from_a_day_asks_first_with_the_estimated_bytes(four_days, alice_client):
    watermark = four_days.watermark

    response = alice_client.get(url(four_days, "?from_day=2026-01-03"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Re-import “Import" in html and "from Jan 3, 2026?" in html
    # midnight in the workspace's zone (Berlin, UTC+1 in January)
    assert "at or after <code>2026-01-02T23:00:00+00:00</code>" in html
    assert "BigQuery estimates that reading it processes <strong>" in html
    assert response.context["reimport"].estimate_bytes is not None
    assert 'name="from_day" value="2026-01-03"' in html and "csrfmiddlewaretoken" in html
    four_days.refresh_from_db()
    assert four_days.watermark == watermark  # asking changes nothing


def test_the_estimate_dry_runs_the_query_a_run_makes(four_days, alice_client, google):
    google.stack.gate.clear_requests()

    alice_client.get(url(four_days))  # Re-import everything: what will it read?

    (estimate,) = [r for r in google.stack.gate.requests if r.dry_run]
    # Only the columns the import maps: BigQuery bills the columns a query reads.
    assert estimate.sql.startswith("SELECT `user_id`, `event`, `ts`")
    assert "SELECT *" not in estimate.sql
    assert not AuditEntry.objects.filter(action="import.reimport").exists()


def test_re_import_from_a_day_is_audited_and_the_next_run_reads_from_there(
    four_days, alice, alice_client
):
    previous = four_days.watermark

    response = alice_client.post(url(four_days), {"from_day": "2026-01-03"})

    assert response.status_code == 302
    four_days.refresh_from_db()
    assert four_days.watermark == "2026-01-02T23:00:00+00:00"
    entry = AuditEntry.objects.get(action="import.reimport")
    assert entry.actor == alice and entry.target_id == str(four_days.pk)
    assert entry.details == {"from": "2026-01-02T23:00:00+00:00", "previous_watermark": previous}
    page = alice_client.get(four_days.get_absolute_url()).content.decode()
    assert "because alice@acme.test chose Re-import from Jan 3, 2026" in page
    assert "the next run reads from <code>2026-01-02T23:00:00+00:00</code>" in page

    status, run = run_once(four_days, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.watermark_from == "2026-01-02T23:00:00+00:00"
    assert (run.rows_read, run.rows_written) == (20, 0)  # Jan 3 and 4 again, nothing twice
    assert Event.objects.count() == 40
    page = alice_client.get(four_days.get_absolute_url()).content.decode()
    assert "The watermark was reset" not in page  # a run has read from there since


def test_re_import_everything_reads_every_row_again(four_days, alice, alice_client):
    confirm = alice_client.get(url(four_days)).content.decode()
    assert "Re-import everything of “" in confirm and "every row of the source" in confirm

    done = alice_client.post(url(four_days), follow=True).content.decode()

    assert "the next run reads every row again. Run now starts it now." in done
    four_days.refresh_from_db()
    assert four_days.watermark == ""
    assert AuditEntry.objects.get(action="import.reimport").details["from"] is None
    _, run = run_once(four_days, alice)
    assert (run.watermark_from, run.rows_read, run.rows_written) == ("", 40, 0)


def test_a_failed_dry_run_is_said_and_the_re_import_may_still_be_confirmed(
    four_days, alice_client, google
):
    google.stack.token_server.disable_account(google.key.email)

    response = alice_client.get(url(four_days, "?from_day=2026-01-03"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "The size could not be estimated: The service account" in html
    assert "You can still re-import." in html
    assert alice_client.post(url(four_days), {"from_day": "2026-01-03"}).status_code == 302
    four_days.refresh_from_db()
    assert four_days.watermark == "2026-01-02T23:00:00+00:00"


def test_re_import_is_refused_while_a_run_is_active(four_days, alice, alice_client):
    services.import_run_now(import_obj=four_days, actor=alice)
    watermark = Import.objects.get(pk=four_days.pk).watermark

    for response in (
        alice_client.get(url(four_days, "?from_day=2026-01-03"), follow=True),
        alice_client.post(url(four_days), {"from_day": "2026-01-03"}, follow=True),
    ):
        assert "The import is running. Stop it or wait for the run to finish, then re-import." in (
            response.content.decode()
        )
    assert Import.objects.get(pk=four_days.pk).watermark == watermark
    assert not AuditEntry.objects.filter(action="import.reimport").exists()


def test_re_import_is_refused_while_a_paused_imports_run_now_is_active(
    four_days, alice, alice_client
):
    # Run now of a paused import: the import stays paused while its run is active.
    services.import_update(
        import_obj=four_days, actor=alice, definition={"schedule_kind": "hourly"}
    )
    services.import_pause(import_obj=four_days, actor=alice)
    services.import_run_now(import_obj=four_days, actor=alice)
    paused = Import.objects.get(pk=four_days.pk)
    assert paused.status == Import.Status.PAUSED

    for response in (
        alice_client.get(url(four_days, "?from_day=2026-01-03"), follow=True),
        alice_client.post(url(four_days), {"from_day": "2026-01-03"}, follow=True),
    ):
        assert "The import is running. Stop it or wait for the run to finish, then re-import." in (
            response.content.decode()
        )
    assert Import.objects.get(pk=four_days.pk).watermark == paused.watermark
    assert not AuditEntry.objects.filter(action="import.reimport").exists()


def test_a_day_that_is_not_a_date_changes_nothing(four_days, alice_client):
    watermark = four_days.watermark
    response = alice_client.post(url(four_days), {"from_day": "yesterday"}, follow=True)
    assert "Enter the day as YYYY-MM-DD." in response.content.decode()
    assert Import.objects.get(pk=four_days.pk).watermark == watermark


def test_a_full_import_has_no_re_import(bq_connection, alice, alice_client):
    import_obj = make_import(bq_connection, alice, table="users")
    assert "Re-import" not in alice_client.get(import_obj.get_absolute_url()).content.decode()
    response = alice_client.post(url(import_obj), follow=True)
    assert "Only an incremental import has a watermark to move back." in (response.content.decode())


def test_an_integer_cursor_has_re_import_everything_only(bq_connection, alice, alice_client):
    import_obj = make_import(
        bq_connection, alice, table="users", sync_mode="incremental",
        cursor_column="version", cursor_type="INT64",
    )  # fmt: skip
    Import.objects.filter(pk=import_obj.pk).update(watermark="41")
    page = alice_client.get(import_obj.get_absolute_url()).content.decode()
    assert "Re-import everything" in page and "Re-import from this day" not in page
    response = alice_client.post(url(import_obj), {"from_day": "2026-01-03"}, follow=True)
    assert "is an integer, not a date: use Re-import everything." in response.content.decode()
    assert Import.objects.get(pk=import_obj.pk).watermark == "41"


def test_members_get_403_and_other_workspaces_404(four_days, bob, charlie):
    for client, expected in ((client_for(bob), 403), (client_for(charlie), 404)):
        assert client.get(url(four_days, "?from_day=2026-01-03")).status_code == expected
        assert client.post(url(four_days), {"from_day": "2026-01-03"}).status_code == expected
    assert Import.objects.get(pk=four_days.pk).watermark == four_days.watermark


def test_watermark_at_day_per_cursor_type(bq_connection, alice):
    from imports.run.window import watermark_at_day

    day = dt.date(2026, 7, 1)
    import_obj = make_import(bq_connection, alice, table="users", cursor_type="TIMESTAMP")
    assert watermark_at_day(import_obj, day, "America/New_York") == "2026-07-01T04:00:00+00:00"
    import_obj.cursor_type = "DATETIME"
    assert watermark_at_day(import_obj, day, "America/New_York") == "2026-07-01T00:00:00"
    import_obj.cursor_type = "DATE"
    assert watermark_at_day(import_obj, day, "America/New_York") == "2026-07-01"


def test_a_day_after_today_is_refused_and_changes_nothing(four_days, alice_client):
    watermark = four_days.watermark

    asked = alice_client.get(url(four_days, "?from_day=9999-12-31"), follow=True)
    sent = alice_client.post(url(four_days), {"from_day": "9999-12-31"}, follow=True)

    for response in (asked, sent):
        assert (
            "Choose today or an earlier day: Re-import reads again rows already imported."
            in response.content.decode()
        )
    assert Import.objects.get(pk=four_days.pk).watermark == watermark
    assert not AuditEntry.objects.filter(action="import.reimport").exists()


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT-14", "Etc/GMT+12"])
def test_re_import_from_jan_1_0001_with_a_lookback_reads_from_the_start(
    four_days, alice, alice_client, workspace_a, zone
):
    """The first day there is, in any zone and with a lookback that reaches before it: the
    page, the confirmation and the next run read from the earliest TIMESTAMP (they were a
    500 once the watermark was saved)."""
    workspace_a.time_zone = zone
    workspace_a.save()
    Import.objects.filter(pk=four_days.pk).update(lookback_seconds=Import.Lookback.THREE_DAYS)

    asked = alice_client.get(url(four_days, "?from_day=0001-01-01"))
    sent = alice_client.post(url(four_days), {"from_day": "0001-01-01"})
    page = alice_client.get(four_days.get_absolute_url())

    assert (asked.status_code, sent.status_code, page.status_code) == (200, 302, 200)
    import_obj = Import.objects.get(pk=four_days.pk)
    assert import_obj.watermark.startswith("0001-01-01T")
    status, run = run_once(import_obj, alice)
    assert (status, run.rows_read, run.watermark_from) == (
        ImportRun.Status.SUCCEEDED,
        40,
        "0001-01-01T00:00:00+00:00",
    )


def test_the_estimate_of_re_import_everything_reads_every_row_not_from_the_watermark(
    four_days, alice_client, google
):
    assert four_days.watermark  # the first run moved it
    google.stack.gate.clear_requests()

    alice_client.get(url(four_days))

    (estimate,) = [r for r in google.stack.gate.requests if r.dry_run]
    assert estimate.sql.endswith("WHERE `ts` IS NOT NULL")


def test_the_confirmation_reads_from_the_day_minus_the_lookback_window(four_days, alice_client):
    Import.objects.filter(pk=four_days.pk).update(lookback_seconds=Import.Lookback.DAY)

    html = alice_client.get(url(four_days, "?from_day=2026-01-03")).content.decode()

    # Jan 3 in Berlin starts at 23:00 UTC on Jan 2; a day of lookback before that
    assert (
        "at or after <code>2026-01-01T23:00:00+00:00</code> (the day's start minus the "
        "lookback window of 1 day)"
    ) in html


def test_a_failed_dry_run_says_what_failed_and_what_to_do(four_days, alice_client, google):
    google.stack.token_server.disable_account(google.key.email)

    response = alice_client.get(url(four_days, "?from_day=2026-01-03"))

    email = google.key.email
    plan = response.context["reimport"]
    assert plan.estimate_bytes is None
    assert plan.estimate_error == (
        f"The service account {email} is deleted or disabled. Enable {email} (IAM & Admin > "
        "Service Accounts), or create a new service account and key and put the key in this "
        "connection."
    )
    assert "put the key in this connection. You can still re-import." in response.content.decode()


def test_asking_to_re_import_an_import_that_cannot_have_it_says_why_and_shows_no_confirmation(
    bq_connection, alice, alice_client
):
    full = make_import(bq_connection, alice, table="users", name="Full")
    integer = make_import(
        bq_connection, alice, table="users", name="Integer", sync_mode="incremental",
        cursor_column="version", cursor_type="INT64",
    )  # fmt: skip
    running = make_import(
        bq_connection, alice, table="users", name="Running", sync_mode="incremental",
        cursor_column="updated_at", cursor_type="TIMESTAMP",
    )  # fmt: skip
    Import.objects.filter(pk=running.pk).update(status=Import.Status.RUNNING)

    said = {
        import_obj.name: alice_client.get(url(import_obj, query), follow=True).content.decode()
        for import_obj, query in (
            (full, ""),
            (integer, "?from_day=2026-01-03"),
            (running, ""),
        )
    }

    assert "Only an incremental import has a watermark to move back." in said[full.name]
    assert (
        "The cursor column version is an integer, not a date: use Re-import everything."
        in said[integer.name]
    )
    assert (
        "The import is running. Stop it or wait for the run to finish, then re-import."
        in said[running.name]
    )
    assert not any('id="confirm-reimport"' in page for page in said.values())
