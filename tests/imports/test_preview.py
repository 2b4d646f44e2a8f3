"""The review step's typed preview (imports/preview.py) against the stand-ins: the sample is
read through the read path a run would take (the Storage Read API when the account holds
BigQuery Read Session User, REST paging when it does not), mapped by the runner's mapping
with the workspace's property types, and described property by property."""

import datetime as dt
import json
import re
import socket
import uuid
import zoneinfo

import pytest
from django.utils import timezone

from audience.models import Event, Profile, PropertyType
from audience.selectors import event_keys_stored
from common.ratelimit import SlidingWindow
from connections import bigquery
from imports import preview, services
from imports.models import Import, ImportRun
from imports.run import execute
from tests.fixtures.google import kept_table_as
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import

SAMPLE_SQL = r"""
SELECT 'p1' AS user_id, 'a@example.com' AS email, CAST(1.5 AS FLOAT64) AS score,
  NUMERIC '12345678901234567.89' AS balance, DATETIME '2024-06-01 09:00:00' AS last_login,
  CAST(3 AS INT64) AS big, '7' AS level
UNION ALL SELECT 'p2', 'b@example.com', CAST('NaN' AS FLOAT64), NUMERIC '0.5',
  DATETIME '2024-06-02 10:00:00', CAST(9007199254740993 AS INT64), '8'
UNION ALL SELECT 'p3', NULL, CAST(2 AS FLOAT64), NULL, NULL, NULL, 'high'
UNION ALL SELECT NULL, 'c@example.com', CAST(1 AS FLOAT64), NULL, NULL, NULL, NULL
UNION ALL SELECT 'p4', 'd@example.com', CAST(1 AS FLOAT64), NUMERIC '0.25',
  DATETIME '2024-06-03 11:00:00', NULL, NULL
"""
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PROPERTIES = ["email", "score", "balance", "last_login", "big", "level"]


@pytest.fixture(scope="module")
def sample_table(standin_stack):
    return kept_table_as(standin_stack, "kept_sample", SAMPLE_SQL)


@pytest.fixture
def kept_types(workspace_a):
    """The workspace already keeps balance as FLOAT64 and level as INT64."""
    for name, kind in (("balance", "FLOAT64"), ("level", "INT64")):
        PropertyType.objects.create(
            workspace=workspace_a,
            name=name,
            type=kind,
            defined_by_import_name="Old import",
            first_seen_at=timezone.now(),
        )


@pytest.fixture
def stored_p2(workspace_a):
    now = timezone.now()
    Profile.objects.create(workspace=workspace_a, identity="p2", first_seen=now, last_seen=now)


def draft(connection, **fields) -> Import:
    """An unsaved import, as the review step builds it from the draft."""
    definition = {
        "name": "Preview",
        "source_kind": "table",
        "target": "profiles",
        "identity_column": "user_id",
        "column_mapping": [{"column": c, "property": c, "include": True} for c in PROPERTIES],
        **fields,
    }
    return Import(workspace=connection.workspace, connection=connection, **definition)


def conflicts():
    return [
        {"property": "balance", "column": "balance", "type": "NUMERIC", "kept": "FLOAT64",
         "defined_by": "Old import", "castable": True},
        {"property": "level", "column": "level", "type": "STRING", "kept": "INT64",
         "defined_by": "Old import", "castable": True},
    ]  # fmt: skip


def flags(result) -> dict[str, list[str]]:
    return {p.name: sorted(f.kind for f in p.flags) for p in result.properties}


def by_name(result):
    return {p.name: p for p in result.properties}


def grant_read_sessions(google):
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)


def test_without_read_session_user_the_sample_is_read_with_rest_and_flagged(
    google, bq_connection, alice, sample_table, kept_types, stored_p2
):
    result = preview.sample_preview(
        import_obj=draft(bq_connection, source_table=sample_table),
        user=alice,
        type_conflicts=conflicts(),
    )

    assert result.error == ""
    assert result.read_path == "rest"
    assert result.rest_reason == (
        "the service account may not create Storage Read API sessions (it lacks BigQuery "
        "Read Session User, roles/bigquery.readSessionUser): runs read with the slower "
        "REST paging, as this sample did"
    )
    calls = [(c.operation, c.code) for c in google.stack.storage_gate.requests]
    assert calls == [("CreateReadSession", "PERMISSION_DENIED")]
    assert "tabledata.list" in google.stack.gate.operations()
    assert not result.by_query  # a table is read as it is: no query job, nothing billed
    assert "jobs.insert" not in google.stack.gate.operations()

    assert (result.rows_read, result.rows_mapped) == (5, 2)
    assert sorted(r.reason for r in result.rejections) == [
        "Missing identity in column user_id",
        "Property balance is FLOAT64 in this workspace; value '12345678901234567.89' cannot "
        "be stored as FLOAT64",
        "Property level is INT64 in this workspace; value 'high' cannot be stored as INT64",
    ]
    assert flags(result) == {
        "email": [],
        "score": ["mixed"],
        "balance": ["conflict", "precision"],
        "last_login": ["no_zone"],
        "big": ["precision"],
        "level": ["conflict", "rejected"],
    }
    props = by_name(result)
    assert props["score"].values == ['"NaN"', "1.0"]
    assert "string in 1" in props["score"].flags[0].text
    assert "number in 1" in props["score"].flags[0].text
    assert (props["balance"].stored_type, props["balance"].source_type) == ("FLOAT64", "NUMERIC")
    assert props["balance"].values == ["0.5", "0.25"]
    precision = next(f for f in props["balance"].flags if f.kind == "precision")
    assert precision.rejects and "12345678901234567.89" in precision.text
    assert props["big"].values == ["9007199254740993", "null"]
    assert props["big"].rows_with_value == 1  # of the 2 rows mapped, NULL is no value
    assert props["last_login"].values == ['"2024-06-02T10:00:00"', '"2024-06-03T11:00:00"']
    assert props["level"].values == ["8", "null"]  # "8" cast to the workspace's INT64
    assert (result.identities, result.existing, result.new_identities) == (2, 1, 1)


def test_with_read_session_user_the_sample_is_read_with_storage_and_lands_the_same(
    google, bq_connection, alice, sample_table, kept_types, stored_p2
):
    import_obj = draft(bq_connection, source_table=sample_table)
    grant_read_sessions(google)

    by_storage = preview.sample_preview(import_obj=import_obj, user=alice)

    assert by_storage.error == ""
    assert (by_storage.read_path, by_storage.rest_reason) == ("storage", "")
    reads = [(c.operation, c.code) for c in google.stack.storage_gate.requests]
    assert reads == [("CreateReadSession", "OK"), ("ReadRows", "OK")]
    assert "tabledata.list" not in google.stack.gate.operations()

    google.stack.revoke(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    by_rest = preview.sample_preview(import_obj=import_obj, user=alice)

    assert by_rest.read_path == "rest"
    assert by_storage.properties == by_rest.properties
    # Row numbers follow each path's row order; the reasons are the same.
    assert sorted(r.reason for r in by_storage.rejections) == sorted(
        r.reason for r in by_rest.rejections
    )
    assert len(by_storage.rejections) == 3
    assert (by_storage.identities, by_storage.existing) == (2, 1)


def test_a_query_source_runs_once_with_limit_20_and_is_read_from_its_result(
    google, bq_connection, alice, sample_table
):
    query = f"SELECT user_id, email, last_login FROM {DATASET}.{sample_table}"  # noqa: S608
    import_obj = draft(
        bq_connection,
        source_kind="query",
        source_query=query + ";",
        column_mapping=[
            {"column": "email", "property": "email", "include": True},
            {"column": "last_login", "property": "login", "include": True},
        ],
    )
    grant_read_sessions(google)

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == ""
    assert result.by_query and result.read_path == "storage"
    queries = [r.sql for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    assert queries == [f"SELECT * FROM (\n{query}\n) LIMIT 20"]  # noqa: S608
    assert [(p.name, p.stored_type) for p in result.properties] == [
        ("email", "STRING"),
        ("login", "DATETIME"),
    ]
    assert (result.identities, result.existing) == (4, 0)


def test_a_query_source_of_a_connection_with_a_location_runs_there_without_asking_google(
    google, bq_connection, alice, sample_table
):
    bq_connection.location = LOCATION
    bq_connection.save()
    query = f"SELECT user_id, email FROM {DATASET}.{sample_table}"  # noqa: S608
    import_obj = draft(
        bq_connection,
        source_kind="query",
        source_query=query,
        column_mapping=[{"column": "email", "property": "email", "include": True}],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert (result.error, result.by_query, result.rows_read) == ("", True, 5)
    assert "datasets.get" not in google.stack.gate.operations()


def test_a_source_read_by_query_is_sampled_with_the_runs_own_columns_and_partition_filter(
    google, bq_connection, alice
):
    """A view (or any source BigQuery cannot list rows of) is sampled by a query: the one a
    run makes, limited. LIMIT does not cut the bytes a query scans; its columns and its
    filter on a partitioning cursor do, and a table that requires that filter refuses a
    query without it."""
    table = f"partitioned_{uuid.uuid4().hex[:8]}"
    google.stack.create_table(
        PROJECT, DATASET, table, EVENT_SCHEMA, event_rows(0, 10),
        partition_field="ts", require_partition_filter=True,
    )  # fmt: skip
    import_obj = draft(
        bq_connection,
        source_table=table,
        target="events",
        event_name_column="event",
        timestamp_column="ts",
        sync_mode="incremental",
        cursor_column="ts",
        cursor_type="TIMESTAMP",
        column_mapping=[],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice, table_kind="VIEW")

    assert result.error == ""
    assert (result.by_query, result.rows_read, result.events) == (True, 10, 10)
    [sql] = [r.sql for r in google.stack.gate.requests if r.operation == "jobs.insert"]
    path = f"`{PROJECT}`.`{DATASET}`.`{table}`"
    assert sql == f"SELECT `user_id`, `event`, `ts` FROM {path} WHERE `ts` >= @lo LIMIT 20"  # noqa: S608


def test_a_query_still_running_after_the_timeout_is_cancelled_and_the_review_goes_on(
    google, bq_connection, alice, sample_table, monkeypatch
):
    monkeypatch.setattr(preview, "QUERY_TIMEOUT", 1.0)
    google.stack.gate.jobs_keep_running = True  # a query that takes minutes at Google
    query = f"SELECT user_id, email FROM {DATASET}.{sample_table}"  # noqa: S608
    import_obj = draft(
        bq_connection,
        source_kind="query",
        source_query=query,
        column_mapping=[{"column": "email", "property": "email", "include": True}],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == "BigQuery did not finish the sample query within 1 seconds."
    assert result.fix.startswith("You can still save the import")
    requests = google.stack.gate.requests
    [job_id] = {r.path.split("/")[-1] for r in requests if r.operation == "jobs.get"}
    cancels = [r for r in requests if r.operation == "jobs.cancel"]
    assert [(r.path.split("/")[-2], r.status) for r in cancels] == [(job_id, 200)]
    assert "tabledata.list" not in google.stack.gate.operations()  # nothing read after


def test_an_events_sample_shows_wall_clock_times_read_in_the_source_zone(
    google, bq_connection, alice, sample_table
):
    import_obj = draft(
        bq_connection,
        source_table=sample_table,
        target="events",
        event_name_fixed="Login",
        timestamp_column="last_login",
        source_time_zone="Europe/Berlin",
        column_mapping=[{"column": "email", "property": "email", "include": True}],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == ""
    times = {(t.stored, t.utc) for t in result.event_times}
    assert ('"2024-06-01T09:00:00"', "2024-06-01T07:00:00+00:00") in times
    # Each time as read stands beside its own event, past the rows rejected before it.
    assert len(result.event_times) == 3
    for shown in result.event_times:
        wall = dt.datetime.fromisoformat(json.loads(shown.stored))
        assert wall.replace(tzinfo=BERLIN) == dt.datetime.fromisoformat(shown.utc)
    assert sorted(r.reason for r in result.rejections) == [
        "Missing identity in column user_id",
        "Missing timestamp in column last_login",
    ]
    assert result.identities == 0  # new vs update is for profiles


def test_an_events_sample_counts_the_events_a_run_would_find_stored_already(
    google, bq_connection, alice, sample_table
):
    definition = {
        "event_name_column": "",
        "event_name_fixed": "Login",
        "timestamp_column": "last_login",
        "source_time_zone": "Europe/Berlin",
        "column_mapping": [{"column": "email", "property": "email", "include": True}],
    }
    import_obj = draft(bq_connection, source_table=sample_table, target="events", **definition)

    before = preview.sample_preview(import_obj=import_obj, user=alice)

    assert (before.events, before.events_stored, before.new_events) == (3, 0, 3)
    saved = make_import(bq_connection, alice, table=sample_table, target="events", **definition)
    run = services.import_run_now(import_obj=saved, actor=alice)
    status = execute.execute_run(str(run.pk))
    run.refresh_from_db()
    assert status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    Event.objects.filter(properties__email="b@example.com").delete()

    after = preview.sample_preview(import_obj=import_obj, user=alice)

    assert (after.events, after.events_stored, after.new_events) == (3, 2, 1)
    assert not after.events_replace  # no event ID column: a stored event is skipped


def test_an_events_sample_with_an_event_id_says_stored_events_are_replaced(
    google, bq_connection, alice, sample_table
):
    import_obj = draft(
        bq_connection,
        source_table=sample_table,
        target="events",
        event_name_fixed="Login",
        timestamp_column="last_login",
        source_time_zone="UTC",
        event_id_column="email",
        column_mapping=[],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == ""
    assert result.events == 3 and result.events_replace


def test_an_empty_table_is_read_with_rest_and_says_why(google, bq_connection, alice):
    grant_read_sessions(google)
    table = f"empty_{uuid.uuid4().hex[:8]}"
    google.stack.create_table(PROJECT, DATASET, table, EVENT_SCHEMA, [])
    import_obj = draft(bq_connection, source_table=table, column_mapping=[])

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert (result.error, result.read_path, result.rows_read) == ("", "rest", 0)
    assert result.rest_reason == "the source has no rows for the Storage Read API to stream"


def test_events_stored_counts_only_this_workspaces_events(workspace_a, workspace_b):
    keys = [uuid.uuid4(), uuid.uuid4()]
    for workspace, key in ((workspace_b, keys[0]), (workspace_a, keys[1])):
        Event.objects.create(
            workspace=workspace, identity="p1", name="Login", timestamp=timezone.now(),
            properties={}, dedupe_key=key,
        )  # fmt: skip

    assert event_keys_stored(workspace_id=workspace_a.pk, keys=set(keys)) == {keys[1]}


def test_an_incremental_sample_leaves_out_rows_without_a_cursor_as_a_run_does(
    google, bq_connection, alice, sample_table
):
    import_obj = draft(
        bq_connection,
        source_table=sample_table,
        sync_mode="incremental",
        cursor_column="last_login",
        cursor_type="DATETIME",
        source_time_zone="UTC",
        column_mapping=[{"column": "email", "property": "email", "include": True}],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert (result.rows_read, result.no_cursor, result.rows_mapped) == (5, 2, 3)


def test_samples_count_towards_the_per_user_limit_on_calls_to_bigquery(
    google, bq_connection, alice, sample_table, monkeypatch
):
    monkeypatch.setattr(preview, "GOOGLE_CALLS", SlidingWindow("sample-test", limit=1, seconds=60))
    import_obj = draft(bq_connection, source_table=sample_table)
    assert preview.sample_preview(import_obj=import_obj, user=alice).error == ""
    google.stack.gate.clear_requests()

    limited = preview.sample_preview(import_obj=import_obj, user=alice)

    assert limited.error == (
        "You asked BigQuery for previews and checks more than 1 times in a minute, so the "
        "sample was not read."
    )
    assert re.fullmatch(r"Wait \d+ seconds and reload this page\.", limited.fix)
    assert limited.properties == [] and google.stack.gate.operations() == []


def test_an_incremental_sample_on_an_integer_cursor_is_mapped_as_a_run_maps_it(
    google, bq_connection, alice, sample_table
):
    import_obj = draft(
        bq_connection,
        source_table=sample_table,
        sync_mode="incremental",
        cursor_column="big",
        cursor_type="INT64",
        column_mapping=[{"column": "email", "property": "email", "include": True}],
    )

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == ""
    assert (result.rows_read, result.no_cursor, result.rows_mapped) == (5, 3, 2)


def test_a_google_error_is_shown_in_our_words_and_nothing_is_raised(
    google, bq_connection, alice, sample_table
):
    google.stack.revoke(
        google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=DATASET
    )

    result = preview.sample_preview(
        import_obj=draft(bq_connection, source_table=sample_table), user=alice
    )

    assert result.properties == [] and result.read_path == ""
    assert google.key.email in result.error
    assert "does not have" not in result.error  # Google's own text stays in the log
    assert result.fix


def test_a_query_that_bigquery_refuses_is_shown_in_our_words(google, bq_connection, alice):
    google.stack.gate.inject("backend_error", times=None, match="jobs.insert")
    import_obj = draft(bq_connection, source_kind="query", source_query="SELECT 1 AS user_id")

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == "Google did not answer in time, or answered with a temporary error."
    assert result.fix.startswith("Try again in a minute.")
    assert result.properties == []


def test_a_mapping_the_source_does_not_fit_is_a_message(google, bq_connection, alice, sample_table):
    import_obj = draft(bq_connection, source_table=sample_table, identity_column="customer")

    result = preview.sample_preview(import_obj=import_obj, user=alice)

    assert result.error == (
        "The mapping does not fit the source's rows: The source has no column customer "
        "(the identity column) any more."
    )


def test_identities_stored_counts_only_this_workspaces_profiles(workspace_a, workspace_b):
    now = timezone.now()
    Profile.objects.create(workspace=workspace_b, identity="p1", first_seen=now, last_seen=now)
    Profile.objects.create(workspace=workspace_a, identity="p2", first_seen=now, last_seen=now)
    from audience.selectors import profile_identities_stored

    assert profile_identities_stored(workspace_id=workspace_a.pk, identities={"p1", "p2"}) == {"p2"}


def test_with_the_storage_read_api_off_on_this_server_the_sample_reads_with_rest(
    google, bq_connection, alice, sample_table, settings
):
    grant_read_sessions(google)
    settings.BIGQUERY_STORAGE_ENABLED = False

    result = preview.sample_preview(
        import_obj=draft(bq_connection, source_table=sample_table), user=alice
    )

    assert result.read_path == "rest" and result.rows_read == 5
    assert result.rest_reason == (
        "the Storage Read API is off on this server (disabled by BIGQUERY_STORAGE_ENABLED)"
    )
    assert google.stack.storage_gate.requests == []


def test_a_property_shows_its_first_three_distinct_values_with_null_last():
    assert preview._shown([None, 1, 1, 2, 3, 4]) == ["1", "2", "3"]
    assert preview._shown([None, "a", "a"]) == ['"a"', "null"]


def test_only_integers_a_double_cannot_hold_are_flagged():
    assert not preview._beyond_double(2**53 - 1)  # the largest a double holds exactly
    assert preview._beyond_double(2**53)
    assert preview._beyond_double([1, {"n": -(2**53)}])
    assert not preview._beyond_double(True)


def test_with_the_storage_read_api_unreachable_the_sample_reads_with_rest_and_says_so(
    google, bq_connection, alice, sample_table, settings, monkeypatch
):
    grant_read_sessions(google)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.BIGQUERY_STORAGE_TARGET = f"127.0.0.1:{closed_port}"
    monkeypatch.setattr(bigquery, "RETRY_DEADLINE", 0.5)

    result = preview.sample_preview(
        import_obj=draft(bq_connection, source_table=sample_table), user=alice
    )

    assert result.read_path == "rest" and result.rows_read == 5
    assert result.rest_reason == (
        "the Storage Read API did not answer; runs then read with REST paging"
    )


def test_flags_name_the_rejected_rows_and_a_stored_datetime():
    reason = "Property level is INT64 in this workspace; value 'high' cannot be stored as INT64"

    [one] = preview._flags(["8"], "STRING", "INT64", [reason], None)
    two = preview._flags([], "INT64", "FLOAT64", [reason, reason], None)

    assert (one.kind, one.rejects) == ("rejected", True)
    assert one.text == f"1 sample row would be rejected: {reason}."
    assert [f.text for f in two] == [
        f"Digits would be lost: 2 sample rows would be rejected: {reason}."
    ]
    assert [f.kind for f in preview._flags([], "STRING", "DATETIME", [], None)] == ["no_zone"]
    assert preview._flags([], "DATETIME", "STRING", [], None) == []


def test_booleans_and_numbers_are_mixed_json_types():
    [mixed] = preview._flags([True, 1, None], "JSON", "JSON", [], None)

    assert mixed.kind == "mixed"
    assert mixed.text == "Mixed JSON types across the sample rows: boolean in 1, number in 1."


def test_a_value_is_shown_whole_up_to_its_limit_and_unescaped():
    assert preview._text("x" * 58) == '"' + "x" * 58 + '"'  # 60 characters
    assert preview._text("x" * 59) == '"' + "x" * 58 + "…"
    assert preview._text("Zürich") == '"Zürich"'
