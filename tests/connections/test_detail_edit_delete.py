import io
import json

from connections import crypto, views
from connections.models import Connection
from tests.factories import key_info, key_json
from tests.fixtures.connections import make_connection
from tests.fixtures.races import deleted_once_fetched
from workspaces.models import AuditEntry


def url(connection, suffix=""):
    return f"/w/{connection.workspace.slug}/settings/partners/bigquery/{connection.pk}/{suffix}"


def edit_data(connection, **overrides):
    data = {
        "name": connection.name,
        "project_id": connection.project_id,
        "dataset_id": connection.dataset_id,
    }
    data.update(overrides)
    return data


def test_detail_shows_every_field_but_the_key(alice_client, connection_a, saved_key):
    page = alice_client.get(url(connection_a)).content.decode()

    for value in ("Warehouse", "analytics-prod", "events_v2", saved_key["client_email"]):
        assert value in page
    assert saved_key["private_key_id"] in page
    assert "Untested" in page
    assert "PRIVATE KEY" not in page


def test_edit_changes_names_and_keeps_the_key_when_left_empty(
    alice_client, connection_a, saved_key
):
    before = connection_a.encrypted_key

    response = alice_client.post(url(connection_a, "edit/"), edit_data(connection_a, name="Lake"))

    connection_a.refresh_from_db()
    assert response.status_code == 302
    assert connection_a.name == "Lake"
    assert connection_a.encrypted_key == before
    entry = AuditEntry.objects.get(action="connection.updated")
    assert entry.details == {"name": {"from": "Warehouse", "to": "Lake"}}


def test_saving_the_edit_form_unchanged_audits_nothing(alice_client, connection_a):
    response = alice_client.post(url(connection_a, "edit/"), edit_data(connection_a))

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="connection.updated").exists()


def test_a_new_dataset_drops_the_old_failure_with_its_reason(alice_client, connection_a):
    reason = "BigQuery Job User: importer may not run query jobs in analytics-prod."
    Connection.objects.filter(pk=connection_a.pk).update(
        status=Connection.Status.FAILING, status_reason=reason
    )

    alice_client.post(url(connection_a, "edit/"), edit_data(connection_a, dataset_id="events_v3"))

    connection_a.refresh_from_db()
    assert (connection_a.status, connection_a.status_reason) == (Connection.Status.UNTESTED, "")
    assert "may not run query jobs" not in alice_client.get(url(connection_a)).content.decode()


def test_the_edit_form_never_shows_the_stored_key(alice_client, connection_a, saved_key):
    page = alice_client.get(url(connection_a, "edit/")).content.decode()

    assert "PRIVATE KEY" not in page
    assert saved_key["private_key_id"] in page  # shown as the current key's id


def test_rotating_the_key_replaces_it_and_is_audited(alice_client, connection_a, saved_key):
    new = key_info(email="importer-2@analytics-prod.iam.gserviceaccount.com", slot=1)

    response = alice_client.post(
        url(connection_a, "edit/"), edit_data(connection_a, key_text=json.dumps(new))
    )

    connection_a.refresh_from_db()
    assert response.status_code == 302
    assert (
        json.loads(crypto.decrypt_key(connection_a.encrypted_key))["private_key"]
        == new["private_key"]
    )
    assert connection_a.private_key_id == new["private_key_id"]
    assert connection_a.client_email == new["client_email"]
    assert connection_a.status == Connection.Status.UNTESTED
    entry = AuditEntry.objects.get(action="connection.key_rotated")
    assert entry.details["from"]["private_key_id"] == saved_key["private_key_id"]
    assert entry.details["to"]["private_key_id"] == new["private_key_id"]
    page = alice_client.get(url(connection_a)).content.decode()
    assert "Replaced the key" in page and new["private_key_id"] in page
    assert "The key was replaced. Run Test Connection to check it." in page  # the saved message


def test_a_key_from_another_project_is_named_on_the_page(alice_client, connection_a):
    """A shared service account (its key made in a central project) is normal; the page
    says whose key it is so the admin knows where its roles are granted."""
    page = alice_client.get(url(connection_a)).content.decode()
    assert "Key's project" not in page  # the key's project is the connection's

    new = key_info(email="shared@platform-iam.iam.gserviceaccount.com", project_id="platform-iam")
    alice_client.post(url(connection_a, "edit/"), edit_data(connection_a, key_text=json.dumps(new)))

    page = alice_client.get(url(connection_a)).content.decode()
    assert "Key's project</dt><dd>platform-iam" in page
    entry = AuditEntry.objects.get(action="connection.key_rotated")
    assert (
        entry.details["from"]["client_email"] == "importer@analytics-prod.iam.gserviceaccount.com"
    )
    assert entry.details["to"]["client_email"] == "shared@platform-iam.iam.gserviceaccount.com"


def test_a_new_key_on_the_same_dataset_forgets_the_old_keys_test_result(alice_client, connection_a):
    """The result was the old key's: the new one may lack the roles, so the connection is
    untested again, not still "OK"."""
    Connection.objects.filter(pk=connection_a.pk).update(
        status=Connection.Status.OK,
        location="US",
        last_test_result={"ok": True, "summary": "All checks passed.", "checks": []},
        last_tested_at=connection_a.created_at,
    )
    new = key_info(email="importer-2@analytics-prod.iam.gserviceaccount.com", slot=1)

    response = alice_client.post(
        url(connection_a, "edit/"), edit_data(connection_a, key_text=json.dumps(new))
    )

    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.status == Connection.Status.UNTESTED
    assert (connection_a.location, connection_a.last_test_result) == ("", None)
    assert connection_a.last_tested_at is None


def test_a_bad_new_key_changes_nothing(alice_client, connection_a):
    before = Connection.objects.values().get(pk=connection_a.pk)

    response = alice_client.post(
        url(connection_a, "edit/"),
        edit_data(connection_a, name="Changed", key_text='{"type": "authorized_user"}'),
    )

    assert response.status_code == 200
    assert "This is a user credential" in response.content.decode()
    assert Connection.objects.values().get(pk=connection_a.pk) == before


def test_edit_refuses_a_name_taken_case_insensitively(
    alice_client, alice, workspace_a, connection_a
):
    from tests.connections.conftest import make_connection

    other = make_connection(workspace_a, alice, name="Second")

    response = alice_client.post(url(other, "edit/"), edit_data(other, name="WAREHOUSE"))

    assert response.status_code == 200
    assert "Connection name is already used" in response.content.decode()
    other.refresh_from_db()
    assert other.name == "Second"


def test_delete_asks_then_deletes_and_audits(alice_client, connection_a):
    confirm = alice_client.get(url(connection_a, "delete/"))
    assert confirm.status_code == 200
    assert "Delete “Warehouse”?" in confirm.content.decode()
    assert Connection.objects.exists()

    response = alice_client.post(url(connection_a, "delete/"), follow=True)

    assert not Connection.objects.exists()
    assert "Connection “Warehouse” deleted." in response.content.decode()
    assert AuditEntry.objects.filter(action="connection.deleted", target_label="Warehouse").exists()


def test_members_can_view_but_not_change(bob_client, connection_a):
    assert bob_client.get(url(connection_a)).status_code == 200
    for suffix in ("edit/", "delete/"):
        assert bob_client.get(url(connection_a, suffix)).status_code == 403
    for suffix in ("edit/", "delete/", "test/", "edit/test/"):
        assert (
            bob_client.post(url(connection_a, suffix), edit_data(connection_a)).status_code == 403
        )
    assert Connection.objects.filter(pk=connection_a.pk, name="Warehouse").exists()
    page = bob_client.get(url(connection_a)).content.decode()
    assert "Edit</a>" not in page and "Delete</a>" not in page


def test_another_workspaces_connection_is_404_for_every_url(charlie_client, connection_a):
    for suffix in ("", "edit/", "delete/"):
        response = charlie_client.get(url(connection_a, suffix))
        assert response.status_code == 404
        assert b"Warehouse" not in response.content
    for suffix in ("edit/", "delete/", "test/", "edit/test/"):
        assert (
            charlie_client.post(url(connection_a, suffix), edit_data(connection_a)).status_code
            == 404
        )
    # even with the URL rewritten into charlie's own workspace
    response = charlie_client.get(f"/w/globex/settings/partners/bigquery/{connection_a.pk}/")
    assert response.status_code == 404
    assert Connection.objects.filter(pk=connection_a.pk).exists()


def test_rotate_connection_keys_reencrypts_under_the_newest_key(connection_a, settings, saved_key):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old = list(settings.FERNET_KEYS)
    new = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new, *old]

    out = io.StringIO()
    call_command("rotate_connection_keys", stdout=out)

    assert out.getvalue() == "Re-encrypted 1 connection key with the newest Fernet key.\n"
    connection_a.refresh_from_db()
    settings.FERNET_KEYS = [new]
    assert (
        json.loads(crypto.decrypt_key(connection_a.encrypted_key))["private_key"]
        == saved_key["private_key"]
    )


def test_rotation_in_batches_reencrypts_each_key_once(workspace_a, alice, settings):
    from cryptography.fernet import Fernet

    from connections.services import connections_reencrypt

    made = [make_connection(workspace_a, alice, name=f"W{i}") for i in range(5)]
    new = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new, *settings.FERNET_KEYS]

    assert connections_reencrypt(batch_size=2) == 5

    settings.FERNET_KEYS = [new]
    for connection in made:
        connection.refresh_from_db()
        assert json.loads(crypto.decrypt_key(connection.encrypted_key))["type"] == "service_account"


def test_unknown_connection_ids_are_404(alice_client, workspace_a):
    response = alice_client.get(
        "/w/acme/settings/partners/bigquery/00000000-0000-0000-0000-000000000000/"
    )
    assert response.status_code == 404


def test_the_pasted_key_is_marked_sensitive_for_error_reports(alice_client):
    from connections import views

    assert views.connection_add.__wrapped__  # decorated
    response = alice_client.post(
        "/w/acme/settings/partners/bigquery/add/",
        {"name": "X", "project_id": "analytics-prod", "dataset_id": "d", "key_text": key_json()},
    )
    assert response.wsgi_request.sensitive_post_parameters == ("key_text",)


def test_saving_an_edit_of_a_connection_deleted_meanwhile_is_404_and_does_not_restore_it(
    alice_client, connection_a, monkeypatch
):
    deleted_once_fetched(monkeypatch, views, "get_in_workspace")

    response = alice_client.post(url(connection_a, "edit/"), edit_data(connection_a, name="Lake"))

    assert response.status_code == 404
    assert not Connection.objects.exists()  # a plain save would have inserted it again
    assert not AuditEntry.objects.filter(action="connection.updated").exists()


def test_testing_a_connection_deleted_meanwhile_is_404(
    alice_client, google, bq_connection, monkeypatch
):
    deleted_once_fetched(monkeypatch, views, "get_in_workspace")

    response = alice_client.post(url(bq_connection, "test/"))

    assert response.status_code == 404
    assert not Connection.objects.exists()
    assert not AuditEntry.objects.filter(action="connection.tested").exists()
