"""Test Connection's Storage Read API check (BigQuery Read Session User) and Google's
documented failures where Test Connection meets them, through the real client and the gate."""

import pytest

from connections.models import Connection
from standins.policy import BIGQUERY_STORAGE_API, CRM_API
from tests.connections.conftest import make_connection
from tests.connections.test_connection_test import check, run_test, statuses
from tests.fixtures.standin_world import DATASET, PROJECT

READ_SESSION_USER = "roles/bigquery.readSessionUser"


def test_without_read_session_user_the_test_passes_with_a_warning(alice_client, google):
    result = run_test(alice_client, google)

    read = check(result, "read_session")
    assert read["status"] == "warning"
    assert read["detail"] == (
        f"{google.key.email} may not create Storage Read API sessions in project {PROJECT} "
        "(bigquery.readsessions.create is missing): imports will use the slower REST path."
    )
    assert read["fix"].startswith(
        f"Grant {google.key.email} the BigQuery Read Session User role "
        f"(roles/bigquery.readSessionUser) on project {PROJECT}"
    )
    assert result["ok"] is True  # the connection works
    assert {s for i, s in statuses(result).items() if i != "read_session"} == {"pass"}
    assert "Passed with a warning" in result["html"] and "! Warning" in result["html"]
    assert "badge-warn" in result["html"]


def test_with_read_session_user_the_check_passes(alice_client, google):
    google.stack.grant(google.key.email, READ_SESSION_USER, project=PROJECT)

    result = run_test(alice_client, google)

    read = check(result, "read_session")
    assert read["status"] == "pass"
    assert "Storage Read API" in read["detail"]
    assert result["ok"] is True and "Passed with a warning" not in result["html"]


def test_a_warning_does_not_make_a_saved_connection_failing(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )

    response = alice_client.post(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/test/", follow=True
    )

    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert check(connection.last_test_result, "read_session")["status"] == "warning"
    html = response.content.decode()
    assert "Test Connection: Passed with a warning. BigQuery Read Session User" in html
    assert "Passed with a warning" in html and "imports will use the slower REST path" in html


def test_a_disabled_storage_api_is_named_with_how_to_enable_it(alice_client, google):
    google.stack.grant(google.key.email, READ_SESSION_USER, project=PROJECT)
    google.stack.policy.set_api_enabled(PROJECT, False, service=BIGQUERY_STORAGE_API)
    number = google.stack.policy.project(PROJECT).number

    result = run_test(alice_client, google)

    read = check(result, "read_session")
    assert read["status"] == "warning"
    assert read["detail"] == (
        f"The BigQuery Storage API is not enabled in project {number}. Imports will use the "
        "slower REST path."
    )
    assert read["fix"].startswith(f"Enable the BigQuery Storage API in project {number}")
    assert result["ok"] is True


def test_when_the_projects_permissions_cannot_be_asked_the_warning_says_why(alice_client, google):
    """Cloud Resource Manager answers testIamPermissions; with its API off nothing is known
    about the read session grant, and the warning names that API, not BigQuery's."""
    google.stack.grant(google.key.email, READ_SESSION_USER, project=PROJECT)
    google.stack.policy.project(PROJECT).enabled_apis.discard(CRM_API)
    number = google.stack.policy.project(PROJECT).number

    result = run_test(alice_client, google)

    read = check(result, "read_session")
    assert read["status"] == "warning"
    assert read["detail"] == (
        f"Could not confirm that {google.key.email} may read with the Storage Read API (The "
        f"Cloud Resource Manager API is not enabled in project {number}.) If it may not, "
        "imports will use the slower REST path."
    )
    assert read["fix"].startswith(
        f"Grant {google.key.email} the BigQuery Read Session User role "
        f"(roles/bigquery.readSessionUser) on project {PROJECT}"
    )
    assert result["ok"] is True


def test_with_the_storage_read_api_turned_off_here_no_read_session_is_tried(
    alice_client, google, settings
):
    """Imports will not use it, so its API being off in Google Cloud does not matter."""
    settings.BIGQUERY_STORAGE_ENABLED = False
    google.stack.grant(google.key.email, READ_SESSION_USER, project=PROJECT)
    google.stack.policy.set_api_enabled(PROJECT, False, service=BIGQUERY_STORAGE_API)

    result = run_test(alice_client, google)

    assert check(result, "read_session")["status"] == "pass"
    assert google.stack.storage_gate.requests == []


# fault on the job check (a dry run), the job check's status, words of the detail and the fix
JOB_FAULTS = [
    ("billing_not_enabled", "fail", f"Billing is not enabled for project {PROJECT}.",
     "Link a billing account"),
    ("vpc_service_controls", "fail", "VPC Service Controls blocked the request",
     "VPC Service Controls"),
    ("cmek_required", "fail", "customer-managed encryption key", "default Cloud KMS key"),
    ("quota_exceeded", "unconfirmed", "quota", "Wait for the quota to reset"),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "status", "detail", "fix"), JOB_FAULTS)
def test_the_job_check_names_the_cause_and_the_fix(
    alice_client, google, fault, status, detail, fix
):
    google.stack.gate.inject(fault, times=None, match="jobs.insert")

    job = check(run_test(alice_client, google), "job_user")

    assert job["status"] == status
    assert detail in job["detail"] and fix in job["fix"]
    assert "Job User" not in job["fix"] and "Data Editor" not in job["fix"]


def test_vpc_service_controls_on_the_dataset_name_the_perimeter(alice_client, google):
    google.stack.gate.inject("vpc_service_controls", times=None, match="datasets.get")

    dataset = check(run_test(alice_client, google), "dataset")

    assert dataset["status"] == "fail"
    assert "service perimeter" in dataset["detail"]
    assert "Data Editor" not in dataset["fix"]
