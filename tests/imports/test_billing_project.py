"""A connection with a Billing project: query jobs and Storage read sessions run in the
billing project B, the data is only read from project A. The account holds BigQuery Job User
and Read Session User in B only, and data access only on A's dataset and its scratch dataset:
Test Connection passes (and names both projects), a run succeeds, and the gates' logs show
`POST /projects/B/jobs` with SQL that references `A.dataset.table` and a read session whose
parent is `projects/B`."""

import uuid
from dataclasses import dataclass

import pytest

from audience.models import Profile
from connections import check
from imports import services
from imports.models import ImportRun
from imports.run import execute
from tests.fixtures.connections import make_connection
from tests.imports.conftest import USER_SCHEMA, make_import, user_rows

TEST_URL = "/w/acme/settings/partners/bigquery/add/test/"


@dataclass
class Split:
    data: str
    billing: str
    dataset: str
    table: str
    key: object


@pytest.fixture
def split(google):
    stack, suffix = google.stack, uuid.uuid4().hex[:6]
    data, billing, dataset = f"data-{suffix}", f"bill-{suffix}", "sales"
    stack.create_project(data)
    stack.create_project(billing)
    stack.create_dataset(data, dataset, location="EU")
    stack.create_dataset(data, f"{dataset}_imports_tmp", location="EU")
    stack.create_table(data, dataset, "customers", USER_SCHEMA, user_rows(0, 70))
    key = stack.register_service_account(
        f"importer@{billing}.iam.gserviceaccount.com", project_id=billing
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project=billing)
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=billing)
    for granted in (dataset, f"{dataset}_imports_tmp"):
        stack.grant(key.email, "roles/bigquery.dataEditor", project=data, dataset=granted)
    return Split(data, billing, dataset, "customers", key)


def statuses(result):
    return {c["id"]: c["status"] for c in result["checks"]}


def checks_by_id(result):
    return {c["id"]: c for c in result["checks"]}


def connection_test_with_the_billing_project(split):
    return check.run_connection_test(
        key_info=split.key.info,
        project_id=split.data,
        dataset_id=split.dataset,
        billing_project_id=split.billing,
    )


def test_test_connection_passes_with_the_billing_project_and_names_both(google, split):
    result = connection_test_with_the_billing_project(split)

    assert result["ok"] is True, result["summary"]
    assert set(statuses(result).values()) == {"pass"}
    details = {c["id"]: c["detail"] for c in result["checks"]}
    assert f"Data is read from project {split.data}" in details["dataset"]
    assert f"billing project {split.billing}" in details["dataset"]
    assert f"query jobs in project {split.billing} (the billing project)" in details["job_user"]
    jobs = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert [r.path for r in jobs] == [f"/bigquery/v2/projects/{split.billing}/jobs"]


def test_without_the_billing_project_the_same_account_fails_job_user(google, split):
    result = check.run_connection_test(
        key_info=split.key.info, project_id=split.data, dataset_id=split.dataset
    )

    assert statuses(result)["job_user"] == "fail"
    assert statuses(result)["read_session"] == "warning"


def test_job_user_missing_in_the_billing_project_names_the_billing_project(google, split):
    google.stack.revoke(split.key.email, "roles/bigquery.jobUser", project=split.billing)

    result = connection_test_with_the_billing_project(split)

    job_user = checks_by_id(result)["job_user"]
    assert job_user["status"] == "fail"
    assert f"may not run query jobs in project {split.billing} " in job_user["detail"]
    assert f"BigQuery Job User role on project {split.billing} " in job_user["fix"]


def test_read_session_user_missing_in_the_billing_project_names_the_billing_project(google, split):
    google.stack.revoke(split.key.email, "roles/bigquery.readSessionUser", project=split.billing)

    result = connection_test_with_the_billing_project(split)

    read = checks_by_id(result)["read_session"]
    assert read["status"] == "warning"
    assert read["detail"] == (
        f"{split.key.email} may not create Storage Read API sessions in project "
        f"{split.billing} (bigquery.readsessions.create is missing): imports will use the "
        "slower REST path."
    )
    assert read["fix"].startswith(
        f"Grant {split.key.email} the BigQuery Read Session User role "
        f"(roles/bigquery.readSessionUser) on project {split.billing} "
    )


def test_with_a_billing_project_the_data_grants_to_make_are_in_the_data_project(google, split):
    for granted in (split.dataset, f"{split.dataset}_imports_tmp"):
        google.stack.revoke(split.key.email, project=split.data, dataset=granted)
    google.stack.grant(
        split.key.email, "roles/bigquery.dataViewer", project=split.data, dataset=split.dataset
    )

    result = connection_test_with_the_billing_project(split)

    checks = checks_by_id(result)
    assert checks["data_editor"]["status"] == "unconfirmed"
    assert (
        f"on dataset {split.dataset} (BigQuery > dataset > Sharing > Permissions) or on project "
        f"{split.data} (IAM & Admin > IAM)."
    ) in checks["data_editor"]["fix"]
    assert checks["scratch"]["status"] == "warning"
    assert (
        f"scratch dataset {split.data}:{split.dataset}_imports_tmp does not exist"
        in (checks["scratch"]["detail"])
    )
    assert checks["scratch"]["fix"].startswith(
        f"To keep them apart, grant {split.key.email} BigQuery Data Editor on project "
        f"{split.data}, "
    )


def test_a_saved_connection_is_tested_with_its_billing_project_and_scratch_dataset(
    google, split, workspace_a, alice
):
    connection = make_connection(
        workspace_a, alice, info=split.key.info, project_id=split.data, dataset_id=split.dataset
    )
    connection.billing_project_id = split.billing
    connection.scratch_dataset_id = "not_there_yet"
    connection.save()

    result = check.run_saved_connection_test(connection)

    details = {c["id"]: c["detail"] for c in result["checks"]}
    assert details["job_user"] == (
        f"{split.key.email} can run query jobs in project {split.billing} (the billing project)."
    )
    assert statuses(result)["scratch"] == "fail"
    assert details["scratch"].startswith(f"The scratch dataset {split.data}:not_there_yet, ")


def test_test_connection_uses_the_billing_project_typed_in_the_form(alice_client, google, split):
    form = {
        "name": "Warehouse",
        "project_id": split.data,
        "dataset_id": split.dataset,
        "key_text": split.key.to_json(),
        "billing_project_id": split.billing,
    }

    response = alice_client.post(TEST_URL, form, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.context["result"]["ok"] is True, response.context["result"]["summary"]
    assert f"billing project {split.billing}" in response.content.decode()


def test_a_run_bills_project_b_and_reads_project_a(google, split, workspace_a, alice, settings):
    settings.IMPORT_PAGE_SIZE = 40
    connection = make_connection(
        workspace_a, alice, info=split.key.info, project_id=split.data, dataset_id=split.dataset
    )
    connection.billing_project_id = split.billing
    connection.save()
    import_obj = make_import(connection, alice, table=split.table)
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    status = execute.execute_run(str(run.pk))

    run.refresh_from_db()
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert Profile.objects.count() == 70
    assert run.read_path == "storage"
    jobs = [r for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert jobs and all(r.path == f"/bigquery/v2/projects/{split.billing}/jobs" for r in jobs)
    source = f"`{split.data}`.`{split.dataset}`.`{split.table}`"
    assert any(source in (r.sql or "") for r in jobs)
    sessions = [c for c in google.stack.storage_gate.requests if c.operation == "CreateReadSession"]
    assert [(c.parent, c.code) for c in sessions] == [(f"projects/{split.billing}", "OK")]
    assert sessions[0].resource == (
        f"projects/{split.data}/datasets/{split.dataset}_imports_tmp/tables/run_{run.pk.hex}"
    )
    for entry in jobs:
        print(f"{entry.method} {entry.path} {entry.status} sql={entry.sql!r}")
    for call in sessions:
        print(f"{call.operation} parent={call.parent} table={call.resource} {call.code}")
