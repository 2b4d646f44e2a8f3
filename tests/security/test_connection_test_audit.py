"""Every Test Connection run is in the audit log: who, on which connection (or the Add
Database form's values), and the outcome; never anything of the key."""

import json

from connections.models import Connection
from connections.services import connection_record_test
from tests.connections.conftest import make_connection
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.security.needles import TOKEN_PREFIX, key_needles, leaks
from workspaces.models import AuditEntry

BASE = "/w/acme/settings/partners/bigquery/"
HTMX = {"HX-Request": "true"}


def recorded_tests():
    return list(AuditEntry.objects.filter(action="connection.tested").order_by("id"))


def entry_text(entry) -> str:
    return json.dumps([entry.target_label, entry.target_id, entry.details])


def test_a_test_on_the_add_database_form_is_recorded_without_the_key(alice_client, alice, google):
    response = alice_client.post(
        f"{BASE}add/test/",
        {
            "name": "W",
            "project_id": PROJECT,
            "dataset_id": DATASET,
            "key_text": google.key.to_json(),
        },
        headers=HTMX,
    )
    assert response.context["result"]["ok"] is True

    (entry,) = recorded_tests()
    assert (entry.actor, entry.target_type, entry.target_id) == (alice, "connection", "")
    assert entry.target_label == "unsaved form"
    assert entry.details == {"outcome": "passed", "failed_check": "", "source": "form"}
    assert (
        leaks(entry_text(entry), {**key_needles(google.key.info, "key"), "token": TOKEN_PREFIX})
        == []
    )
    assert not Connection.objects.exists()


def test_a_failing_test_of_a_saved_connection_is_recorded_on_it(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id="no_such_dataset"
    )

    alice_client.post(f"{BASE}{connection.pk}/test/", headers=HTMX)

    (entry,) = recorded_tests()
    assert (entry.actor, entry.target_id, entry.target_label) == (
        alice,
        str(connection.pk),
        connection.name,
    )
    assert entry.details == {
        "outcome": "failed",
        "failed_check": "Project and dataset",
        "source": "saved",
    }
    assert (
        leaks(entry_text(entry), {**key_needles(google.key.info, "key"), "token": TOKEN_PREFIX})
        == []
    )
    page = alice_client.get(f"{BASE}{connection.pk}/").content.decode()
    assert "Ran Test Connection: failed at “Project and dataset”" in page


def test_an_offline_failure_on_the_edit_form_is_recorded_on_the_connection(
    alice_client, alice, workspace_a
):
    connection = make_connection(workspace_a, alice)

    alice_client.post(
        f"{BASE}{connection.pk}/edit/test/",
        {"name": connection.name, "project_id": "Not A Project", "dataset_id": "events"},
        headers=HTMX,
    )

    (entry,) = recorded_tests()
    assert entry.target_id == str(connection.pk)
    assert entry.details["outcome"] == "failed" and entry.details["source"] == "form"
    assert "Not A Project" not in entry_text(entry)


def test_the_audit_names_the_check_that_failed_not_one_unconfirmed_before_it(alice, workspace_a):
    """Google was unreachable for one check and another then failed outright: the failure is
    what the admin has to fix."""
    connection = make_connection(workspace_a, alice)
    Connection.objects.filter(pk=connection.pk).update(location="EU")
    connection.refresh_from_db()  # as the page reads it, with the location an earlier test set
    result = {
        "ok": False,
        "summary": "Project and dataset: not found.",
        "location": "",
        "checks": [
            {"id": "auth", "label": "Authentication", "status": "pass"},
            {"id": "job_user", "label": "BigQuery Job User", "status": "unconfirmed"},
            {"id": "dataset", "label": "Project and dataset", "status": "fail"},
            {"id": "scratch", "label": "Scratch dataset", "status": "skipped"},
        ],
    }

    connection_record_test(connection=connection, actor=alice, result=result)

    (entry,) = recorded_tests()
    assert entry.details["failed_check"] == "Project and dataset"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.FAILING
    assert connection.location == "EU"  # a test that learned no location forgets none
