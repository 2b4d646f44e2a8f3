"""A stored key that no FERNET_KEYS entry opens (an operator dropped the key it was
encrypted with): every place that needs the key says so with the fix, sends nothing to
Google, and never answers with a server error."""

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from connections.models import Connection
from imports import browse
from imports.models import ImportRun
from imports.run import execute
from tests.api.conftest import ApiClient, make_token
from tests.fixtures.connections import make_connection
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows

BASE = "/w/acme/settings/partners/bigquery/"
HTMX = {"HX-Request": "true"}
DETAIL = "The stored key cannot be decrypted: the FERNET_KEYS setting lacks the key"
FIX = "Edit the connection and upload its service account key again"


@pytest.fixture
def lost_key(settings):
    """Connections made before this fixture keep keys encrypted with a key now dropped."""

    def drop() -> None:
        settings.FERNET_KEYS = [Fernet.generate_key().decode()]

    cache.clear()  # Test Connection's per-user allowance
    return drop


def assert_fails_at_the_key(result: dict) -> None:
    key, *others = result["checks"]
    assert (key["id"], key["status"]) == ("key", "fail")
    assert key["detail"].startswith(DETAIL) and key["fix"].startswith(FIX)
    assert {check["status"] for check in others} == {"skipped"}
    assert result["ok"] is False


def test_the_connections_test_fails_at_the_key_and_marks_it_failing(
    alice_client, alice, workspace_a, google, lost_key
):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    lost_key()

    tested = alice_client.post(f"{BASE}{connection.pk}/test/", headers=HTMX)
    page = alice_client.post(f"{BASE}{connection.pk}/test/", follow=True)

    assert tested.status_code == 200
    assert_fails_at_the_key(tested.context["result"])
    assert page.status_code == 200
    assert "Test Connection failed. Service account key: The stored key cannot" in (
        page.content.decode()
    )
    connection.refresh_from_db()
    assert connection.status == Connection.Status.FAILING
    assert google.stack.token_server.requests == []


def test_the_edit_forms_test_without_a_new_key_fails_at_the_kept_key(
    alice_client, alice, workspace_a, google, lost_key
):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    lost_key()

    response = alice_client.post(
        f"{BASE}{connection.pk}/edit/test/",
        {"name": connection.name, "project_id": "analytics-prod", "dataset_id": "events_v2"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert_fails_at_the_key(response.context["result"])
    assert google.stack.token_server.requests == []


def test_the_apis_test_fails_at_the_key(alice, workspace_a, google, lost_key):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    api = ApiClient(make_token(alice, workspace_a, "run"))
    lost_key()

    response = api.post(f"/api/v1/workspaces/acme/connections/{connection.pk}/test/")

    assert response.status_code == 200, response.content
    assert_fails_at_the_key(response.json()["result"])
    assert response.json()["connection"]["status"] == "failing"


def test_a_run_fails_with_the_reason_and_the_fix(google, bq_connection, alice, lost_key):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    import_obj = make_import(bq_connection, alice, table=table)
    run = ImportRun.objects.create(
        import_obj=import_obj, workspace=import_obj.workspace, scheduled_for=import_obj.created_at
    )
    lost_key()

    assert execute.execute_run(str(run.pk)) == ImportRun.Status.FAILED

    run.refresh_from_db()
    assert run.error_message.startswith(DETAIL) and FIX in run.error_message


def test_browsing_the_dataset_says_why_it_cannot(google, bq_connection, alice, lost_key):
    lost_key()

    with pytest.raises(browse.BrowseError) as refused:
        browse.table_names(bq_connection, user=alice)

    assert refused.value.detail.startswith(DETAIL) and refused.value.fix.startswith(FIX)


def test_the_connection_can_still_be_renamed_and_given_a_new_key(
    alice_client, alice, workspace_a, google, lost_key
):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    lost_key()
    fields = {"project_id": "analytics-prod", "dataset_id": "events_v2"}

    renamed = alice_client.post(f"{BASE}{connection.pk}/edit/", {"name": "Lake", **fields})
    rekeyed = alice_client.post(
        f"{BASE}{connection.pk}/edit/",
        {"name": "Lake", **fields, "key_text": google.key.to_json()},
    )

    assert renamed.status_code == 302 and rekeyed.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Lake"
    assert connection.status == Connection.Status.UNTESTED  # the new key is to be tested
    tested = alice_client.post(f"{BASE}{connection.pk}/test/", headers=HTMX)
    assert tested.context["result"]["checks"][0]["status"] == "pass"  # opened with the new key
