"""A run writes its query result to a table of the scratch dataset (not an anonymous table,
which BigQuery caps: responseTooLarge), reads it from there and deletes it when it ends; the
scratch dataset is created on first use, and a run that cannot create it says why and what
to do."""

import datetime as dt
import uuid

import pytest
from google.api_core import exceptions as api_exceptions

from audience.models import Profile
from imports import services
from imports.models import ImportRun
from imports.run import execute, scratch, write
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, SCRATCH
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40


def run_once(import_obj, user):
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = execute.execute_run(str(run.pk))
    run.refresh_from_db()
    return status, run


def table_exists(stack, table: str) -> bool:
    client = _admin_client(stack)
    try:
        client.get_table(table)
    except api_exceptions.NotFound:
        return False
    return True


def _admin_client(stack):
    key = stack.register_service_account(
        f"admin-{uuid.uuid4().hex[:6]}@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    stack.grant(key.email, "roles/bigquery.admin", project=PROJECT)
    return stack.bigquery_client(key, PROJECT)


def deleted_tables(stack) -> list[str]:
    return [r.path for r in stack.gate.requests if r.operation == "tables.delete"]


def only_its_own_dataset(google, connection, rows) -> str:
    """Point the connection at a new dataset holding `rows` as table users, with Data Editor
    on that dataset only, as the product asks for: no datasets.create for a scratch one."""
    dataset = f"own_{uuid.uuid4().hex[:8]}"
    google.stack.create_dataset(PROJECT, dataset, location=LOCATION)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=dataset
    )
    google.stack.create_table(PROJECT, dataset, "users", USER_SCHEMA, rows)
    connection.dataset_id = dataset
    connection.save()
    return dataset


def test_a_run_reads_its_result_from_the_scratch_table_and_deletes_it(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 90))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED
    assert run.result_table == f"{PROJECT}.{SCRATCH}.run_{run.pk.hex}"
    assert Profile.objects.count() == 90
    reads = [r.path for r in google.stack.gate.requests if r.operation == "tabledata.list"]
    assert reads and all(f"/datasets/{SCRATCH}/tables/run_{run.pk.hex}/" in p for p in reads)
    assert deleted_tables(google.stack) == [
        f"/bigquery/v2/projects/{PROJECT}/datasets/{SCRATCH}/tables/run_{run.pk.hex}"
    ]
    assert not table_exists(google.stack, run.result_table)


def test_a_run_deletes_its_result_table_in_the_session_it_ran_in(google, bq_connection, alice):
    """One key exchange per run: the deletion does not open a session of its own; and one
    look at the finished result table."""
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 50))
    import_obj = make_import(bq_connection, alice, table=table)
    tokens_before = len(google.stack.token_server.requests)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED
    assert deleted_tables(google.stack) == [
        f"/bigquery/v2/projects/{PROJECT}/datasets/{SCRATCH}/tables/run_{run.pk.hex}"
    ]
    assert len(google.stack.token_server.requests) - tokens_before == 1
    # Its row count and schema came from one tables.get of the finished result table.
    result_gets = [
        r
        for r in google.stack.gate.requests
        if r.operation == "tables.get" and r.path.endswith(f"/tables/run_{run.pk.hex}")
    ]
    assert len(result_gets) == 1


def test_a_large_run_succeeds_through_the_destination_table_while_anonymous_results_are_capped(
    google, bq_connection, alice
):
    google.stack.gate.anonymous_result_max_rows = 50
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    client = google.client()
    # The cap is on: the same table read into an anonymous result is refused.
    with pytest.raises(api_exceptions.Forbidden) as refused:
        sql = f"SELECT * FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608 - test names
        client.query(sql, location=LOCATION).result()
    assert refused.value.errors[0]["reason"] == "responseTooLarge"
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.rows_read == 130
    assert Profile.objects.count() == 130


def test_a_failed_and_a_stopped_run_delete_their_tables_too(
    google, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 90))
    import_obj = make_import(bq_connection, alice, table=table)
    original = write.write_page

    def stop_after_first_page(run, owner, *args, **kwargs):
        written = original(run, owner, *args, **kwargs)
        services.import_stop(import_obj=import_obj, actor=alice)
        return written

    monkeypatch.setattr(write, "write_page", stop_after_first_page)
    status, stopped = run_once(import_obj, alice)
    assert status == ImportRun.Status.CANCELLED
    assert not table_exists(google.stack, stopped.result_table)

    monkeypatch.setattr(write, "write_page", original)
    google.stack.gate.inject("billing_not_enabled", match="tabledata.list", times=None)
    other = make_import(bq_connection, alice, table=table, name="Another")
    status, failed = run_once(other, alice)
    assert status == ImportRun.Status.FAILED
    assert failed.result_table.endswith(f"run_{failed.pk.hex}")
    google.stack.gate.faults.clear()
    assert not table_exists(google.stack, failed.result_table)


def test_the_scratch_dataset_is_created_on_first_use_in_the_datasets_location(
    google, bq_connection, alice, settings
):
    settings.BIGQUERY_SCRATCH_EXPIRATION_HOURS = 6
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    bq_connection.scratch_dataset_id = scratch
    bq_connection.save()
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    created = [r for r in google.stack.gate.requests if r.operation == "datasets.insert"]
    assert [r.status for r in created] == [200]
    dataset = _admin_client(google.stack).get_dataset(f"{PROJECT}.{scratch}")
    assert dataset.location == LOCATION
    assert dataset.default_table_expiration_ms == 6 * 3600 * 1000

    google.stack.gate.clear_requests()
    status, _ = run_once(import_obj, alice)
    assert status == ImportRun.Status.SUCCEEDED
    operations = google.stack.gate.operations()
    assert "datasets.get" in operations and "datasets.insert" not in operations  # found it


def test_a_run_that_may_not_create_the_scratch_dataset_says_why_and_what_to_do(
    google, bq_connection, alice
):
    bq_connection.scratch_dataset_id = f"missing_{uuid.uuid4().hex[:8]}"
    bq_connection.save()
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    message = run.error_message
    assert f"scratch dataset {PROJECT}:{bq_connection.scratch_dataset_id}" in message
    assert "may not create it" in message
    assert (
        f"Grant {bq_connection.client_email} BigQuery Data Editor (bigquery.datasets.create) "
        f"on project {PROJECT}"
    ) in message
    assert "name an existing dataset" in message
    billed = [r for r in google.stack.gate.requests if r.operation == "jobs.insert" and r.sql]
    assert not [r for r in billed if not r.dry_run]  # nothing spent


def test_the_kms_key_encrypts_the_scratch_dataset_and_the_result_table(
    google, bq_connection, alice
):
    kms = "projects/acme-keys/locations/europe-west1/keyRings/imports/cryptoKeys/results"
    bq_connection.scratch_dataset_id = f"cmek_{uuid.uuid4().hex[:8]}"
    bq_connection.scratch_kms_key_name = kms
    bq_connection.save()
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    admin = _admin_client(google.stack)
    dataset = admin.get_dataset(f"{PROJECT}.{bq_connection.scratch_dataset_id}")
    assert dataset.default_encryption_configuration.kms_key_name == kms
    job = admin.get_job(run.job_id, project=PROJECT, location=LOCATION)
    assert job.destination_encryption_configuration.kms_key_name == kms


def test_without_a_scratch_dataset_it_may_create_a_run_uses_the_connections_own_dataset(
    google, bq_connection, alice
):
    dataset = only_its_own_dataset(google, bq_connection, user_rows(0, 70))
    import_obj = make_import(bq_connection, alice, table="users")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    own = f"bqimports_run_{run.pk.hex}"
    assert run.result_table == f"{PROJECT}.{dataset}.{own}"
    assert Profile.objects.count() == 70
    # It expires by itself should the run not delete it, and the run did delete it.
    patched = [r.path for r in google.stack.gate.requests if r.operation == "tables.patch"]
    assert patched == [f"/bigquery/v2/projects/{PROJECT}/datasets/{dataset}/tables/{own}"]
    assert deleted_tables(google.stack) == patched
    assert not table_exists(google.stack, run.result_table)


def test_a_result_table_in_the_connections_own_dataset_expires_after_the_hours_set(
    google, bq_connection, alice, settings, monkeypatch
):
    settings.BIGQUERY_SCRATCH_EXPIRATION_HOURS = 30
    only_its_own_dataset(google, bq_connection, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table="users")
    admin = _admin_client(google.stack)
    expires = []
    original = write.write_page

    def look_at_the_table_then_write(run, owner, *args, **kwargs):
        expires.append(admin.get_table(run.result_table).expires)
        return original(run, owner, *args, **kwargs)

    monkeypatch.setattr(write, "write_page", look_at_the_table_then_write)
    before = dt.datetime.now(dt.UTC)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    (expiry,) = expires
    assert before + dt.timedelta(hours=30) <= expiry <= before + dt.timedelta(hours=30, minutes=5)


def test_a_run_deletes_only_a_result_table_named_for_it(google, bq_connection, alice):
    source = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=source)
    _, other = run_once(import_obj, alice)
    deleted_before = deleted_tables(google.stack)
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    # Tables it did not name: the source table itself, and another run's result.
    google.stack.create_table(PROJECT, SCRATCH, f"run_{other.pk.hex}", USER_SCHEMA)
    another = f"{PROJECT}.{SCRATCH}.run_{other.pk.hex}"
    for table in (f"{PROJECT}.{DATASET}.{source}", another):
        ImportRun.objects.filter(pk=run.pk).update(result_table=table)

        scratch.release(bq_connection, run)

        assert table_exists(google.stack, table)
    assert deleted_tables(google.stack) == deleted_before


def test_a_scratch_dataset_that_cannot_be_looked_up_fails_the_run_before_any_query(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    google.stack.gate.inject("quota_exceeded", times=None, match=f"/datasets/{SCRATCH}")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert f"A BigQuery quota of project {PROJECT} is used up" in run.error_message
    billed = [r for r in google.stack.gate.requests if r.operation == "jobs.insert" and r.sql]
    assert not [r for r in billed if not r.dry_run]  # not written elsewhere instead
    assert Profile.objects.count() == 0


def test_a_result_table_google_will_not_delete_does_not_fail_the_run(
    google, bq_connection, alice, caplog
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    google.stack.gate.inject("quota_exceeded", times=None, match="tables.delete")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert Profile.objects.count() == 5
    assert f"could not delete its result table {run.result_table}" in caplog.text
    google.stack.gate.faults.clear()
    assert table_exists(google.stack, run.result_table)  # left to the dataset's expiration
