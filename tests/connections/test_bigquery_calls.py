"""The BigQuery seam's calls against the stand-ins, with the real client libraries: each call
rides out one transient 503 (its short retry), and the small answers they give (one table of
a dataset, a table listing, whether a dataset had to be created) are what BigQuery holds."""

import datetime as dt
import uuid

import pytest

from connections.bigquery import (
    BigQuerySession,
    DatasetBrowser,
    GoogleCallError,
    GoogleErrorKind,
    ImportReader,
    JobOptions,
    StorageReader,
)
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, SCRATCH, USERS

USERS_TABLE = f"{PROJECT}.{DATASET}.users"


@pytest.fixture
def session(google):
    with BigQuerySession(google.key.info, PROJECT) as opened:
        yield opened


def unique(prefix):
    """A name no other test (or a rerun in the same session) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def calls(google, operation):
    return [r for r in google.stack.gate.requests if r.operation == operation]


def _table_names(session):
    return DatasetBrowser(session, DATASET).table_names()


def _table(session):
    return DatasetBrowser(session, DATASET).table("users")


def _preview(session):
    browser = DatasetBrowser(session, DATASET)
    return browser.preview_rows(browser.table("users"))


def _first_table(session):
    return session.first_table(DATASET)


def _dataset(session):
    return session.get_dataset(DATASET)


def _result_rows(session):
    return ImportReader(session).table_rows(USERS_TABLE)


def _result_pages(session):
    return list(ImportReader(session).pages(USERS_TABLE, start_index=0, page_size=10))


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("tables.list", _table_names),
        ("tables.list", _first_table),
        ("tables.get", _table),
        ("tabledata.list", _preview),
        ("datasets.get", _dataset),
        ("tables.get", _result_rows),
        ("tabledata.list", _result_pages),
    ],
)
def test_a_call_rides_out_one_transient_503(google, session, operation, call):
    google.stack.gate.inject("backend_error", times=1, match=operation)

    answer = call(session)

    assert answer
    statuses = [r.status for r in calls(google, operation)]
    assert statuses[:2] == [None, 200]  # the 503 (a fault, no status logged), then the retry


def test_first_table_asks_for_one_table_and_none_of_an_empty_dataset(google, session):
    # Datasets of its own: other tests add tables to the shared one.
    empty, filled = unique("empty"), unique("filled")
    for dataset in (empty, filled):
        google.stack.create_dataset(PROJECT, dataset, location=LOCATION)
        google.stack.grant(
            google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=dataset
        )
    for name in ("b_table", "c_table"):
        google.stack.create_table(PROJECT, filled, name, [("id", "INT64")])

    assert session.first_table(filled) == "b_table"
    assert session.first_table(empty) is None


def test_table_names_gives_each_tables_name_and_type_up_to_the_limit(google, session):
    dataset = unique("listed")
    google.stack.create_dataset(PROJECT, dataset, location=LOCATION)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=dataset
    )
    for name in ("b_table", "c_table"):
        google.stack.create_table(PROJECT, dataset, name, [("id", "INT64")])
    browser = DatasetBrowser(session, dataset)

    everything = browser.table_names()
    first = browser.table_names(limit=1)

    assert sorted(everything) == [("b_table", "TABLE"), ("c_table", "TABLE")]
    assert first == everything[:1]


def test_ensure_dataset_creates_a_missing_dataset_once(google, session):
    name = unique("scratch")
    google.stack.grant(google.key.email, "roles/bigquery.dataOwner", project=PROJECT)

    created = session.ensure_dataset(name, location=LOCATION, expiration_ms=3_600_000)
    again = session.ensure_dataset(name, location=LOCATION, expiration_ms=3_600_000)

    assert (created, again) == (True, False)
    assert len(calls(google, "datasets.insert")) == 1
    made = google.client().get_dataset(f"{PROJECT}.{name}")
    assert made.location == LOCATION
    assert made.default_table_expiration_ms == 3_600_000


def test_an_existing_dataset_is_not_created_again(google, session):
    assert session.ensure_dataset(SCRATCH, location=LOCATION, expiration_ms=3_600_000) is False
    assert calls(google, "datasets.insert") == []


def test_expire_table_sets_the_expiry_hours_from_now(google, session):
    table = unique("expiring")
    google.stack.create_table(PROJECT, SCRATCH, table, [("id", "INT64")])
    before = dt.datetime.now(dt.UTC)

    session.expire_table(f"{PROJECT}.{SCRATCH}.{table}", hours=24)

    expires = google.client().get_table(f"{PROJECT}.{SCRATCH}.{table}").expires
    assert before + dt.timedelta(hours=24) <= expires <= before + dt.timedelta(hours=24, minutes=1)


def test_deleting_a_table_that_is_already_gone_is_fine(google, session):
    name = unique("short_lived")
    google.stack.create_table(PROJECT, SCRATCH, name, [("id", "INT64")])
    table = f"{PROJECT}.{SCRATCH}.{name}"

    session.delete_table(table)
    session.delete_table(table)

    assert [r.status for r in calls(google, "tables.delete")] == [204, 404]


def test_result_pages_start_at_the_index_and_hold_page_size_rows(google, session):
    reader = ImportReader(session)

    pages = list(reader.pages(USERS_TABLE, start_index=1, page_size=2))

    assert [len(page) for page in pages] == [2, 2]
    assert [row["user_id"] for page in pages for row in page] == [
        user["user_id"] for user in USERS[1:]
    ]


def test_project_permissions_names_the_held_ones_and_a_refused_call_is_an_error(google, session):
    """An error answer of testIamPermissions is no list of permissions: it must not read as
    "none held"."""
    wanted = ["bigquery.jobs.create", "bigquery.datasets.create"]

    assert session.project_permissions(wanted) == {"bigquery.jobs.create"}

    google.stack.gate.inject("backend_error", times=None, match="projects.testIamPermissions")
    with pytest.raises(GoogleCallError) as info:
        session.project_permissions(wanted)
    assert (info.value.kind, info.value.status) == (GoogleErrorKind.BACKEND_ERROR, 503)


def test_a_result_tables_rows_schema_and_pages_take_one_tables_get(google, session):
    """A finished result table does not change: its row count, schema and rows come from
    one tables.get."""
    reader = ImportReader(session)

    assert reader.table_rows(USERS_TABLE) == len(USERS)
    assert [column["name"] for column in reader.table_schema(USERS_TABLE)] == [
        "user_id",
        "email",
        "plan",
    ]
    assert sum(len(page) for page in reader.pages(USERS_TABLE, start_index=0, page_size=2)) == 5

    assert len(calls(google, "tables.get")) == 1


def test_waiting_for_a_query_job_that_failed_raises_its_error(google, session):
    """A job can fail after jobs.insert accepted it (here: an anonymous result over
    BigQuery's size cap): waiting for it gives the job's error, not a result table."""
    google.stack.gate.anonymous_result_max_rows = 2
    reader = ImportReader(session)
    sql = f"SELECT * FROM `{USERS_TABLE}`"  # noqa: S608 - fixed test names
    job = reader.start_query(sql, [], location=LOCATION, options=JobOptions(purpose="preview"))

    with pytest.raises(GoogleCallError) as info:
        reader.wait(job, timeout=30)

    assert info.value.kind == GoogleErrorKind.RESPONSE_TOO_LARGE


class _StillWaiting(Exception):
    pass


def test_a_query_job_still_running_at_the_timeout_is_given_up_and_cancelled(google, session):
    google.stack.gate.jobs_keep_running = True  # a query that takes minutes at Google
    reader = ImportReader(session)
    sql = f"SELECT * FROM `{USERS_TABLE}`"  # noqa: S608 - fixed test names
    job = reader.start_query(sql, [], location=LOCATION, options=JobOptions(purpose="preview"))
    polls = []

    def on_wait():
        polls.append(1)
        if len(polls) > 20:  # ten seconds: far past the timeout
            raise _StillWaiting

    with pytest.raises(GoogleCallError) as info:
        reader.wait(job, timeout=1, on_wait=on_wait)

    assert (info.value.kind, info.value.reason) == (GoogleErrorKind.UNREACHABLE, "job_timeout")
    assert len(calls(google, "jobs.cancel")) == 1


@pytest.fixture
def storage(google, session):
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    with StorageReader(session) as reader:
        yield reader


def test_storage_pages_hold_page_size_rows_and_the_last_the_rest(storage):
    stream = storage.open_stream(USERS_TABLE)

    pages = list(storage.pages(stream, offset=0, page_size=2))
    from_the_second = list(storage.pages(stream, offset=1, page_size=3))

    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(row["user_id"] for page in pages for row in page) == [u["user_id"] for u in USERS]
    assert [len(page) for page in from_the_second] == [3, 1]


def test_an_empty_table_opens_no_storage_stream(google, storage):
    table = unique("no_rows")
    google.stack.create_table(PROJECT, SCRATCH, table, [("id", "INT64")])

    with pytest.raises(GoogleCallError) as info:
        storage.open_stream(f"{PROJECT}.{SCRATCH}.{table}")

    assert (info.value.kind, info.value.reason) == (
        GoogleErrorKind.STORAGE_UNAVAILABLE,
        "no_stream",
    )


def test_an_unknown_storage_stream_is_gone(storage):
    stream = storage.open_stream(USERS_TABLE)
    unknown = stream.rsplit("/", 1)[0] + "/no-such-stream"

    with pytest.raises(GoogleCallError) as info:
        list(storage.pages(unknown, offset=0, page_size=2))

    assert info.value.kind == GoogleErrorKind.READ_STREAM_GONE
