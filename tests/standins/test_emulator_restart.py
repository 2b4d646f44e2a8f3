"""Starting the emulator afresh behind the same gates (what the suite does between modules
once the emulator has grown): its data is gone, and the REST gate and the Storage Read
gate answer from the new one at once, on the same addresses."""

from __future__ import annotations

import pyarrow
import pytest
from google.cloud.bigquery_storage_v1 import types

from standins import StandinStack
from standins.emulator import DEFAULT_DATASET

PROJECT = "restart-project"
DATASET = "kept_until_restart"


@pytest.fixture
def own_stack() -> StandinStack:
    """A stack of its own: restarting the session's would drop every module's tables."""
    with StandinStack() as stack:
        stack.create_project(PROJECT)
        yield stack


def storage_ids(stack: StandinStack, key, table: str) -> list[int]:
    client = stack.storage_client(key)
    session = client.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(
            table=f"projects/{PROJECT}/datasets/{DATASET}/tables/{table}",
            data_format=types.DataFormat.ARROW,
        ),
        max_stream_count=1,
        retry=None,
        timeout=30,
    )
    [stream] = session.streams
    responses = list(client.read_rows(stream.name, retry=None, timeout=30))
    schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(responses[0].arrow_schema.serialized_schema))
    return [
        value
        for r in responses
        for value in pyarrow.ipc.read_record_batch(
            pyarrow.py_buffer(r.arrow_record_batch.serialized_record_batch), schema
        )
        .column("id")
        .to_pylist()
    ]


def load(stack: StandinStack, ids: range) -> None:
    stack.create_dataset(PROJECT, DATASET, location="US")
    stack.create_table(PROJECT, DATASET, "t", [("id", "INT64")], [{"id": i} for i in ids])


def test_a_restart_drops_the_data_and_both_gates_read_the_new_emulator(
    own_stack: StandinStack,
) -> None:
    stack = own_stack
    key = stack.register_service_account(
        f"reader@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project=PROJECT)
    stack.grant(key.email, "roles/bigquery.dataViewer", project=PROJECT)
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    load(stack, range(3))
    assert storage_ids(stack, key, "t") == [0, 1, 2]
    addresses = (stack.bigquery_endpoint, stack.grpc_target, stack.emulator.rest_url)
    memory = stack.emulator.rss_bytes()
    assert memory is not None and memory > 10 * 1024 * 1024

    stack.restart_emulator()

    assert (stack.bigquery_endpoint, stack.grpc_target, stack.emulator.rest_url) == addresses
    assert stack.emulator.datasets(PROJECT) == []
    assert stack.emulator.datasets(stack.emulator.project) == [DEFAULT_DATASET]
    load(stack, range(10, 15))
    # Straight after the restart, through the gates, as the app reads.
    assert storage_ids(stack, key, "t") == [10, 11, 12, 13, 14]
    client = stack.bigquery_client(key, project=PROJECT)
    rows = client.list_rows(f"{PROJECT}.{DATASET}.t")
    assert sorted(row["id"] for row in rows) == [10, 11, 12, 13, 14]
