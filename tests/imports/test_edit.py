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


def test_the_edit_form_starts_from_the_saved_schedule_in_the_workspaces_zone(
    alice_client, alice, workspace_a, connection_a
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    once = make_import(
        connection_a,
        alice,
        table="users",
        name="Once",
        schedule_kind="once",
        schedule_at=dt.datetime(2030, 7, 1, 7, 30, tzinfo=dt.UTC),
        maximum_bytes_billed=200 * 2**30,
    )
    hourly = make_import(
        connection_a,
        alice,
        table="users",
        name="Hourly",
        schedule_kind="hourly",
        schedule_time=dt.time(0, 15),
    )
    monday = make_import(
        connection_a,
        alice,
        table="users",
        name="Mondays",
        schedule_kind="weekly",
        schedule_weekday=0,
        schedule_time=dt.time(6, 45),
    )

    def initial(import_obj):
        context = alice_client.get(EDIT.format(import_obj.pk)).context
        form, name_form = context["form"], context["name_form"]
        return {
            "kind": form["schedule_kind"].value(),
            "at": form["schedule_at"].value(),
            "minute": form["schedule_minute"].value(),
            "time": form["schedule_time"].value(),
            "weekday": form["schedule_weekday"].value(),
            "limit": name_form["maximum_bytes_billed"].value(),
        }

    assert initial(once) == {
        "kind": "once",
        "at": "2030-07-01T09:30",  # 07:30 UTC is 09:30 in Berlin's summer
        "minute": 0,
        "time": None,
        "weekday": None,
        "limit": "200 GB",
    }
    assert initial(hourly) | {"limit": None} == {
        "kind": "hourly",
        "at": None,
        "minute": 15,
        "time": "00:15",
        "weekday": None,
        "limit": None,
    }
    assert initial(monday)["weekday"] == 0  # Monday is 0, not "no day"
    assert initial(monday)["time"] == "06:45"
    weekdays = make_import(
        connection_a,
        alice,
        table="users",
        name="Weekdays",
        schedule_kind="cron",
        schedule_cron="0 9 * * 1-5",
    )
    form = alice_client.get(EDIT.format(weekdays.pk)).context["form"]
    assert form["schedule_cron"].value() == "0 9 * * 1-5"


def test_edit_saves_the_byte_limit_and_blank_means_the_connections(
    alice_client, alice, connection_a
):
    import_obj = make_import(connection_a, alice, table="users", name="Users")

    response = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Users", "schedule_kind": "none", "maximum_bytes_billed": "2 TB"},
    )

    assert response.status_code == 302
    import_obj.refresh_from_db()
    assert import_obj.maximum_bytes_billed == 2 * 2**40
    alice_client.post(EDIT.format(import_obj.pk), {"name": "Users", "schedule_kind": "none"})
    import_obj.refresh_from_db()
    assert import_obj.maximum_bytes_billed is None


def test_the_edit_form_starts_from_the_saved_threshold_normalization_and_lookback(
    alice_client, alice, connection_a
):
    import_obj = make_import(
        connection_a,
        alice,
        table="users",
        name="Users",
        rejection_threshold=10,
        identity_trim=True,
        identity_lowercase=True,
        null_policy="overwrite",
        sync_mode="incremental",
        cursor_column="updated_at",
        cursor_type="TIMESTAMP",
        lookback_seconds=Import.Lookback.THREE_DAYS,
    )

    context = alice_client.get(EDIT.format(import_obj.pk)).context

    assert context["threshold_form"]["rejection_threshold"].value() == 10
    semantics = context["semantics_form"]
    assert semantics["identity_trim"].value() is True
    assert semantics["identity_lowercase"].value() is True
    assert semantics["null_policy"].value() == "overwrite"
    assert context["lookback_form"]["lookback_seconds"].value() == Import.Lookback.THREE_DAYS


def test_another_workspaces_import_is_not_found_under_your_own_workspace(
    charlie_client, alice, connection_a
):
    """charlie is admin of globex, but alice's import is not found under /w/globex/."""
    import_obj = make_import(connection_a, alice, table="users", name="Users")
    url = EDIT.format(import_obj.pk).replace("/w/acme/", "/w/globex/")

    assert charlie_client.get(url).status_code == 404
    response = charlie_client.post(url, {"name": "Taken", "schedule_kind": "none"})

    assert response.status_code == 404
    import_obj.refresh_from_db()
    assert import_obj.name == "Users"
