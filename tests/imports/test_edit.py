import datetime as dt

from imports import services
from imports.models import Import
from tests.imports.conftest import make_import

EDIT = "/w/acme/settings/partners/bigquery/imports/{}/edit/"


def test_edit_changes_the_name_and_the_schedule(alice_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users", name="Users")
    page = alice_client.get(EDIT.format(import_obj.pk)).content.decode()
    assert 'value="Users"' in page

    response = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Users daily", "schedule_kind": "daily", "schedule_time": "06:30"},
    )

    assert response.status_code == 302
    import_obj.refresh_from_db()
    assert import_obj.name == "Users daily"
    assert (import_obj.schedule_kind, import_obj.schedule_time) == ("daily", dt.time(6, 30))
    assert import_obj.status == Import.Status.SCHEDULED and import_obj.next_run_at
    detail = alice_client.get(f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/")
    assert "Daily at 06:30" in detail.content.decode()


def test_a_bad_schedule_changes_nothing(alice_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users", name="Users")

    response = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Renamed", "schedule_kind": "cron", "schedule_cron": "* *"},
    )

    assert response.status_code == 200
    assert "Cron expression must have 5 fields" in response.content.decode()
    import_obj.refresh_from_db()
    assert (import_obj.name, import_obj.schedule_kind) == ("Users", "none")


def test_a_running_import_cannot_be_edited(alice_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users", name="Users")
    services.import_run_now(import_obj=import_obj, actor=alice)

    response = alice_client.post(
        EDIT.format(import_obj.pk), {"name": "Renamed", "schedule_kind": "none"}, follow=True
    )

    assert "The import is running." in response.content.decode()
    import_obj.refresh_from_db()
    assert import_obj.name == "Users"


def test_members_and_other_workspaces_cannot_edit(bob_client, charlie_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users", name="Users")

    assert bob_client.get(EDIT.format(import_obj.pk)).status_code == 403
    assert bob_client.post(EDIT.format(import_obj.pk), {"name": "x"}).status_code == 403
    assert charlie_client.get(EDIT.format(import_obj.pk)).status_code == 404
    assert charlie_client.post(EDIT.format(import_obj.pk), {"name": "x"}).status_code == 404


def test_edit_changes_the_rejection_threshold_and_refuses_one_above_100(
    alice_client, alice, connection_a
):
    import_obj = make_import(connection_a, alice, table="users", name="Users")
    page = alice_client.get(EDIT.format(import_obj.pk)).content.decode()
    assert 'name="rejection_threshold" value="50"' in page

    refused = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Renamed", "schedule_kind": "none", "rejection_threshold": "101"},
    )
    saved = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Users", "schedule_kind": "none", "rejection_threshold": "10"},
    )

    assert refused.status_code == 200
    assert "Enter a rejection threshold from 0 to 100" in refused.content.decode()
    assert saved.status_code == 302
    import_obj.refresh_from_db()
    assert (import_obj.name, import_obj.rejection_threshold) == ("Users", 10)
    detail = alice_client.get(f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/")
    assert "10 %: a run that rejects more of the rows it reads fails" in detail.content.decode()


def test_edit_says_whether_saving_once_now_starts_a_run(alice_client, alice, connection_a):
    now_import = make_import(connection_a, alice, table="users", name="Once", schedule_kind="now")
    manual = make_import(connection_a, alice, table="users", name="Manual")
    preview = f"/w/acme/settings/partners/bigquery/{connection_a.pk}/imports/new/schedule-preview/"
    htmx = {"HX-Request": "true"}

    edit_page = alice_client.get(EDIT.format(now_import.pk)).content.decode()
    manual_page = alice_client.get(EDIT.format(manual.pk)).content.decode()
    again = alice_client.get(preview, {"schedule_kind": "now", "saved_kind": "now"}, headers=htmx)
    chosen = alice_client.get(preview, {"schedule_kind": "now", "saved_kind": "none"}, headers=htmx)

    assert """hx-vals='{"saved_kind": "now"}'""" in edit_page
    assert """hx-vals='{"saved_kind": "none"}'""" in manual_page
    assert "saving again does not start another run (Run now does)" in again.content.decode()
    assert "The run starts as soon as you save the import." in chosen.content.decode()


def test_edit_to_once_now_starts_the_run_and_says_so(alice_client, alice, connection_a):
    manual = make_import(connection_a, alice, table="users", name="Manual")

    response = alice_client.post(
        EDIT.format(manual.pk), {"name": "Manual", "schedule_kind": "now"}, follow=True
    )

    assert "Import “Manual” updated. Its run has started." in response.content.decode()
    manual.refresh_from_db()
    assert manual.status == Import.Status.RUNNING
    assert manual.runs.get().status == "queued"
