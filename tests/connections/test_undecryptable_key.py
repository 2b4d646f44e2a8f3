"""A stored key that no FERNET_KEYS entry opens (an operator dropped the key it was
encrypted with): every place that needs the key says so with the fix, sends nothing to
Google, and never answers with a server error."""

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from connections.check import CHECKS
from connections.models import Connection
from imports import browse, services
from imports.models import ImportRun, RunPart
from imports.run import execute, parts
from tests.api.conftest import ApiClient, make_token
from tests.fixtures.connections import make_connection
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)
from tests.imports.test_runner_scratch import table_exists

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
    assert [check["id"] for check in others] == [i for i, _ in CHECKS if i != "key"]
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


def test_the_edit_forms_test_with_a_new_key_tests_that_key_not_the_kept_one(
    alice_client, alice, workspace_a, google, lost_key
):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    lost_key()

    response = alice_client.post(
        f"{BASE}{connection.pk}/edit/test/",
        {
            "name": connection.name,
            "project_id": PROJECT,
            "dataset_id": DATASET,
            "key_text": google.key.to_json(),
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    key = response.context["result"]["checks"][0]
    assert (key["id"], key["status"]) == ("key", "pass")
    assert google.stack.token_server.requests  # the typed key was sent to Google


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


def test_a_split_runs_part_fails_the_run_with_the_reason_and_keeps_its_table(
    google, bq_connection, alice, lost_key, settings, caplog
):
    """A part taken after the key was lost ends the run as failed with the fix; its result
    table is left to expire (deleting it needs the key), and the part's worker does not crash."""
    settings.IMPORT_PAGE_SIZE = 64
    settings.IMPORT_RUN_PARTS = 3
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 1000))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    assert execute.execute_run(str(run.pk)) == "parts"
    queued = RunPart.objects.filter(run=run, status=RunPart.Status.QUEUED)
    first, second = queued.values_list("pk", flat=True)
    lost_key()

    assert parts.execute_part(first) == ImportRun.Status.FAILED
    assert parts.execute_part(second) == "skipped"  # the run has ended

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error_message.startswith(DETAIL) and FIX in run.error_message
    assert "could not delete its result table" in caplog.text
    assert table_exists(google.stack, run.result_table)
