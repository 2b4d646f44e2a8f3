"""The workspace settings page: admins set the name and the time zone; audited; recurring
schedules follow the new zone."""

import datetime as dt

import pytest
import time_machine

from imports import services
from imports.models import Import
from tests.connections.conftest import make_connection
from tests.imports.conftest import make_import
from workspaces.models import AuditEntry, Workspace

SETTINGS = "/w/acme/settings/workspace/"
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def test_an_admin_sees_the_current_values(alice_client, workspace_a):
    page = alice_client.get(SETTINGS).content.decode()

    assert 'name="name"' in page and 'value="Acme"' in page
    assert '<option value="UTC" selected>UTC</option>' in page
    assert '<optgroup label="America">' in page
    assert '<option value="America/New_York">New York</option>' in page
    assert f'href="{SETTINGS}"' in page  # in the navigation


def test_saving_changes_name_and_zone_and_records_who_did_it(alice_client, alice, workspace_a):
    response = alice_client.post(
        SETTINGS, {"name": "Acme Europe", "time_zone": "Europe/Berlin"}, follow=True
    )

    workspace_a.refresh_from_db()
    assert (workspace_a.name, workspace_a.time_zone) == ("Acme Europe", "Europe/Berlin")
    entry = AuditEntry.objects.get(action="workspace.updated")
    assert entry.actor == alice
    assert entry.details == {
        "name": {"from": "Acme", "to": "Acme Europe"},
        "time_zone": {"from": "UTC", "to": "Europe/Berlin"},
    }
    page = response.content.decode()
    assert "Workspace settings saved." in page
    assert "Time zone from “UTC” to “Europe/Berlin”" in page  # History
    assert '<option value="Europe/Berlin" selected>Berlin</option>' in page


def test_saving_the_same_values_records_nothing(alice_client, workspace_a):
    alice_client.post(SETTINGS, {"name": "Acme", "time_zone": "UTC"})

    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "time_zone": "UTC"}, "name", "Workspace name is required."),
        ({"name": "x" * 101, "time_zone": "UTC"}, "name", "Workspace name must be at most 100 characters."),
        ({"name": "A\u202eB", "time_zone": "UTC"}, "name", "Workspace name must not contain control characters."),
        ({"name": "A\x00B", "time_zone": "UTC"}, "name", "Workspace name must not contain control characters."),
        ({"name": "Acme", "time_zone": "Mars/Olympus"}, "time_zone", "Choose a time zone from the list."),
        ({"name": "Acme", "time_zone": ""}, "time_zone", "Time zone is required."),
        # Files of the zone database that are no place: the host's clock, placeholders.
        ({"name": "Acme", "time_zone": "localtime"}, "time_zone", "Choose a time zone from the list."),
        ({"name": "Acme", "time_zone": "Factory"}, "time_zone", "Choose a time zone from the list."),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_a_message(alice_client, workspace_a, data, field, message):
    response = alice_client.post(SETTINGS, data)

    assert response.status_code == 200
    assert response.context["form"].errors == {field: [message]}
    workspace_a.refresh_from_db()
    assert (workspace_a.name, workspace_a.time_zone) == ("Acme", "UTC")


def test_members_may_not_see_or_change_it(bob_client, workspace_a):
    assert bob_client.get(SETTINGS).status_code == 403
    assert bob_client.post(SETTINGS, {"name": "Mine", "time_zone": "UTC"}).status_code == 403
    assert SETTINGS not in bob_client.get("/w/acme/settings/partners/bigquery/").content.decode()
    assert Workspace.objects.get(slug="acme").name == "Acme"


def test_another_workspaces_admin_gets_not_found(charlie_client, workspace_a):
    assert charlie_client.post(SETTINGS, {"name": "Mine", "time_zone": "UTC"}).status_code == 404


def test_a_new_zone_moves_the_next_run_of_recurring_schedules_only(
    alice_client, alice, workspace_a
):
    connection = make_connection(workspace_a, alice)
    with time_machine.travel(NOW, tick=False):
        daily = make_import(
            connection,
            alice,
            table="users",
            name="Daily",
            schedule_kind="daily",
            schedule_time=dt.time(9, 0),
        )
        once = make_import(
            connection,
            alice,
            table="users",
            name="Once",
            schedule_kind="once",
            schedule_at=NOW + dt.timedelta(days=3),
        )
        assert daily.next_run_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)

        alice_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Tokyo"})

    daily.refresh_from_db()
    once.refresh_from_db()
    assert daily.next_run_at == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)  # 09:00 in Tokyo
    assert daily.status == Import.Status.SCHEDULED
    assert once.next_run_at == NOW + dt.timedelta(days=3)


def test_hourly_and_cron_schedules_follow_the_new_zone_and_other_workspaces_stay(
    alice_client, alice, workspace_a, charlie, workspace_b
):
    """Kolkata is UTC+05:30: an hourly run at minute 0 moves to minute 30 of UTC's hour and a
    cron at 09:00 to 03:30 UTC; another workspace's daily import keeps its UTC clock, and an
    invalid stored schedule (the dispatcher fails it) does not stop the change."""
    connection = make_connection(workspace_a, alice)
    with time_machine.travel(NOW, tick=False):
        hourly = make_import(
            connection, alice, table="users", name="Hourly",
            schedule_kind="hourly", schedule_time=dt.time(0, 0),
        )  # fmt: skip
        cron = make_import(
            connection, alice, table="users", name="Cron",
            schedule_kind="cron", schedule_cron="0 9 * * *",
        )  # fmt: skip
        broken = make_import(
            connection, alice, table="users", name="Broken",
            schedule_kind="cron", schedule_cron="0 9 * * *",
        )  # fmt: skip
        Import.objects.filter(pk=broken.pk).update(schedule_cron="not a cron")
        elsewhere = make_import(
            make_connection(workspace_b, charlie), charlie, table="users", name="Elsewhere",
            schedule_kind="daily", schedule_time=dt.time(9, 0),
        )  # fmt: skip
        assert hourly.next_run_at == dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)
        assert cron.next_run_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)

        response = alice_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Kolkata"})

    assert response.status_code == 302
    for import_obj in (hourly, cron, broken, elsewhere):
        import_obj.refresh_from_db()
    assert hourly.next_run_at == dt.datetime(2026, 3, 2, 12, 30, tzinfo=dt.UTC)
    assert cron.next_run_at == dt.datetime(2026, 3, 3, 3, 30, tzinfo=dt.UTC)
    assert broken.next_run_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    assert elsewhere.next_run_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    assert Workspace.objects.get(slug="acme").time_zone == "Asia/Kolkata"


def test_the_next_run_of_an_import_running_or_paused_now_follows_the_new_zone_too(
    alice_client, alice, workspace_a
):
    """The dispatcher planned the next run when it started this one; a zone changed while
    the run goes on must move that plan, or the next run comes at the old zone's 09:00. A
    paused import's planned run (its Stop confirmation quotes it) moves as well."""
    connection = make_connection(workspace_a, alice)
    with time_machine.travel(NOW, tick=False):
        daily = make_import(
            connection, alice, table="users", name="Daily",
            schedule_kind="daily", schedule_time=dt.time(9, 0),
        )  # fmt: skip
        paused = make_import(
            connection, alice, table="users", name="Paused",
            schedule_kind="daily", schedule_time=dt.time(10, 0),
        )  # fmt: skip
        services.import_pause(import_obj=paused, actor=alice)
    nine = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(nine + dt.timedelta(minutes=5), tick=False):
        assert services.imports_dispatch_due() == 1
        daily.refresh_from_db()
        assert (daily.status, daily.next_run_at) == ("running", nine + dt.timedelta(days=1))

        alice_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Tokyo"})

    daily.refresh_from_db()
    assert daily.status == Import.Status.RUNNING
    assert daily.next_run_at == dt.datetime(2026, 3, 4, 0, 0, tzinfo=dt.UTC)  # 09:00 in Tokyo
    paused.refresh_from_db()
    assert paused.status == Import.Status.PAUSED
    assert paused.next_run_at == dt.datetime(2026, 3, 4, 1, 0, tzinfo=dt.UTC)  # 10:00 in Tokyo


def test_pages_show_times_in_the_new_zone(alice_client, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    connection.created_at = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    connection.save()

    alice_client.post(SETTINGS, {"name": "Acme", "time_zone": "Asia/Tokyo"})
    page = alice_client.get(f"/w/acme/settings/partners/bigquery/{connection.pk}/").content

    assert "Mar 2, 2026 21:00 JST" in page.decode()


def test_a_new_name_alone_leaves_an_overdue_run_where_it_is(alice_client, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    with time_machine.travel(NOW, tick=False):
        daily = make_import(
            connection,
            alice,
            table="users",
            name="Daily",
            schedule_kind="daily",
            schedule_time=dt.time(9, 0),
        )
        overdue = NOW - dt.timedelta(minutes=5)  # the dispatcher has not caught up yet
        Import.objects.filter(pk=daily.pk).update(next_run_at=overdue)

        alice_client.post(SETTINGS, {"name": "Acme Global", "time_zone": "UTC"})

    daily.refresh_from_db()
    assert daily.next_run_at == overdue
