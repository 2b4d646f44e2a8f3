"""Rows the type contract turns away, identities of each allowed type, and event times at
their limits, through the real runner with the Storage Read API (Arrow) and with REST paging
(tabledata.list): the same rows land, with the same identities and times, and the same rows
are rejected with the same reason and the same data, whichever path a run took (README,
"How BigQuery types land" and "Event time"; "Identities, events and NULLs")."""

import datetime as dt
import uuid

import pytest
from django.db import connection

from audience.models import Event, Profile
from imports import services
from imports.models import ImportRun
from imports.run.execute import execute_run
from tests.fixtures.google import kept_table_as
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import make_import

UTC = dt.UTC
NUL = "CODE_POINTS_TO_STRING([0])"

# Every row but "ok" is rejected by events; "no-time" lands as a profile (its ts is a
# property there).
REFUSALS_SQL = f"""
SELECT 'ok' AS user_id, 'visit' AS event, TIMESTAMP '2024-06-01 07:00:00 UTC' AS ts,
  'fine' AS note, JSON '{{"k": "v"}}' AS doc
UNION ALL SELECT NULL, 'visit', TIMESTAMP '2024-06-01 07:00:01 UTC', 'no identity', NULL
UNION ALL SELECT '', 'visit', TIMESTAMP '2024-06-01 07:00:02 UTC', 'empty identity', NULL
UNION ALL SELECT '   ', 'visit', TIMESTAMP '2024-06-01 07:00:03 UTC', 'blank identity', NULL
UNION ALL SELECT CONCAT('a', {NUL}), 'visit', TIMESTAMP '2024-06-01 07:00:04 UTC', 'nul id', NULL
UNION ALL SELECT 'nul-note', 'visit', TIMESTAMP '2024-06-01 07:00:05 UTC',
  CONCAT('a', {NUL}, 'b'), NULL
UNION ALL SELECT 'nul-json', 'visit', TIMESTAMP '2024-06-01 07:00:06 UTC', 'x',
  TO_JSON(CONCAT('a', {NUL}, 'b'))
UNION ALL SELECT 'nul-json-key', 'visit', TIMESTAMP '2024-06-01 07:00:07 UTC', 'x',
  JSON_OBJECT({NUL}, 1)
UNION ALL SELECT 'no-time', 'visit', NULL, 'x', NULL
UNION ALL SELECT 'no-name', NULL, TIMESTAMP '2024-06-01 07:00:09 UTC', 'x', NULL
"""
REASONS = {  # note: the reason, for the rows every import rejects
    "no identity": "Missing identity in column user_id",
    "empty identity": "Missing identity in column user_id",
    "blank identity": "Missing identity in column user_id",
    "nul id": "Identity in column user_id contains characters PostgreSQL cannot store",
    "a\ufffdb": "Property note contains a NUL character, which PostgreSQL cannot store",
}
JSON_NUL = "Property doc contains a NUL character, which PostgreSQL cannot store"


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 3


def table_of(stack, sql: str) -> str:
    name = f"rows_{uuid.uuid4().hex[:8]}"
    stack.create_table_as(PROJECT, DATASET, name, sql)
    return name


def run_both_ways(google, import_obj, user, stored):
    """(storage run, what it stored, its rejections), the same for REST, the destination
    emptied in between."""
    results = []
    for path in ("storage", "rest"):
        if path == "storage":
            google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
        else:
            google.stack.revoke(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
        run = services.import_run_now(import_obj=import_obj, actor=user)
        execute_run(str(run.pk))
        run.refresh_from_db()
        assert run.read_path == path, run.error_message
        rejected = sorted((row.reason, sorted(row.data.items())) for row in run.rejected_rows.all())
        results.append((run, stored(), rejected))
        Event.objects.all().delete()
        Profile.objects.all().delete()
    return results


def events():
    return {
        identity: (name, timestamp)
        for identity, name, timestamp in Event.objects.values_list("identity", "name", "timestamp")
    }


def profiles():
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity, properties::text FROM audience_profile")
        return dict(cursor.fetchall())


def test_rows_that_cannot_be_stored_are_rejected_alike_on_both_paths_as_events(
    google, bq_connection, alice
):
    table = table_of(google.stack, REFUSALS_SQL)
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        timestamp_column="ts",
        column_mapping=[
            {"column": "note", "property": "note", "include": True},
            {"column": "doc", "property": "doc", "include": True},
        ],
        rejection_threshold=100,
    )

    (arrow_run, arrow, arrow_rejected), (rest_run, rest, rest_rejected) = run_both_ways(
        google, import_obj, alice, events
    )

    assert arrow == rest == {"ok": ("visit", dt.datetime(2024, 6, 1, 7, tzinfo=UTC))}
    assert arrow_rejected == rest_rejected
    notes = [(dict(data)["note"], reason) for reason, data in arrow_rejected]
    assert {note: reason for note, reason in notes if note != "x"} == REASONS
    assert sorted(reason for note, reason in notes if note == "x") == [
        "Missing event name in column event",
        "Missing timestamp in column ts",
        JSON_NUL,
        JSON_NUL,
    ]
    for run in (arrow_run, rest_run):
        assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
        assert (run.rows_read, run.rows_written, run.rejected_rows.count()) == (10, 1, 9)
    nul_id = next(dict(data) for _, data in arrow_rejected if dict(data)["note"] == "nul id")
    assert nul_id["user_id"] == "a\ufffd"  # the rejected row's data keeps what it can


def test_rows_that_cannot_be_stored_are_rejected_alike_on_both_paths_as_profiles(
    google, bq_connection, alice
):
    table = table_of(google.stack, REFUSALS_SQL)
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        column_mapping=[
            {"column": "note", "property": "note", "include": True},
            {"column": "doc", "property": "doc", "include": True},
            {"column": "ts", "property": "ts", "include": True},
        ],
        rejection_threshold=100,
    )

    (_, arrow, arrow_rejected), (_, rest, rest_rejected) = run_both_ways(
        google, import_obj, alice, profiles
    )

    assert arrow == rest
    assert arrow == {
        "ok": '{"ts": "2024-06-01T07:00:00+00:00", "doc": {"k": "v"}, "note": "fine"}',
        "no-time": '{"ts": null, "doc": null, "note": "x"}',
        "no-name": '{"ts": "2024-06-01T07:00:09+00:00", "doc": null, "note": "x"}',
    }
    assert arrow_rejected == rest_rejected
    assert sorted(reason for reason, _ in arrow_rejected) == sorted(
        [*REASONS.values(), JSON_NUL, JSON_NUL]
    )


INT64_IDENTITIES_SQL = """
SELECT CAST(0 AS INT64) AS user_id, 'visit' AS event, TIMESTAMP '2024-06-01 07:00:00 UTC' AS ts
UNION ALL SELECT -9223372036854775808, 'visit', TIMESTAMP '2024-06-01 07:00:01 UTC'
UNION ALL SELECT 9223372036854775807, 'visit', TIMESTAMP '2024-06-01 07:00:02 UTC'
UNION ALL SELECT NULL, 'visit', TIMESTAMP '2024-06-01 07:00:03 UTC'
"""


@pytest.mark.parametrize("target", ["profiles", "events"])
def test_an_int64_identity_is_its_digits_on_both_paths(google, bq_connection, alice, target):
    table = table_of(google.stack, INT64_IDENTITIES_SQL)
    fields = {"timestamp_column": "ts"} if target == "events" else {}
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        target=target,
        column_mapping=[],
        rejection_threshold=100,
        **fields,
    )

    def identities():
        model = Event if target == "events" else Profile
        return sorted(model.objects.values_list("identity", flat=True))

    (_, arrow, arrow_rejected), (_, rest, rest_rejected) = run_both_ways(
        google, import_obj, alice, identities
    )

    assert arrow == rest == ["-9223372036854775808", "0", "9223372036854775807"]
    assert arrow_rejected == rest_rejected
    assert [reason for reason, _ in arrow_rejected] == ["Missing identity in column user_id"]


EVENT_TIMES_SQL = """
SELECT 'overlap' AS user_id, 'visit' AS event,
  DATETIME '2024-10-27 02:30:00' AS local_time, DATE '2024-10-27' AS day,
  CAST(-1 AS INT64) AS us, CAST(-1500 AS INT64) AS ms, CAST(-62135596800 AS INT64) AS s
UNION ALL SELECT 'gap', 'visit', DATETIME '2024-03-31 02:30:00.000001', DATE '0001-01-01',
  -62135596800000000, 253402300799999, 253402300799
UNION ALL SELECT 'last', 'visit', DATETIME '9999-12-31 23:59:59.999999', DATE '9999-12-31',
  253402300799999999, 253402300800000, -62135596801
UNION ALL SELECT 'first', 'visit', DATETIME '0001-01-01 00:30:00', DATE '2024-06-01',
  -9223372036854775808, 9223372036854775807, 9223372036854775807
UNION ALL SELECT 'micro', 'visit', DATETIME '2024-06-01 09:00:00.000001', NULL,
  253402300800000000, NULL, 1717225200
"""
BERLIN = "Europe/Berlin"
EVENT_TIME_CASES = {
    # (column, zone, unit): (the stored times, the rejected rows' reasons)
    ("local_time", BERLIN, ""): (
        {
            # 02:30 happens twice on 27 October in Berlin: the first, in summer time
            "overlap": dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
            "last": dt.datetime(9999, 12, 31, 22, 59, 59, 999999, tzinfo=UTC),
            "micro": dt.datetime(2024, 6, 1, 7, 0, 0, 1, tzinfo=UTC),
        },
        {
            "gap": "Timestamp in column local_time, 2024-03-31 02:30:00.000001, does not "
            "exist in Europe/Berlin (the clocks skip it)",
            "first": "Timestamp in column local_time, 0001-01-01 00:30:00, is outside the "
            "years 1 to 9999 in Europe/Berlin",
        },
    ),
    ("day", "America/New_York", ""): (
        {
            "overlap": dt.datetime(2024, 10, 27, 4, tzinfo=UTC),
            "gap": dt.datetime(1, 1, 1, 4, 56, 2, tzinfo=UTC),  # New York's local mean time
            "last": dt.datetime(9999, 12, 31, 5, tzinfo=UTC),
            "first": dt.datetime(2024, 6, 1, 4, tzinfo=UTC),
        },
        {"micro": "Missing timestamp in column day"},
    ),
    ("day", "Asia/Tokyo", ""): (
        {
            "overlap": dt.datetime(2024, 10, 26, 15, tzinfo=UTC),
            "last": dt.datetime(9999, 12, 30, 15, tzinfo=UTC),
            "first": dt.datetime(2024, 5, 31, 15, tzinfo=UTC),
        },
        {
            "gap": "Timestamp in column day, 0001-01-01 00:00:00, is outside the years 1 to "
            "9999 in Asia/Tokyo",
            "micro": "Missing timestamp in column day",
        },
    ),
    ("us", "", "microseconds"): (
        {
            "overlap": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "gap": dt.datetime(1, 1, 1, tzinfo=UTC),
            "last": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        },
        {
            "first": "Timestamp in column us, -9223372036854775808 microseconds since "
            "1970-01-01, is outside the years 1 to 9999",
            "micro": "Timestamp in column us, 253402300800000000 microseconds since "
            "1970-01-01, is outside the years 1 to 9999",
        },
    ),
    ("ms", "", "milliseconds"): (
        {
            "overlap": dt.datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC),
            "gap": dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        },
        {
            "last": "Timestamp in column ms, 253402300800000 milliseconds since 1970-01-01, "
            "is outside the years 1 to 9999",
            "first": "Timestamp in column ms, 9223372036854775807 milliseconds since "
            "1970-01-01, is outside the years 1 to 9999",
            "micro": "Missing timestamp in column ms",
        },
    ),
    ("s", "", "seconds"): (
        {
            "overlap": dt.datetime(1, 1, 1, tzinfo=UTC),
            "gap": dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            "micro": dt.datetime(2024, 6, 1, 7, tzinfo=UTC),
        },
        {
            "last": "Timestamp in column s, -62135596801 seconds since 1970-01-01, is "
            "outside the years 1 to 9999",
            "first": "Timestamp in column s, 9223372036854775807 seconds since 1970-01-01, "
            "is outside the years 1 to 9999",
        },
    ),
}


@pytest.fixture(scope="module")
def event_times_table(standin_stack) -> str:
    return kept_table_as(standin_stack, "kept_event_times", EVENT_TIMES_SQL)


@pytest.mark.parametrize(
    ("column", "zone", "unit"), list(EVENT_TIME_CASES), ids=lambda value: value or "-"
)
def test_event_times_at_their_limits_land_alike_on_both_paths(
    google, bq_connection, alice, event_times_table, column, zone, unit
):
    import_obj = make_import(
        bq_connection,
        alice,
        table=event_times_table,
        target="events",
        timestamp_column=column,
        source_time_zone=zone,
        timestamp_unit=unit,
        column_mapping=[],
        rejection_threshold=100,
    )
    times, reasons = EVENT_TIME_CASES[(column, zone, unit)]

    def stored():
        return {identity: timestamp for identity, (_, timestamp) in events().items()}

    (_, arrow, arrow_rejected), (_, rest, rest_rejected) = run_both_ways(
        google, import_obj, alice, stored
    )

    assert arrow == rest == times
    assert arrow_rejected == rest_rejected
    assert {dict(data)["user_id"]: reason for reason, data in arrow_rejected} == reasons


DEPTH = 500  # BigQuery's limit on a JSON value's nesting
DEEP_JSON_SQL = f"""
SELECT 'deep' AS user_id, JSON '{"[" * DEPTH}1{"]" * DEPTH}' AS doc,
  JSON '{'{"a":' * (DEPTH - 1)}{{"b": "ü"}}{"}" * (DEPTH - 1)}' AS obj
"""


def nested(depth: int, kind: str):
    value = [1] if kind == "array" else {"b": "ü"}
    for _ in range(depth - 1):
        value = [value] if kind == "array" else {"a": value}
    return value


def test_json_nested_to_bigquerys_limit_lands_alike_on_both_paths(google, bq_connection, alice):
    table = table_of(google.stack, DEEP_JSON_SQL)
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        column_mapping=[
            {"column": "doc", "property": "doc", "include": True},
            {"column": "obj", "property": "obj", "include": True},
        ],
    )

    def stored():
        return list(Profile.objects.values_list("identity", "properties"))

    (arrow_run, arrow, _), (rest_run, rest, _) = run_both_ways(google, import_obj, alice, stored)

    assert arrow_run.status == rest_run.status == ImportRun.Status.SUCCEEDED
    assert arrow == rest == [("deep", {"doc": nested(DEPTH, "array"), "obj": nested(DEPTH, "obj")})]


# JSON numbers beyond FLOAT64: BigQuery keeps JSON numbers within INT64, UINT64 and FLOAT64
# (README), so a number such as 1e400 is not in the form BigQuery documents for JSON.
BEYOND_FLOAT_SQL = """
SELECT 'fine' AS user_id, JSON '1.7976931348623157e308' AS doc
UNION ALL SELECT 'huge', JSON '1e400'
UNION ALL SELECT 'nested', JSON '{"a": [-1e400]}'
UNION ALL SELECT 'wide', JSON '{"int": 123456789012345678901234567890, "f": 1e400}'
"""


def test_a_json_number_beyond_float64_is_rejected_on_both_paths_not_stored_as_null(
    google, bq_connection, alice
):
    table = table_of(google.stack, BEYOND_FLOAT_SQL)
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        column_mapping=[{"column": "doc", "property": "doc", "include": True}],
        rejection_threshold=100,
    )

    (arrow_run, arrow, arrow_rejected), (rest_run, rest, rest_rejected) = run_both_ways(
        google, import_obj, alice, profiles
    )

    for run in (arrow_run, rest_run):
        assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS, run.error_message
    assert arrow == rest == {"fine": '{"doc": ' + "17976931348623157" + "0" * 292 + "}"}
    assert arrow_rejected == rest_rejected
    assert sorted(dict(data)["user_id"] for _, data in arrow_rejected) == [
        "huge",
        "nested",
        "wide",
    ]
    for reason, _ in arrow_rejected:
        assert reason.startswith("Property doc is JSON with a number beyond FLOAT64"), reason


CURSORS_SQL = """
SELECT 'a' AS user_id, TIMESTAMP '1969-12-31 23:59:59.999999 UTC' AS ts,
  DATETIME '2024-06-01 09:00:00.000001' AS local_time, DATE '0001-01-01' AS day,
  CAST(-9223372036854775808 AS INT64) AS n
UNION ALL SELECT 'b', TIMESTAMP '2024-06-01 07:00:00.000001 UTC',
  DATETIME '1900-01-01 00:00:00', DATE '2024-02-29', 9223372036854775807
UNION ALL SELECT 'c', TIMESTAMP '1900-01-01 00:00:00 UTC', DATETIME '2000-01-01 00:00:00',
  DATE '2000-01-01', 0
"""
WATERMARKS = {  # cursor column: (type, the watermark both paths leave)
    "ts": ("TIMESTAMP", "2024-06-01T07:00:00.000001+00:00"),
    "local_time": ("DATETIME", "2024-06-01T09:00:00.000001"),
    "day": ("DATE", "2024-02-29"),
    "n": ("INT64", "9223372036854775807"),
}


@pytest.mark.parametrize("cursor", list(WATERMARKS))
def test_an_incremental_run_leaves_the_same_watermark_on_both_paths(
    google, bq_connection, alice, cursor
):
    table = table_of(google.stack, CURSORS_SQL)
    cursor_type, watermark = WATERMARKS[cursor]
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        column_mapping=[{"column": "ts", "property": "ts", "include": True}],
        sync_mode="incremental",
        cursor_column=cursor,
        cursor_type=cursor_type,
        source_time_zone="Europe/Berlin" if cursor_type == "DATETIME" else "",
    )
    left = []

    def stored():
        import_obj.refresh_from_db()
        left.append(import_obj.watermark)
        type(import_obj).objects.filter(pk=import_obj.pk).update(watermark="")
        return sorted(Profile.objects.values_list("identity", flat=True))

    (arrow_run, arrow, _), (rest_run, rest, _) = run_both_ways(google, import_obj, alice, stored)

    assert arrow_run.status == rest_run.status == ImportRun.Status.SUCCEEDED
    assert arrow == rest == ["a", "b", "c"]
    assert left == [watermark, watermark]
    assert arrow_run.watermark_to == rest_run.watermark_to == watermark
