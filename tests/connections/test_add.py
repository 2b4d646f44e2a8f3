import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from connections import crypto
from connections.models import Connection
from tests.factories import key_info, key_json
from tests.security.needles import key_leaks
from workspaces.models import AuditEntry

ADD = "/w/acme/settings/partners/bigquery/add/"


def post(client, url=ADD, *, upload=None, follow=False, **data):
    payload = {"name": "Warehouse", "project_id": "analytics-prod", "dataset_id": "events_v2"}
    payload.update(data)
    if upload is not None:
        payload["key_file"] = SimpleUploadedFile("key.json", upload, "application/json")
    return client.post(url, payload, follow=follow)


def test_it_saves_a_connection_from_an_uploaded_key(alice_client, alice):
    info = key_info()

    response = post(alice_client, upload=json.dumps(info).encode())

    connection = Connection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/w/acme/settings/partners/bigquery/{connection.pk}/"
    assert connection.name == "Warehouse"
    assert connection.client_email == info["client_email"]
    assert connection.private_key_id == info["private_key_id"]
    assert connection.created_by == alice
    assert connection.status == Connection.Status.UNTESTED
    assert (
        json.loads(crypto.decrypt_key(connection.encrypted_key))["private_key"]
        == info["private_key"]
    )


def test_it_saves_a_connection_from_a_pasted_key_with_a_bom(alice_client):
    response = post(alice_client, key_text="\ufeff" + key_json())

    assert response.status_code == 302
    assert Connection.objects.count() == 1


def test_the_stored_column_holds_ciphertext_only(alice_client):
    info = key_info()
    post(alice_client, key_text=json.dumps(info))

    stored = Connection.objects.values_list("encrypted_key", flat=True).get()
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert "PRIVATE KEY" not in stored
    assert key_leaks(stored, info) == []
    assert info["client_email"] not in stored


def test_create_writes_an_audit_entry_without_secrets(alice_client, alice):
    info = key_info()
    post(alice_client, key_text=json.dumps(info))

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target_label) == (
        "connection.created",
        alice,
        "Warehouse",
    )
    assert entry.details["private_key_id"] == info["private_key_id"]
    assert "PRIVATE KEY" not in json.dumps(entry.details)


def test_a_failed_submit_keeps_the_typed_values_but_never_the_key(alice_client):
    info = key_info()
    response = post(alice_client, project_id="Bad_Project", key_text=json.dumps(info))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="Warehouse"' in page
    assert 'value="events_v2"' in page
    assert "PRIVATE KEY" not in page
    assert key_leaks(page, info) == []
    assert not Connection.objects.exists()


def test_the_custom_key_box_takes_no_more_than_the_server_accepts(alice_client):
    page = alice_client.get(ADD).content.decode()

    assert re.search(r'<textarea name="key_text"[^>]* maxlength="65536"', page)


def test_a_key_from_another_project_is_accepted_with_a_note(alice_client):
    response = post(alice_client, key_text=key_json(project_id="other-project"), follow=True)

    assert Connection.objects.count() == 1
    assert (
        "The key belongs to project other-project, not analytics-prod" in response.content.decode()
    )


def test_a_member_cannot_add(bob_client):
    assert bob_client.get(ADD).status_code == 403
    assert post(bob_client, key_text=key_json()).status_code == 403
    assert not Connection.objects.exists()


def test_another_workspace_cannot_add_here(charlie_client):
    assert post(charlie_client, key_text=key_json()).status_code == 404
    assert not Connection.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_refused(alice_client, method):
    assert getattr(alice_client, method)(ADD).status_code == 405


@pytest.fixture
def another_admin_saves_first(workspace_a, alice):
    """Another admin's Save of the same name lands between this form's check and its save."""
    from django.db.models.signals import pre_save

    from tests.connections.conftest import make_connection

    raced = []

    def save_the_same_name_first(sender, instance, **kwargs):
        if not raced:
            raced.append(None)  # the other admin's own save passes through here too
            raced[0] = make_connection(workspace_a, alice, name=instance.name.upper())

    pre_save.connect(save_the_same_name_first, sender=Connection, weak=False)
    yield raced
    pre_save.disconnect(save_the_same_name_first, sender=Connection)


def test_a_name_saved_by_another_admin_meanwhile_gets_the_name_message(
    alice_client, another_admin_saves_first
):
    audited = AuditEntry.objects.count()

    response = post(alice_client, key_text=key_json())

    assert response.status_code == 200
    assert "Connection name is already used by another connection." in response.content.decode()
    assert another_admin_saves_first  # the name was taken before this Save
    # Made from inside this Save, the other admin's save shares its transaction and goes too.
    assert not Connection.objects.exists()
    assert AuditEntry.objects.count() == audited


def test_a_new_name_saved_by_another_admin_meanwhile_gets_the_name_message_on_edit(
    alice_client, connection_a, another_admin_saves_first
):
    before = Connection.objects.values().get(pk=connection_a.pk)
    edit = f"/w/acme/settings/partners/bigquery/{connection_a.pk}/edit/"

    response = alice_client.post(
        edit, {"name": "Renamed", "project_id": "analytics-prod", "dataset_id": "events_v2"}
    )

    assert response.status_code == 200
    assert "Connection name is already used by another connection." in response.content.decode()
    assert another_admin_saves_first[0].name == "RENAMED"
    assert list(Connection.objects.values()) == [before]
