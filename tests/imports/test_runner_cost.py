"""The cost guard of a run, through the real runner and client against the stand-in gate:
the labels and limit of every job, the estimate before spending, only the mapped columns,
one source scan per incremental run, the bytes on the run, and a partition filter."""

import datetime as dt

import pytest

from audience.models import Profile
from imports.models import ImportRun
from imports.run import window
from standins.gate import MIB
from tests.fixtures.standin_world import DATASET, PROJECT, SCRATCH
from tests.imports.conftest import (
    EVENT_SCHEMA,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)
from tests.imports.test_runner import run_once

GB = 1024**3


@pytest.fixture(autouse=True)
def rest_pages(settings):
    settings.BIGQUERY_STORAGE_ENABLED = False


def query_jobs(stack, *, dry_run: bool | None = False):
    return [
        r
        for r in stack.gate.requests
        if r.operation == "jobs.insert" and (dry_run is None or r.dry_run == dry_run)
    ]


def scans(stack, table: str):
    """The billed jobs whose SQL reads `table` (the source)."""
    return [r for r in query_jobs(stack) if f"`{table}`" in (r.sql or "")]


def incremental(connection, user, table, **fields):
    return make_import(
        connection, user, table=table, sync_mode="incremental", cursor_column="updated_at",
        cursor_type="TIMESTAMP", **fields,
    )  # fmt: skip


def test_every_job_of_a_run_carries_its_limit_and_labels(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = incremental(bq_connection, alice, table, maximum_bytes_billed=3 * GB)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    jobs = query_jobs(google.stack, dry_run=None)
    assert [job.dry_run for job in jobs] == [True, False]  # the estimate, the window
    expected = {
        "app": "bqimports",
        "workspace": str(bq_connection.workspace_id),
        "import_id": str(import_obj.pk),
        "run_id": str(run.pk),
        "purpose": "run",
    }
    assert [job.labels for job in jobs] == [expected] * 2
    assert [job.maximum_bytes_billed for job in jobs] == [3 * GB] * 2


def test_a_table_source_selects_only_the_mapped_columns(google, bq_connection, alice):
    schema = [*USER_SCHEMA, ("notes", "STRING")]
    table = new_table(google.stack, schema, [dict(r, notes="x") for r in user_rows(0, 5)])
    import_obj = make_import(bq_connection, alice, table=table)  # maps email and plan

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    (job,) = query_jobs(google.stack)
    source = f"`{PROJECT}`.`{DATASET}`.`{table}`"
    assert job.sql == f"SELECT `user_id`, `email`, `plan` FROM {source}"  # noqa: S608


def test_a_mapped_column_saved_without_its_include_flag_is_read_as_included(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    import_obj.column_mapping = [
        {"column": "email", "property": "email"},  # no "include": included, as the mapping reads it
        {"column": "plan", "property": "plan", "include": False},
    ]
    import_obj.save(update_fields=["column_mapping"])

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    (job,) = query_jobs(google.stack)
    assert job.sql == f"SELECT `user_id`, `email` FROM `{PROJECT}`.`{DATASET}`.`{table}`"  # noqa: S608
    assert run.rows_written == 5


def test_a_mapped_column_dropped_from_the_table_since_is_not_selected(google, bq_connection, alice):
    schema = [column for column in USER_SCHEMA if column[0] != "plan"]
    rows = [{k: v for k, v in row.items() if k != "plan"} for row in user_rows(0, 5)]
    table = new_table(google.stack, schema, rows)
    import_obj = make_import(bq_connection, alice, table=table)  # still maps email and plan

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    (job,) = query_jobs(google.stack)
    assert job.sql == f"SELECT `user_id`, `email` FROM `{PROJECT}`.`{DATASET}`.`{table}`"  # noqa: S608
    assert Profile.objects.get(identity="u1").properties == {"email": "user1@example.com"}


def test_an_incremental_run_scans_its_source_once(google, bq_connection, alice):
    stack = google.stack
    table = new_table(stack, USER_SCHEMA, user_rows(0, 30))
    import_obj = incremental(bq_connection, alice, table)
    status, first = run_once(import_obj, alice)
    assert status == ImportRun.Status.SUCCEEDED, first.error_message
    stack.gate.clear_requests()

    later = user_rows(30, 5, updated_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    stack.insert_rows(PROJECT, DATASET, table, later)
    status, second = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, second.error_message
    assert second.rows_read == 6  # the boundary row again, and the five new ones
    (scan,) = scans(stack, table)
    assert "MAX(" not in scan.sql
    assert "WHERE `updated_at` >= @lo" in scan.sql
    # The window's upper bound comes from the rows read: no query over the result table.
    assert query_jobs(stack) == [scan]
    assert second.watermark_to == "2026-02-01T00:34:00+00:00"


def test_the_run_stores_its_estimate_and_the_bytes_it_processed_and_billed(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, 12 * MIB + 5)
    import_obj = incremental(bq_connection, alice, table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.bytes_estimated == 12 * MIB + 5
    assert run.bytes_scanned == 12 * MIB + 5
    assert run.bytes_billed == 13 * MIB  # the window's query, its only billed job


def test_an_estimate_over_the_limit_fails_the_run_before_any_billed_job(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, int(2.3 * GB))
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=GB)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert run.error_message == (
        "The run's query would process about 2.3 GB, more than its limit of 1.0 GB (Maximum "
        "bytes billed), so it was not run and nothing was billed. Raise Maximum bytes billed "
        "on the import (Edit) or on its connection, or make the source smaller."
    )
    assert run.bytes_estimated == int(2.3 * GB)
    assert query_jobs(google.stack) == []
    assert len(query_jobs(google.stack, dry_run=True)) == 1


def test_an_estimate_equal_to_the_limit_runs(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, 13 * MIB)
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=13 * MIB)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.bytes_estimated, run.bytes_billed) == (13 * MIB, 13 * MIB)
    assert len(query_jobs(google.stack)) == 1


def test_an_estimate_one_byte_over_the_limit_fails_the_run(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, 13 * MIB + 1)
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=13 * MIB)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert run.error_message.startswith("The run's query would process about 13.0 MB")
    assert run.bytes_estimated == 13 * MIB + 1
    assert query_jobs(google.stack) == []


def test_bigquerys_own_bytes_billed_limit_is_explained(google, bq_connection, alice):
    # The estimate (a few bytes) is under 5 MiB, but BigQuery bills at least 10 MiB a table.
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table, maximum_bytes_billed=5 * MIB)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    assert run.error_message.startswith(
        "The query would bill more bytes than its limit allows (5.0 MB (5,242,880 bytes); it "
        "needs 10.0 MB (10,485,760 bytes))."
    )
    assert "Raise the maximum bytes billed" in run.error_message
    assert "Project ID" not in run.error_message


def test_a_table_that_requires_a_partition_filter_on_its_cursor(google, bq_connection, alice):
    stack = google.stack
    table = "partitioned_events"
    stack.create_table(
        PROJECT, DATASET, table, EVENT_SCHEMA, event_rows(0, 10),
        partition_field="ts", require_partition_filter=True,
    )  # fmt: skip
    import_obj = make_import(
        bq_connection, alice, table=table, target="events", sync_mode="incremental",
        cursor_column="ts", cursor_type="TIMESTAMP",
    )  # fmt: skip

    status, first = run_once(import_obj, alice)
    assert status == ImportRun.Status.SUCCEEDED, first.error_message
    stack.insert_rows(PROJECT, DATASET, table, event_rows(10, 3, day=2))
    status, second = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, second.error_message
    assert (first.rows_read, second.rows_read) == (10, 4)
    assert all("WHERE `ts` >= @lo" in job.sql for job in scans(stack, table))


@pytest.mark.parametrize(
    ("cursor_type", "least"),
    [
        ("INT64", -(2**63)),
        ("TIMESTAMP", dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
        ("DATETIME", dt.datetime(1, 1, 1)),  # noqa: DTZ001 - a DATETIME has no zone
        ("DATE", dt.date(1, 1, 1)),
    ],
)
def test_a_first_run_on_a_partitioning_cursor_filters_from_the_types_least_value(
    bq_connection, alice, cursor_type, least
):
    # An integer-range partitioned table may hold negative cursor values: all are read.
    import_obj = make_import(
        bq_connection, alice, table="t", target="events", sync_mode="incremental",
        cursor_column="ts", cursor_type=cursor_type,
    )  # fmt: skip

    first = window.window(import_obj, window.SourceTable(frozenset({"ts"}), "ts"))

    assert first.sql.endswith("WHERE `ts` >= @lo")
    (param,) = first.params
    assert (param.type_, param.value) == (cursor_type, least)


def test_a_run_from_an_int64_watermark_of_zero_reads_from_zero_and_says_so(bq_connection, alice):
    import_obj = make_import(
        bq_connection, alice, table="t", target="events", sync_mode="incremental",
        cursor_column="seq", cursor_type="INT64",
    )  # fmt: skip
    import_obj.watermark = "0"

    frozen = window.window(import_obj, None)

    assert frozen.sql.endswith("WHERE `seq` >= @lo")
    assert [(param.type_, param.value) for param in frozen.params] == [("INT64", 0)]
    assert frozen.lo == "0"  # the run's "read from", not "every row"


@pytest.mark.parametrize(("learned", "asked"), [("EU", [SCRATCH]), ("", [DATASET, SCRATCH])])
@pytest.mark.parametrize("source_kind", ["table", "query"])
def test_a_run_asks_the_datasets_location_only_when_test_connection_did_not_learn_it(
    google, bq_connection, alice, learned, asked, source_kind
):
    bq_connection.location = learned
    bq_connection.save(update_fields=["location"])
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    query = f"SELECT * FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608
    import_obj = make_import(
        bq_connection, alice, table=table, source_kind=source_kind, source_query=query
    )

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.rows_read == 5
    gets = [r.path for r in google.stack.gate.requests if r.operation == "datasets.get"]
    assert [path.rsplit("/", 1)[-1] for path in gets] == asked  # and the scratch dataset's
