"""Every query job the app starts carries maximumBytesBilled and its labels (app,
workspace, import_id, run_id, purpose), as the stand-in gate's request log shows: Test
Connection, the wizard's dry runs, the sample preview (runs: test_runner_cost)."""

from connections.cost import human_bytes, job_options, label_value, maximum_bytes_billed
from imports import browse, preview
from standins.gate import MIB
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.imports.test_preview import draft


def jobs(stack):
    return [r for r in stack.gate.requests if r.operation == "jobs.insert"]


def test_test_connection_carries_the_connections_limit_and_workspace(
    alice_client, google, bq_connection
):
    bq_connection.maximum_bytes_billed = 7 * MIB
    bq_connection.save(update_fields=["maximum_bytes_billed"])

    alice_client.post(f"/w/acme/settings/partners/bigquery/{bq_connection.pk}/test/")

    (job,) = jobs(google.stack)
    assert job.labels == {
        "app": "bqimports",
        "workspace": str(bq_connection.workspace_id),
        "purpose": "test",
    }
    assert job.maximum_bytes_billed == 7 * MIB


def test_the_apis_and_the_daily_checks_test_carry_the_same_limit_and_workspace(
    alice, google, bq_connection
):
    from notifications import watch
    from tests.api.conftest import ApiClient, make_token

    bq_connection.maximum_bytes_billed = 7 * MIB
    bq_connection.save(update_fields=["maximum_bytes_billed"])
    api = ApiClient(make_token(alice, bq_connection.workspace, "run"))

    api.post(f"/api/v1/workspaces/acme/connections/{bq_connection.pk}/test/")
    watch.connection_check_run(connection_id=bq_connection.pk)

    by_api, by_check = jobs(google.stack)
    for job in (by_api, by_check):
        assert job.maximum_bytes_billed == 7 * MIB
        assert job.labels["workspace"] == str(bq_connection.workspace_id)


def test_test_connection_on_the_form_carries_the_typed_limit(alice_client, google):
    """Before the connection is saved, its test job is bound by the limit typed in the
    form's Advanced part, as its runs will be."""
    alice_client.post(
        "/w/acme/settings/partners/bigquery/add/test/",
        {
            "name": "Warehouse",
            "project_id": PROJECT,
            "dataset_id": DATASET,
            "key_text": google.key.to_json(),
            "maximum_bytes_billed": "12 MB",
        },
        headers={"HX-Request": "true"},
    )

    (job,) = jobs(google.stack)
    assert job.maximum_bytes_billed == 12 * MIB  # sizes are binary, as BigQuery bills them
    assert job.labels["purpose"] == "test"


def test_the_wizards_dry_run_carries_the_limit_and_labels(google, bq_connection, alice, settings):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    sql = f"SELECT user_id FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608

    browse.query_check(bq_connection, sql, user=alice)

    (job,) = jobs(google.stack)
    assert job.dry_run
    assert job.labels == {
        "app": "bqimports",
        "workspace": str(bq_connection.workspace_id),
        "purpose": "preview",
    }
    assert job.maximum_bytes_billed == settings.BIGQUERY_MAXIMUM_BYTES_BILLED


def test_the_sample_preview_of_a_saved_import_names_it(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    query = f"SELECT user_id, email FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608
    saved = make_import(
        bq_connection, alice, table="", source_kind="query", source_query=query,
        maximum_bytes_billed=20 * MIB,
    )  # fmt: skip
    unsaved = draft(bq_connection, source_kind="query", source_query=query)

    preview.sample_preview(import_obj=saved, user=alice)
    preview.sample_preview(import_obj=unsaved, user=alice)

    first, second = jobs(google.stack)
    base = {"app": "bqimports", "workspace": str(bq_connection.workspace_id), "purpose": "preview"}
    assert first.labels == {**base, "import_id": str(saved.pk)}
    assert first.maximum_bytes_billed == 20 * MIB
    assert second.labels == base  # a draft is no import yet


def test_a_label_value_is_lowercase_with_only_label_characters_and_at_most_63_long():
    assert label_value("Run-42/Ä b") == "run-42___b"
    assert label_value("X" * 80) == "x" * 63


def test_the_limit_is_the_imports_else_the_connections_else_the_servers(connection_a, settings):
    assert maximum_bytes_billed(connection_a) == settings.BIGQUERY_MAXIMUM_BYTES_BILLED
    connection_a.maximum_bytes_billed = 7 * MIB
    assert maximum_bytes_billed(connection_a) == 7 * MIB
    assert maximum_bytes_billed(connection_a, 20 * MIB) == 20 * MIB


def test_only_a_job_writing_a_table_carries_the_connections_kms_key(connection_a):
    connection_a.scratch_kms_key_name = "projects/p/locations/eu/keyRings/r/cryptoKeys/k"

    dry_run = job_options(connection_a, "preview")
    into_table = job_options(connection_a, "run", destination="p.scratch.run_1")

    assert dry_run.kms_key_name == ""
    assert into_table.kms_key_name == connection_a.scratch_kms_key_name


def test_an_unknown_size_is_shown_as_zero_bytes():
    assert human_bytes(None) == "0 bytes"
    assert human_bytes(3 * MIB) == "3.0 MB"
