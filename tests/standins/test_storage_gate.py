"""The Storage Read API gate, driven by the real google-cloud-bigquery-storage client over the
kind of channel the app builds (loopback, the account's access token on every call):
bounded responses, offsets, authentication, permissions with Google's texts, and faults."""

from __future__ import annotations

import math
import uuid

import grpc
import pyarrow
import pytest
from google.api_core import exceptions
from google.api_core import retry as api_retry
from google.cloud.bigquery_storage_v1 import BigQueryReadClient, types
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
    BigQueryReadGrpcTransport,
)

from connections.google_errors import GoogleErrorKind, classify, explain
from standins import StandinStack, errors
from standins.policy import BIGQUERY_STORAGE_API
from standins.storage_gate import MAX_BYTES_PER_RESPONSE, MAX_ROWS_PER_RESPONSE
from tests.fixtures.google import kept_in_emulator
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, World

ROWS = 50_000
TIMEOUT = 30
NO_RETRY = None
RETRY_UNAVAILABLE = api_retry.Retry(
    predicate=api_retry.if_exception_type(exceptions.ServiceUnavailable),
    initial=0.01,
    maximum=0.05,
    timeout=5,
)


@pytest.fixture(scope="module")
def big_table(standin_stack: StandinStack) -> str:
    """A 50,000-row table (loaded once; the emulator keeps data between tests)."""
    return kept_in_emulator("kept_storage", load_big_table, standin_stack)


def load_big_table(standin_stack: StandinStack) -> str:
    name = "kept_storage"
    standin_stack.create_table(
        PROJECT,
        DATASET,
        name,
        [("id", "INT64", "REQUIRED"), ("name", "STRING"), ("score", "FLOAT64")],
        [{"id": i, "name": f"row {i}", "score": i / 4} for i in range(ROWS)],
    )
    return f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}"


@pytest.fixture
def reader(world: World) -> BigQueryReadClient:
    """The world's account with BigQuery Read Session User on the project, as a client."""
    world.stack.grant(world.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    return world.stack.storage_client(world.key)


def open_stream(client: BigQueryReadClient, table: str, *, retry=NO_RETRY) -> str:
    session = client.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(table=table, data_format=types.DataFormat.ARROW),
        max_stream_count=1,
        retry=retry,
        timeout=TIMEOUT,
    )
    [stream] = session.streams
    return stream.name


def read_ids(client: BigQueryReadClient, stream: str, offset: int = 0) -> list[int]:
    """The ids of the stream's rows from ``offset``, in stream order (resuming on
    UNAVAILABLE as the client library does)."""
    responses = list(client.read_rows(stream, offset=offset, retry=NO_RETRY, timeout=TIMEOUT))
    return decode(responses).column("id").to_pylist()


def batches(responses: list[types.ReadRowsResponse]) -> list[pyarrow.RecordBatch]:
    """Each response's record batch, read with the schema of the first response."""
    schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(responses[0].arrow_schema.serialized_schema))
    return [
        pyarrow.ipc.read_record_batch(
            pyarrow.py_buffer(r.arrow_record_batch.serialized_record_batch), schema
        )
        for r in responses
    ]


def decode(responses: list[types.ReadRowsResponse]) -> pyarrow.Table:
    return pyarrow.Table.from_batches(batches(responses))


# -- bounded responses and offsets -------------------------------------------------------------


def test_a_large_table_arrives_in_many_bounded_responses(
    world: World, reader: BigQueryReadClient, big_table: str
) -> None:
    stack = world.stack
    assert stack.grpc_target == stack.storage_gate.target
    assert stack.emulator_grpc_target == stack.emulator.grpc_target != stack.grpc_target
    stream = open_stream(reader, big_table)

    responses = list(reader.read_rows(stream, retry=NO_RETRY, timeout=TIMEOUT))

    assert MAX_ROWS_PER_RESPONSE == 1024
    assert len(responses) == math.ceil(ROWS / MAX_ROWS_PER_RESPONSE) == 49
    assert [r.row_count for r in responses] == [1024] * 48 + [ROWS - 48 * 1024]
    assert all(
        len(types.ReadRowsResponse.serialize(r)) <= MAX_BYTES_PER_RESPONSE for r in responses
    )
    # The schema comes once, in the first response, as BigQuery sends it.
    assert responses[0].arrow_schema.serialized_schema
    assert not any(r.arrow_schema.serialized_schema for r in responses[1:])
    progress = [
        (r.stats.progress.at_response_start, r.stats.progress.at_response_end) for r in responses
    ]
    assert progress[0][0] == 0 and progress[-1][1] == pytest.approx(1)
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(progress, progress[1:], strict=False))

    assert [b.num_rows for b in batches(responses)] == [r.row_count for r in responses]
    by_id = sorted(decode(responses).to_pylist(), key=lambda row: row["id"])
    assert by_id == [{"id": i, "name": f"row {i}", "score": i / 4} for i in range(ROWS)]

    [create, read] = stack.storage_gate.requests
    assert (create.operation, create.resource, create.code) == (
        "CreateReadSession",
        big_table,
        "OK",
    )
    assert (read.operation, read.resource, read.account, read.code) == (
        "ReadRows",
        stream,
        world.key.email,
        "OK",
    )
    assert (read.offset, read.responses, read.rows) == (0, 49, ROWS)


def test_reading_from_an_offset_gives_the_rows_from_that_position(
    reader: BigQueryReadClient, big_table: str
) -> None:
    stream = open_stream(reader, big_table)
    in_stream_order = read_ids(reader, stream)
    assert sorted(in_stream_order) == list(range(ROWS))

    responses = list(reader.read_rows(stream, offset=12_345, retry=NO_RETRY, timeout=TIMEOUT))

    assert responses[0].arrow_schema.serialized_schema  # each call starts with the schema
    assert max(r.row_count for r in responses) == 1024
    assert decode(responses).column("id").to_pylist() == in_stream_order[12_345:]
    assert list(reader.read_rows(stream, offset=ROWS, retry=NO_RETRY, timeout=TIMEOUT)) == []


def test_a_byte_bound_cuts_wide_responses_further(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stack.storage_gate.max_bytes_per_response = 8 * 1024  # reset() restores the default
    stream = open_stream(reader, big_table)

    responses = list(reader.read_rows(stream, retry=NO_RETRY, timeout=TIMEOUT))

    sizes = [len(types.ReadRowsResponse.serialize(r)) for r in responses]
    assert max(sizes) <= 8 * 1024
    assert len(responses) > 49 and max(r.row_count for r in responses) < 1024
    assert sum(r.row_count for r in responses) == ROWS
    assert sorted(decode(responses).column("id").to_pylist()) == list(range(ROWS))


# -- authentication ----------------------------------------------------------------------------


def client_over(channel: grpc.Channel) -> BigQueryReadClient:
    return BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))


def test_a_call_without_a_token_is_unauthenticated(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stream = open_stream(reader, big_table)
    anonymous = client_over(grpc.insecure_channel(stack.grpc_target))

    with pytest.raises(exceptions.Unauthenticated) as caught:
        open_stream(anonymous, big_table)
    assert caught.value.message == errors.missing_credentials().message
    with pytest.raises(exceptions.Unauthenticated):
        read_ids(anonymous, stream)
    assert classify(caught.value).kind is GoogleErrorKind.UNAUTHORIZED
    assert [(r.operation, r.account, r.code) for r in stack.storage_gate.requests[-2:]] == [
        ("CreateReadSession", None, "UNAUTHENTICATED"),
        ("ReadRows", None, "UNAUTHENTICATED"),
    ]


def test_an_unknown_token_is_unauthenticated(stack: StandinStack, big_table: str) -> None:
    credentials = grpc.composite_channel_credentials(
        grpc.local_channel_credentials(), grpc.access_token_call_credentials("ya29.forged")
    )
    forged = client_over(grpc.secure_channel(stack.grpc_target, credentials))

    with pytest.raises(exceptions.Unauthenticated) as caught:
        open_stream(forged, big_table)
    assert caught.value.message == errors.invalid_credentials().message


def test_a_revoked_token_stops_working(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str, world: World
) -> None:
    open_stream(reader, big_table)
    stack.token_server.disable_account(world.key.email)

    with pytest.raises(exceptions.Unauthenticated):
        open_stream(reader, big_table)


# -- permissions -------------------------------------------------------------------------------


def test_job_user_and_data_editor_are_not_enough_to_create_a_read_session(
    world: World, big_table: str
) -> None:
    client = world.stack.storage_client(world.key)  # jobUser on the project, WRITER on crm

    with pytest.raises(exceptions.PermissionDenied) as caught:
        open_stream(client, big_table)

    assert caught.value.message == (
        "request failed: the user does not have 'bigquery.readsessions.create' permission "
        f"for 'projects/{PROJECT}'"
    )
    classified = classify(caught.value)
    assert (classified.kind, classified.permanent, classified.status) == (
        GoogleErrorKind.ACCESS_DENIED,
        True,
        403,
    )
    assert classified.permission == "bigquery.readsessions.create"


def test_a_read_session_needs_read_access_to_the_table(stack: StandinStack, big_table: str) -> None:
    stack.create_project(PROJECT)
    key = stack.register_service_account(
        f"sessions-only@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=PROJECT)

    with pytest.raises(exceptions.PermissionDenied) as caught:
        open_stream(stack.storage_client(key), big_table)

    assert caught.value.message == (
        "request failed: the user does not have 'bigquery.tables.getData' permission for "
        f"'{big_table}'"
    )
    assert classify(caught.value).permission == "bigquery.tables.getData"


def test_reading_rows_needs_read_session_get_data(world: World, big_table: str) -> None:
    world.stack.grant(world.key.email, ["bigquery.readsessions.create"], project=PROJECT)
    client = world.stack.storage_client(world.key)
    stream = open_stream(client, big_table)  # creating is allowed

    with pytest.raises(exceptions.PermissionDenied) as caught:
        read_ids(client, stream)

    assert caught.value.message == (
        f"there was an error operating on '{stream}': the user does not have "
        f"'bigquery.readsessions.getData' permission for '{stream}'"
    )


def test_the_storage_api_disabled_is_answered_like_rest(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    project = stack.policy.project(PROJECT)
    stack.policy.set_api_enabled(PROJECT, False, service=BIGQUERY_STORAGE_API)

    with pytest.raises(exceptions.PermissionDenied) as caught:
        open_stream(reader, big_table)

    assert caught.value.message.startswith(
        f"BigQuery Storage API has not been used in project {project.number} before or it is "
        "disabled."
    )
    assert caught.value.reason == "SERVICE_DISABLED"
    assert caught.value.metadata["consumer"] == f"projects/{project.number}"
    error = classify(caught.value)
    assert error.kind is GoogleErrorKind.API_DISABLED
    said = explain(error, email="a@b.iam.gserviceaccount.com", project_id=PROJECT, dataset_id="d")
    assert said.detail == f"The BigQuery Storage API is not enabled in project {project.number}."
    assert said.fix.startswith(f"Enable the BigQuery Storage API in project {project.number}")


def test_query_results_are_readable_by_the_job_owner_only(
    world: World, reader: BigQueryReadClient
) -> None:
    job = world.client().query(
        f"SELECT user_id, plan FROM `{PROJECT}.{DATASET}.users`",  # noqa: S608
        location=LOCATION,
        timeout=TIMEOUT,
    )
    job.result(timeout=TIMEOUT)
    destination = job.destination
    assert destination.dataset_id == "_results"
    results = (
        f"projects/{destination.project}/datasets/{destination.dataset_id}/tables/"
        f"{destination.table_id}"
    )
    assert len(read_ids_of(reader, results)) == 5

    other = world.stack.register_service_account(
        f"other@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    world.stack.grant(
        other.email, ["roles/bigquery.jobUser", "roles/bigquery.readSessionUser"], project=PROJECT
    )
    with pytest.raises(exceptions.PermissionDenied, match="bigquery.tables.getData"):
        open_stream(world.stack.storage_client(other), results)


def read_ids_of(client: BigQueryReadClient, table: str) -> list[str]:
    stream = open_stream(client, table)
    responses = list(client.read_rows(stream, retry=NO_RETRY, timeout=TIMEOUT))
    return decode(responses).column("user_id").to_pylist()


# -- faults ------------------------------------------------------------------------------------


def test_create_read_session_unavailable_twice_then_answered(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stack.storage_gate.inject("unavailable", times=2, match="CreateReadSession")

    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        open_stream(reader, big_table)
    classified = classify(caught.value)
    assert (classified.kind, classified.permanent) == (GoogleErrorKind.UNREACHABLE, False)
    assert open_stream(reader, big_table, retry=RETRY_UNAVAILABLE)

    assert [(r.operation, r.code, r.fault) for r in stack.storage_gate.requests] == [
        ("CreateReadSession", "UNAVAILABLE", "unavailable"),
        ("CreateReadSession", "UNAVAILABLE", "unavailable"),
        ("CreateReadSession", "OK", None),
    ]


def test_a_stream_broken_mid_way_is_resumed_from_the_rows_received(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stream = open_stream(reader, big_table)
    expected = read_ids(reader, stream)
    stack.storage_gate.clear_requests()
    stack.storage_gate.inject("unavailable", match="ReadRows", after=3)

    # The client library reconnects on UNAVAILABLE with the offset of the rows it has.
    assert read_ids(reader, stream) == expected

    reads = [(r.code, r.fault, r.offset, r.responses, r.rows) for r in stack.storage_gate.requests]
    assert reads == [
        ("UNAVAILABLE", "unavailable", 0, 3, 3 * 1024),
        ("OK", None, 3 * 1024, 46, ROWS - 3 * 1024),
    ]


def test_a_stream_that_is_gone_is_not_found(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stream = open_stream(reader, big_table)
    stack.storage_gate.inject("not_found", match="ReadRows")

    with pytest.raises(exceptions.NotFound) as caught:
        read_ids(reader, stream)
    assert caught.value.message == f"Not found: Stream {stream}"

    stack.storage_gate.inject("expired", match=stream)
    with pytest.raises(exceptions.FailedPrecondition) as caught:
        read_ids(reader, stream)
    assert caught.value.message.startswith(
        f"there was an error operating on '{stream}': session expired at "
    )
    assert len(read_ids(reader, stream)) == ROWS  # the faults were used up


def test_an_unknown_stream_is_the_emulators_not_found(
    reader: BigQueryReadClient, big_table: str
) -> None:
    stream = open_stream(reader, big_table)

    with pytest.raises(exceptions.NotFound, match="Not found: Stream"):
        read_ids(reader, f"{stream}-gone")
    with pytest.raises(exceptions.FailedPrecondition, match="has not been allocated yet"):
        read_ids(reader, stream, offset=10)  # nothing read from this stream yet


def test_a_hanging_call_meets_the_clients_deadline(
    stack: StandinStack, reader: BigQueryReadClient, big_table: str
) -> None:
    stack.storage_gate.inject("hang", seconds=30, match="CreateReadSession")

    with pytest.raises(exceptions.DeadlineExceeded):
        reader.create_read_session(
            parent=f"projects/{PROJECT}",
            read_session=types.ReadSession(table=big_table, data_format=types.DataFormat.ARROW),
            max_stream_count=1,
            retry=NO_RETRY,
            timeout=0.5,
        )


def test_a_session_of_several_streams_divides_the_rows_between_them(
    reader: BigQueryReadClient, big_table: str
) -> None:
    """As BigQuery: up to max_stream_count streams, together every row exactly once, each
    readable from its own offsets (the emulator itself always answers one stream)."""
    session = reader.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(table=big_table, data_format=types.DataFormat.ARROW),
        max_stream_count=3,
        retry=NO_RETRY,
        timeout=TIMEOUT,
    )
    streams = [stream.name for stream in session.streams]
    assert len(streams) == 3
    # The last stream first: its rows are there before anyone read the ones before them.
    parts = [read_ids(reader, stream) for stream in reversed(streams)][::-1]
    assert sorted(id_ for part in parts for id_ in part) == list(range(ROWS))
    assert all(len(part) in (ROWS // 3, ROWS // 3 + 1) for part in parts)
    # From an offset: that stream's rows from there on, and none of another stream's.
    assert read_ids(reader, streams[1], offset=1000) == parts[1][1000:]
    at_the_end = reader.read_rows(streams[2], offset=len(parts[2]), retry=NO_RETRY, timeout=TIMEOUT)
    assert list(at_the_end) == []


def test_a_table_of_several_emulator_streams_is_read_as_the_streams_asked_for(
    reader: BigQueryReadClient, standin_stack: StandinStack
) -> None:
    """The emulator makes a stream per 100,000 rows and answers each only once all of it is
    out of DuckDB; the gate reads them in order behind the streams the client asked for,
    so reading starts after one of them, with every row once and offsets as BigQuery's."""
    rows = 250_001  # three emulator streams: rows 0, 83,333 and 166,667 on
    name = f"several_{uuid.uuid4().hex[:8]}"
    standin_stack.create_table(
        PROJECT, DATASET, name, [("id", "INT64", "REQUIRED")], [{"id": i} for i in range(rows)]
    )
    table = f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}"

    def streams(count: int) -> list[str]:
        session = reader.create_read_session(
            parent=f"projects/{PROJECT}",
            read_session=types.ReadSession(table=table, data_format=types.DataFormat.ARROW),
            max_stream_count=count,
            retry=NO_RETRY,
            timeout=TIMEOUT,
        )
        return [stream.name for stream in session.streams]

    [one] = streams(1)
    assert one.endswith("-part0")  # the gate's, over the emulator's three
    assert read_ids(reader, one) == list(range(rows))
    assert read_ids(reader, one, offset=150_000) == list(range(150_000, rows))
    first, second = streams(2)
    assert read_ids(reader, second) == list(range(125_000, rows))
    assert read_ids(reader, first, offset=83_000) == list(range(83_000, 125_000))


def test_a_small_table_gets_fewer_streams_than_asked(
    reader: BigQueryReadClient, standin_stack: StandinStack
) -> None:
    name = f"small_{uuid.uuid4().hex[:8]}"
    standin_stack.create_table(
        PROJECT, DATASET, name, [("id", "INT64", "REQUIRED")], [{"id": i} for i in range(2)]
    )
    session = reader.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(
            table=f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}",
            data_format=types.DataFormat.ARROW,
        ),
        max_stream_count=4,
        retry=NO_RETRY,
        timeout=TIMEOUT,
    )
    streams = [stream.name for stream in session.streams]
    assert len(streams) == 2
    assert sorted(read_ids(reader, streams[0]) + read_ids(reader, streams[1])) == [0, 1]
