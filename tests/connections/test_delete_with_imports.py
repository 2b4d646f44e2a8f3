from django.contrib.messages import get_messages

from imports import views_connections
from imports.models import Import, ImportRun
from imports.services import import_pause, run_create
from tests.fixtures.races import deleted_once_fetched
from tests.imports.conftest import make_import
from workspaces.models import AuditEntry


def url(connection, suffix=""):
    return f"/w/acme/settings/partners/bigquery/{connection.pk}/{suffix}"


def test_delete_lists_the_active_imports_then_stops_and_deletes_them(
    alice_client, alice, connection_a
):
    ready = make_import(connection_a, alice, table="users", name="Ready one")
    scheduled = make_import(
        connection_a, alice, table="users", name="Nightly", schedule_kind="hourly"
    )
    paused = make_import(
        connection_a, alice, table="users", name="Paused one", schedule_kind="hourly"
    )
    paused = import_pause(import_obj=paused, actor=alice)
    running = make_import(connection_a, alice, table="users", name="Running one")
    run = run_create(import_obj=running, scheduled_for=running.created_at, trigger="manual")
    running.save()
    done = make_import(connection_a, alice, table="users", name="Old one")
    Import.objects.filter(pk=done.pk).update(status=Import.Status.COMPLETED)
    assert {i.status for i in (ready, scheduled, paused, running)} == {
        "ready",
        "scheduled",
        "paused",
        "running",
    }

    page = alice_client.get(url(connection_a, "delete/")).content.decode()

    assert "4 active imports will be stopped." in page
    for imp in (ready, scheduled, paused, running):  # each links to its page, to review it
        assert f'<a href="{imp.get_absolute_url()}">{imp.name}</a>' in page
    assert "Old one" not in page  # not active: listed in the count only
    assert "5 imports and their run history will be deleted" in page

    response = alice_client.post(url(connection_a, "delete/"), follow=True)

    assert "4 active imports were stopped and deleted." in response.content.decode()
    assert not Import.objects.exists()
    assert not ImportRun.objects.filter(pk=run.pk).exists()
    entry = AuditEntry.objects.get(action="connection.deleted")
    assert sorted(entry.details["stopped_imports"]) == [
        "Nightly",
        "Paused one",
        "Ready one",
        "Running one",
    ]


def test_one_stopped_import_is_told_in_the_singular(alice_client, alice, connection_a):
    make_import(connection_a, alice, table="users", name="Only one")

    response = alice_client.post(url(connection_a, "delete/"), follow=True)

    assert "1 active import was stopped and deleted." in response.content.decode()


def test_another_workspaces_connection_is_not_found_under_your_own_workspace(
    charlie_client, alice, connection_a
):
    """charlie is admin of globex: alice's connection and its imports are out of his reach
    under /w/globex/ too."""
    make_import(connection_a, alice, table="users", name="Nightly", schedule_kind="hourly")
    delete = url(connection_a, "delete/").replace("/w/acme/", "/w/globex/")

    assert charlie_client.get(delete).status_code == 404
    assert charlie_client.post(delete).status_code == 404

    assert Import.objects.get(connection=connection_a).status == "scheduled"
    assert not AuditEntry.objects.filter(action="connection.deleted").exists()


def test_without_active_imports_the_message_mentions_none(alice_client, alice, connection_a):
    done = make_import(connection_a, alice, table="users", name="Old one")
    Import.objects.filter(pk=done.pk).update(status=Import.Status.COMPLETED)

    response = alice_client.post(url(connection_a, "delete/"))

    assert response.status_code == 302
    assert response["Location"] == "/w/acme/settings/partners/bigquery/"
    [message] = get_messages(response.wsgi_request)
    assert message.message == f"Connection “{connection_a.name}” deleted."
    assert not Import.objects.exists()


def test_deleting_a_connection_another_admin_deleted_meanwhile_is_404(
    alice_client, alice, connection_a, monkeypatch
):
    """Two admins confirm Delete at once: the second request fetched the connection before
    the first deleted it, and finds it gone under the lock."""
    make_import(connection_a, alice, table="users", name="Ready one")
    deleted_once_fetched(monkeypatch, views_connections, "get_in_workspace")

    response = alice_client.post(url(connection_a, "delete/"))

    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="connection.deleted").exists()
