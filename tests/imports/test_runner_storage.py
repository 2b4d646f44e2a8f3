"""The runner's Storage Read API path (gRPC, Arrow) through the storage gate in front of the
emulator, its fallback to REST paging (API unreachable, or denied: the roles the product asks
for do not include BigQuery Read Session User), and resuming a crashed storage run from its
committed offset."""

import datetime as dt
import logging
import socket

import pytest

from audience.models import Event, Profile
from connections import bigquery
from connections.keys import connection_key_info
from imports import services
from imports.models import ImportRun, RejectedRow
from imports.run import execute, leases, write
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import (
    EVENT_SCHEMA,
    START,
    USER_SCHEMA,
    event_rows,
    make_import,
    new_table,
    user_rows,
)

TYPED_USER_SCHEMA = [*USER_SCHEMA, ("signup", "DATE"), ("score", "INT64")]


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40


@pytest.fixture
def storage_read(google):
    """Grant BigQuery Read Session User, which the Storage Read API needs on top of the Job
    User and Data Editor roles the product asks for; and make the gate answer in responses
    of 32 rows, so that a page of 40 spans responses."""
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    google.stack.storage_gate.max_rows_per_response = 32  # the stack's reset() restores it
    return google.stack.storage_gate


def typed_user_rows(count: int) -> list[dict]:
    rows = user_rows(0, count)
    for i, row in enumerate(rows):
        row["signup"] = (START.date() + dt.timedelta(days=i)).isoformat()
        row["score"] = i * 1_000_000_007
    return rows


def run_once(import_obj, user):
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = execute.execute_run(str(run.pk))
    run.refresh_from_db()
    import_obj.refresh_from_db()
    return status, run


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_profiles_import_reads_with_storage_and_maps_types_like_rest(
    google, storage_read, bq_connection, alice, settings
):
    table = new_table(google.stack, TYPED_USER_SCHEMA, typed_user_rows(130))
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        column_mapping=[
            {"column": "email", "property": "email", "include": True},
            {"column": "plan", "property": "plan", "include": True},
            {"column": "updated_at", "property": "updated_at", "include": True},
            {"column": "signup", "property": "signup", "include": True},
            {"column": "score", "property": "score", "include": True},
        ],
    )

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "storage" and run.read_stream
    assert (run.rows_expected, run.rows_read, run.rows_written, run.committed_offset) == (
        130,
        130,
        130,
        130,
    )
    by_storage = dict(Profile.objects.values_list("identity", "properties"))
    assert by_storage["u3"] == {
        "email": "user3@example.com",
        "plan": "pro",
        "updated_at": "2026-01-01T00:03:00+00:00",
        "signup": "2026-01-04",
        "score": 3_000_000_021,
    }

    Profile.objects.all().delete()
    settings.BIGQUERY_STORAGE_ENABLED = False
    status, rest_run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, rest_run.error_message
    assert rest_run.read_path == "rest" and not rest_run.read_stream
    assert dict(Profile.objects.values_list("identity", "properties")) == by_storage


def test_an_events_import_reads_with_storage_like_rest(
    google, storage_read, bq_connection, alice, settings
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 90))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    fields = ("identity", "name", "timestamp", "properties", "dedupe_key")

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "storage"
    assert (run.rows_read, run.rows_written) == (90, 90)
    by_storage = sorted(Event.objects.values_list(*fields))
    event = Event.objects.get(identity="u7", properties__amount=7)
    assert (event.name, event.timestamp) == ("purchase", START + dt.timedelta(seconds=7))

    Event.objects.all().delete()
    settings.BIGQUERY_STORAGE_ENABLED = False
    _, rest_run = run_once(import_obj, alice)

    assert rest_run.read_path == "rest"
    assert sorted(Event.objects.values_list(*fields)) == by_storage


def test_storage_unreachable_falls_back_to_rest_and_says_so(
    google, storage_read, bq_connection, alice, settings, monkeypatch, caplog
):
    settings.BIGQUERY_STORAGE_TARGET = f"127.0.0.1:{closed_port()}"
    monkeypatch.setattr(bigquery, "RETRY_DEADLINE", 0.5)
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 50))
    import_obj = make_import(bq_connection, alice, table=table)

    with caplog.at_level(logging.INFO, logger="imports.run"):
        status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "rest" and not run.read_stream
    assert Profile.objects.count() == 50
    assert "Storage Read API unavailable (unreachable); reading with REST paging" in caplog.text


def test_an_empty_result_opens_no_read_session(google, storage_read, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, [])
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_expected, run.rows_read, run.read_path) == (0, 0, "rest")
    assert [c for c in storage_read.requests if c.operation == "CreateReadSession"] == []


def test_without_read_session_user_storage_is_denied_and_the_run_reads_with_rest(
    google, bq_connection, alice, caplog
):
    # The account holds what the product asks admins to grant: Job User and Data Editor.
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)

    with caplog.at_level(logging.INFO, logger="imports.run"):
        status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "rest" and not run.read_stream
    assert (run.rows_read, run.rows_written, run.committed_offset) == (130, 130, 130)
    assert Profile.objects.count() == 130
    assert (
        "Storage Read API unavailable (access_denied; granting the service account BigQuery "
        "Read Session User (roles/bigquery.readSessionUser) makes imports faster); "
        "reading with REST paging" in caplog.text
    )
    assert (
        "the user does not have 'bigquery.readsessions.create' permission for "
        f"'projects/{PROJECT}'" in caplog.text
    )
    calls = [(c.operation, c.account, c.code) for c in google.stack.storage_gate.requests]
    assert calls == [("CreateReadSession", google.key.email, "PERMISSION_DENIED")]


def test_a_denied_read_session_closes_the_channel_it_opened(
    google, bq_connection, alice, monkeypatch
):
    """Denied is what the roles the product asks for get, run after run: a worker must not
    keep a gRPC channel from each."""
    closed = []
    original_close = bigquery.StorageReader.close

    def close(self):
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(bigquery.StorageReader, "close", close)
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "rest"
    assert len(closed) == 1


def test_a_storage_stream_broken_mid_way_is_read_again_from_the_committed_row(
    google, storage_read, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    storage_read.inject("unavailable", match="ReadRows", after=2)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert run.read_path == "storage"
    assert (run.rows_read, run.rows_written, run.committed_offset) == (130, 130, 130)
    assert Profile.objects.count() == 130
    reads = [(c.code, c.offset, c.rows) for c in storage_read.requests if c.operation == "ReadRows"]
    # The runner retries the transient error from its committed page (row 40), same stream.
    assert reads == [("UNAVAILABLE", 0, 64), ("OK", 40, 90)]
    assert run.read_stream == storage_read.requests[-1].resource


def test_a_transient_error_that_persists_fails_the_run_after_the_retries_allowed(
    google, storage_read, bq_connection, alice, settings
):
    settings.IMPORT_TRANSIENT_RETRIES = 2
    settings.IMPORT_RETRY_BASE_SECONDS = 0.01
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    # The first read and both retries fail; a fourth read would succeed.
    storage_read.inject("unavailable", match="ReadRows", times=3)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.FAILED
    reads = [(c.code, c.offset) for c in storage_read.requests if c.operation == "ReadRows"]
    assert reads == [("UNAVAILABLE", 0)] * 3
    assert (run.committed_offset, run.rows_read) == (0, 0)
    assert Profile.objects.count() == 0


def test_the_retries_allowed_count_again_after_a_page_is_written(
    google, storage_read, bq_connection, alice, settings
):
    settings.IMPORT_TRANSIENT_RETRIES = 1
    settings.IMPORT_RETRY_BASE_SECONDS = 0.01
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    # Two transient errors, each after a page the read before it committed: one retry each.
    storage_read.inject("unavailable", match="ReadRows", after=2)
    storage_read.inject("unavailable", match="ReadRows", after=2)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    reads = [(c.code, c.offset) for c in storage_read.requests if c.operation == "ReadRows"]
    assert reads == [("UNAVAILABLE", 0), ("UNAVAILABLE", 40), ("OK", 80)]
    assert (run.rows_read, run.rows_written, run.committed_offset) == (130, 130, 130)
    assert Profile.objects.count() == 130


def test_a_stream_gone_mid_run_rereads_with_rest_and_counts_each_rejected_row_once(
    google, storage_read, bq_connection, alice
):
    rows = user_rows(0, 130)
    for row in rows[::10]:  # rows 1, 11, ..., 121: four of them in the first page
        row["user_id"] = None
    table = new_table(google.stack, USER_SCHEMA, rows)
    import_obj = make_import(bq_connection, alice, table=table)
    # The stream is gone after its first page (40 rows) was written.
    storage_read.inject("not_found", match="ReadRows", after=2)

    status, run = run_once(import_obj, alice)

    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    reads = [(c.code, c.offset, c.rows) for c in storage_read.requests if c.operation == "ReadRows"]
    assert reads == [("NOT_FOUND", 0, 64)]  # a page of 40 written before the stream went
    assert (run.read_path, run.read_stream) == ("rest", "")
    assert (run.rows_read, run.rows_written, run.rows_unchanged, run.rows_rejected) == (
        130,
        117,
        0,
        13,
    )
    numbers = RejectedRow.objects.filter(run=run).values_list("row_number", flat=True)
    assert sorted(numbers) == list(range(1, 131, 10))


class Crash(Exception):
    pass


def start_and_crash_after_one_page(import_obj, user, monkeypatch):
    """Claim a run and execute it until its first page is committed, then 'crash'."""
    run = services.import_run_now(import_obj=import_obj, actor=user)
    claimed = leases.run_claim(run_id=str(run.pk), owner="worker-a")
    original = write.write_page

    def write_then_crash(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(write, "write_page", write_then_crash)
    connection = import_obj.connection
    key_info = connection_key_info(connection)
    with (
        bigquery.BigQuerySession(key_info, connection.project_id) as session,
        pytest.raises(Crash),
    ):
        execute._execute(claimed, "worker-a", session)
    monkeypatch.setattr(write, "write_page", original)
    # the worker is gone: its lease runs out
    ImportRun.objects.filter(pk=run.pk).update(lease_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    run.refresh_from_db()
    return run


def test_a_crashed_storage_run_resumes_from_its_committed_offset(
    google, storage_read, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    crashed = start_and_crash_after_one_page(import_obj, alice, monkeypatch)
    assert (crashed.read_path, crashed.committed_offset) == ("storage", 40)
    offsets = []
    original_pages = bigquery.StorageReader.pages

    def pages(self, stream, *, offset, page_size):
        offsets.append((stream, offset))
        return original_pages(self, stream, offset=offset, page_size=page_size)

    monkeypatch.setattr(bigquery.StorageReader, "pages", pages)

    status = execute.execute_run(str(crashed.pk))

    run = ImportRun.objects.get(pk=crashed.pk)
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert offsets == [(crashed.read_stream, 40)]  # the same stream, from the committed row
    assert (run.read_path, run.read_stream) == ("storage", crashed.read_stream)
    assert (run.committed_offset, run.rows_read, run.rows_written) == (130, 130, 130)
    assert run.attempts == 2
    assert Profile.objects.count() == 130


def test_a_resumed_run_whose_stream_is_gone_rereads_everything_with_rest(
    google, storage_read, bq_connection, alice, monkeypatch, caplog
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    crashed = start_and_crash_after_one_page(import_obj, alice, monkeypatch)
    assert crashed.committed_offset == 40
    ImportRun.objects.filter(pk=crashed.pk).update(read_stream=f"{crashed.read_stream}-expired")

    with caplog.at_level(logging.INFO, logger="imports.run"):
        status = execute.execute_run(str(crashed.pk))

    run = ImportRun.objects.get(pk=crashed.pk)
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.read_path, run.read_stream) == ("rest", "")
    assert (run.committed_offset, run.rows_read) == (130, 130)  # one whole pass, from row 0
    assert run.rows_written == 130  # the replayed first page changed nothing
    # ... and is not counted again as unchanged: written + unchanged + rejected = read.
    assert (run.rows_unchanged, run.rows_rejected) == (0, 0)
    assert Profile.objects.count() == 130
    assert "reading" in caplog.text and "again from row 0 with REST paging" in caplog.text


def test_a_run_that_crashed_after_its_last_page_ends_without_reading_again(
    google, storage_read, bq_connection, alice, monkeypatch
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 40))  # one page
    import_obj = make_import(bq_connection, alice, table=table)
    crashed = start_and_crash_after_one_page(import_obj, alice, monkeypatch)
    assert (crashed.committed_offset, crashed.rows_expected) == (40, 40)
    # Hours later its read session has expired: reading the stream again would fail.
    ImportRun.objects.filter(pk=crashed.pk).update(read_stream=f"{crashed.read_stream}-expired")
    storage_read.clear_requests()

    status = execute.execute_run(str(crashed.pk))

    run = ImportRun.objects.get(pk=crashed.pk)
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert [c for c in storage_read.requests if c.operation == "ReadRows"] == []
    assert not [r for r in google.stack.gate.requests if r.operation == "tabledata.list"]
    assert (run.read_path, run.committed_offset, run.rows_read, run.rows_written) == (
        "storage",
        40,
        40,
        40,
    )
    assert Profile.objects.count() == 40


def test_a_crashed_storage_run_resumed_once_storage_is_turned_off_rereads_with_rest(
    google, storage_read, bq_connection, alice, monkeypatch, settings
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 130))
    import_obj = make_import(bq_connection, alice, table=table)
    crashed = start_and_crash_after_one_page(import_obj, alice, monkeypatch)
    assert (crashed.read_path, crashed.committed_offset) == ("storage", 40)
    settings.BIGQUERY_STORAGE_ENABLED = False
    storage_read.clear_requests()

    status = execute.execute_run(str(crashed.pk))

    run = ImportRun.objects.get(pk=crashed.pk)
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert storage_read.requests == []
    assert (run.read_path, run.read_stream) == ("rest", "")
    assert (run.committed_offset, run.rows_read) == (130, 130)  # one whole pass, from row 0
    assert Profile.objects.count() == 130
