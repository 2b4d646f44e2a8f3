"""The gate's cost behaviours through the real client: each query job's maximumBytesBilled,
labels and dryRun in the request log, the bytes it processes and bills, the limit refused
with Google's bytesBilledLimitExceeded, and a table that requires a partition filter."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from standins.gate import MIB
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, World
from tests.standins.test_gate import SHORT, TIMEOUT, message

USERS_SQL = f"SELECT user_id FROM `{PROJECT}.{DATASET}.users`"  # noqa: S608


def query(client: bigquery.Client, sql: str, **config) -> bigquery.QueryJob:
    job = client.query(
        sql,
        job_config=bigquery.QueryJobConfig(use_query_cache=False, **config),
        location=LOCATION,
        retry=SHORT,
        timeout=TIMEOUT,
    )
    if not job.dry_run:
        job.result(retry=SHORT, timeout=TIMEOUT)
    return job


def test_the_log_keeps_each_jobs_limit_labels_and_dry_run(world: World) -> None:
    client = world.client()
    query(client, USERS_SQL, maximum_bytes_billed=50 * MIB, labels={"purpose": "run"})
    query(client, USERS_SQL, dry_run=True)

    jobs = [r for r in world.stack.gate.requests if r.operation == "jobs.insert"]
    assert [(r.maximum_bytes_billed, r.labels, r.dry_run) for r in jobs] == [
        (50 * MIB, {"purpose": "run"}, False),
        (None, None, True),
    ]


def test_bytes_processed_and_billed_are_reported(world: World) -> None:
    world.stack.gate.set_table_bytes(PROJECT, DATASET, "users", 25 * MIB + 1)
    client = world.client()

    estimate = query(client, USERS_SQL, dry_run=True)
    job = query(client, USERS_SQL)
    fetched = client.get_job(job.job_id, location=LOCATION, retry=SHORT, timeout=TIMEOUT)

    assert estimate.total_bytes_processed == 25 * MIB + 1
    assert job.total_bytes_processed == 25 * MIB + 1
    assert fetched.total_bytes_billed == 26 * MIB  # rounded up to the next MiB


def test_a_small_table_bills_the_10_mib_minimum(world: World) -> None:
    job = query(world.client(), USERS_SQL)
    assert job.total_bytes_billed == 10 * MIB


def test_a_job_over_its_limit_fails_before_running(world: World) -> None:
    client = world.client()
    with pytest.raises(exceptions.BadRequest) as raised:
        query(client, USERS_SQL, maximum_bytes_billed=MIB)
    assert raised.value.errors[0]["reason"] == "bytesBilledLimitExceeded"
    assert message(raised.value) == (
        f"Query exceeded limit for bytes billed: {MIB}. {10 * MIB} or higher required."
    )
    # A dry run is not billed, so the limit does not apply to it.
    assert query(client, USERS_SQL, dry_run=True, maximum_bytes_billed=MIB).dry_run
    query(client, USERS_SQL, maximum_bytes_billed=10 * MIB)  # exactly the limit passes


def test_a_table_that_requires_a_partition_filter(world: World) -> None:
    stack = world.stack
    stack.create_table(
        PROJECT,
        DATASET,
        "visits",
        [("ts", "TIMESTAMP"), ("page", "STRING")],
        [{"ts": "2026-01-02T00:00:00Z", "page": "/"}],
        partition_field="ts",
        require_partition_filter=True,
    )
    client = world.client()
    table = f"`{PROJECT}.{DATASET}.visits`"
    with pytest.raises(exceptions.BadRequest) as raised:
        query(client, f"SELECT page FROM {table}")  # noqa: S608
    assert raised.value.errors[0]["reason"] == "invalidQuery"
    assert message(raised.value) == (
        f"Cannot query over table '{PROJECT}.{DATASET}.visits' without a filter over "
        "column(s) 'ts' that can be used for partition elimination"
    )
    filtered = query(client, f"SELECT page FROM {table} WHERE ts >= '2026-01-01'")  # noqa: S608
    assert [row.page for row in filtered.result()] == ["/"]
