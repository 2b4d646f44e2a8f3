"""Test Connection's scratch dataset check: the dataset that holds each run's result must
exist and be writable, or the account must be allowed to create it; else a failure that
names the role to grant, or says to name an existing dataset."""

import uuid

import pytest

from connections import check
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, SCRATCH


def check_status(result, check_id):
    return next(c["status"] for c in result["checks"] if c["id"] == check_id)


def scratch_check(google, **fields):
    result = check.run_connection_test(
        key_info=google.key.info, project_id=PROJECT, dataset_id=DATASET, **fields
    )
    return result, next(c for c in result["checks"] if c["id"] == "scratch")


def test_the_default_scratch_dataset_passes_when_the_account_can_write_it(google):
    result, scratch = scratch_check(google)

    assert scratch["status"] == "pass"
    assert f"{PROJECT}:{SCRATCH}" in scratch["detail"]


def test_a_missing_scratch_dataset_the_account_may_not_create_fails_with_the_fix(google):
    missing = f"nothing_{uuid.uuid4().hex[:8]}"

    result, scratch = scratch_check(google, scratch_dataset_id=missing)

    assert result["ok"] is False
    assert scratch["status"] == "fail"
    assert f"{PROJECT}:{missing}" in scratch["detail"]
    assert "bigquery.datasets.create is missing" in scratch["detail"]
    assert f"Grant {google.key.email} BigQuery Data Editor on project {PROJECT}" in scratch["fix"]
    assert "name an existing dataset it can write to as Scratch dataset" in scratch["fix"]
    assert f"({LOCATION})" in scratch["fix"]


def test_a_missing_scratch_dataset_passes_when_the_account_may_create_it(google):
    google.stack.grant(google.key.email, "bigquery.datasets.create", project=PROJECT)

    result, scratch = scratch_check(google, scratch_dataset_id=f"new_{uuid.uuid4().hex[:8]}")

    assert scratch["status"] == "pass"
    assert "the first run creates it in EU" in scratch["detail"]


def test_a_scratch_dataset_the_account_cannot_read_fails(google):
    other = f"locked_{uuid.uuid4().hex[:8]}"
    google.stack.create_dataset(PROJECT, other, location=LOCATION)

    result, scratch = scratch_check(google, scratch_dataset_id=other)

    assert scratch["status"] == "fail"
    assert f"or on dataset {other} if it exists" in scratch["fix"]


def test_a_scratch_dataset_in_another_location_fails(google):
    elsewhere = f"us_{uuid.uuid4().hex[:8]}"
    google.stack.create_dataset(PROJECT, elsewhere, location="US")
    google.stack.grant(
        google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=elsewhere
    )

    result, scratch = scratch_check(google, scratch_dataset_id=elsewhere)

    assert scratch["status"] == "fail"
    assert "is in US, the dataset in EU" in scratch["detail"]
    assert scratch["fix"] == (
        "Name a dataset in EU as Scratch dataset (Advanced), or leave it blank to have one created."
    )


def test_a_scratch_dataset_the_account_may_only_read_is_could_not_confirm(google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=SCRATCH)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=SCRATCH
    )

    result, scratch = scratch_check(google)

    assert scratch["status"] == "unconfirmed"
    assert scratch["detail"] == (
        f"Could not confirm that {google.key.email} can write run results into {PROJECT}:{SCRATCH}."
    )
    assert scratch["fix"] == (
        f"Grant {google.key.email} BigQuery Data Editor on dataset {SCRATCH}. If it is already "
        "granted through a group or a custom role, you can ignore this."
    )


# What a run does in the scratch dataset: writes its result table, reads it, deletes it.
SCRATCH_WRITES = [
    "bigquery.tables.create",
    "bigquery.tables.updateData",
    "bigquery.tables.getData",
    "bigquery.tables.delete",
]


@pytest.mark.parametrize("missing", [None, *SCRATCH_WRITES])
def test_writing_the_scratch_dataset_through_the_project_needs_every_permission_a_run_uses(
    google, missing
):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=SCRATCH)
    held = ["bigquery.datasets.get", *(p for p in SCRATCH_WRITES if p != missing)]
    google.stack.grant(google.key.email, held, project=PROJECT)

    result, scratch = scratch_check(google)

    if missing is None:
        assert scratch["status"] == "pass"
        assert scratch["detail"] == (
            f"{google.key.email} can write run results into {PROJECT}:{SCRATCH}."
        )
    else:
        assert scratch["status"] == "unconfirmed"


def test_a_scratch_dataset_behind_a_service_perimeter_is_named_as_such_not_as_missing(google):
    google.stack.gate.inject("vpc_service_controls", times=None, match=f"/datasets/{SCRATCH}")

    result, scratch = scratch_check(google)

    assert scratch["status"] == "fail"
    assert scratch["detail"].startswith(
        f"VPC Service Controls blocked the request: project {PROJECT} is inside a service perimeter"
    )
    assert "datasets.create" not in scratch["detail"]
    assert check_status(result, "dataset") == "pass"


def test_the_scratch_dataset_typed_in_the_form_is_checked(alice_client, google):
    response = alice_client.post(
        "/w/acme/settings/partners/bigquery/add/test/",
        {
            "name": "Warehouse",
            "project_id": PROJECT,
            "dataset_id": DATASET,
            "key_text": google.key.to_json(),
            "scratch_dataset_id": "not_there_yet",
        },
        headers={"HX-Request": "true"},
    )

    scratch = next(c for c in response.context["result"]["checks"] if c["id"] == "scratch")
    assert scratch["status"] == "fail"
    assert f"{PROJECT}:not_there_yet" in scratch["detail"]


def test_without_a_scratch_dataset_it_may_create_runs_use_the_dataset_itself_with_a_warning(
    google,
):
    dataset = f"own_{uuid.uuid4().hex[:8]}"
    google.stack.create_dataset(PROJECT, dataset, location=LOCATION)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=dataset
    )

    result = check.run_connection_test(
        key_info=google.key.info, project_id=PROJECT, dataset_id=dataset
    )
    scratch = next(c for c in result["checks"] if c["id"] == "scratch")

    assert scratch["status"] == "warning"
    assert result["ok"] is True
    assert f"into dataset {PROJECT}:{dataset} itself" in scratch["detail"]
    assert f"scratch dataset {PROJECT}:{dataset}_imports_tmp does not exist" in scratch["detail"]
    assert f"grant {google.key.email} BigQuery Data Editor on project {PROJECT}" in scratch["fix"]
