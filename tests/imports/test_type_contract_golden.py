"""The golden table: one column of every BigQuery type, with edge values and NULLs, imported
as profiles and as events through the real runner, once with the Storage Read API (Arrow)
and once with REST paging (tabledata.list). What PostgreSQL stores must be byte for byte
the same both ways, and equal to the contract written below (README, "How BigQuery types
land"), which is not computed by the code under test.

The table is made with SQL on the emulator (its insertAll refuses INTERVAL and RANGE, and
a declared BIGNUMERIC column holds only DECIMAL(38, 18) there); the storage gate answers
in Google's Arrow types (standins/google_arrow.py)."""

import datetime as dt
import json

import pytest
from django.db import connection

from audience.models import PropertyType
from audience.rows import canonical_json
from imports import services
from imports.models import ImportRun
from imports.run.execute import execute_run
from tests.fixtures.google import kept_table_as
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import make_import

GOLDEN_SQL = r"""
SELECT 'g1' AS user_id, 'purchase' AS event, TIMESTAMP '2024-06-01 07:00:00 UTC' AS ev_ts,
  'héllo "wörld" 😀' AS c_string, FROM_BASE64('AP9oaQ==') AS c_bytes,
  CAST(-9223372036854775808 AS INT64) AS c_int64, CAST('NaN' AS FLOAT64) AS c_float64,
  NUMERIC '0.1' AS c_numeric,
  BIGNUMERIC '0.00000000000000000000000000000000000001' AS c_bignumeric,
  TRUE AS c_bool, TIMESTAMP '0001-01-01 00:00:00 UTC' AS c_timestamp,
  DATE '2024-02-29' AS c_date, TIME '23:59:59.999999' AS c_time,
  DATETIME '2024-06-01 09:00:00' AS c_datetime,
  INTERVAL '1-2 3 4:5:6.789' YEAR TO SECOND AS c_interval,
  JSON '{"a": [1, 2.5, {"b": "ü"}], "s": "😀", "n": null, "t": true}' AS c_json,
  ST_GEOGFROMTEXT('POINT(13.4 52.52)') AS c_geography,
  RANGE(DATE '2024-01-01', NULL) AS c_range_date,
  RANGE(TIMESTAMP '2024-01-01 00:00:00.5 UTC', TIMESTAMP '2024-02-01 00:00:00 UTC')
    AS c_range_timestamp,
  STRUCT(CAST(1 AS INT64) AS id,
         [STRUCT('a' AS k, NUMERIC '1.50' AS v), STRUCT('b' AS k, NUMERIC '2' AS v)] AS items)
    AS c_struct,
  [CAST(1 AS INT64), 2, 3] AS c_array_int,
  [STRUCT(DATE '2024-01-01' AS d, JSON '{"x": 1}' AS j)] AS c_array_struct
UNION ALL SELECT 'g2', 'refund', TIMESTAMP '2024-06-01 07:00:00.123456 UTC',
  '', FROM_BASE64(''), CAST(9223372036854775807 AS INT64), CAST('inf' AS FLOAT64),
  NUMERIC '99999999999999999999999999999.999999999',
  BIGNUMERIC '-0.12345678901234567890123456789012345678',
  FALSE, TIMESTAMP '9999-12-31 23:59:59.999999 UTC', DATE '0001-01-01', TIME '00:00:00',
  DATETIME '9999-12-31 23:59:59.999999', INTERVAL 25 HOUR, JSON '[]',
  ST_GEOGFROMTEXT('POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))'), RANGE(NULL, DATE '2024-12-31'), NULL,
  STRUCT(CAST(2 AS INT64), ARRAY<STRUCT<k STRING, v NUMERIC>>[]), ARRAY<INT64>[],
  ARRAY<STRUCT<d DATE, j JSON>>[]
UNION ALL SELECT 'g3', 'view', TIMESTAMP '2024-06-02 00:00:00 UTC',
  NULL, NULL, NULL, CAST('-inf' AS FLOAT64), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL
UNION ALL SELECT 'g4', 'view', TIMESTAMP '0001-01-01 00:00:00 UTC',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""

TYPED_COLUMNS = {
    "c_string": "STRING",
    "c_bytes": "BYTES",
    "c_int64": "INT64",
    "c_float64": "FLOAT64",
    "c_numeric": "NUMERIC",
    "c_bignumeric": "BIGNUMERIC",
    "c_bool": "BOOL",
    "c_timestamp": "TIMESTAMP",
    "c_date": "DATE",
    "c_time": "TIME",
    "c_datetime": "DATETIME",
    "c_interval": "INTERVAL",
    "c_json": "JSON",
    "c_geography": "GEOGRAPHY",
    "c_range_date": "RANGE<DATE>",
    "c_range_timestamp": "RANGE<TIMESTAMP>",
    "c_struct": "STRUCT<id INT64, items ARRAY<STRUCT<k STRING, v NUMERIC>>>",
    "c_array_int": "ARRAY<INT64>",
    "c_array_struct": "ARRAY<STRUCT<d DATE, j JSON>>",
}
ALL_NULL = {name: None for name in TYPED_COLUMNS} | {"c_array_int": [], "c_array_struct": []}

# The contract: what each row's typed columns are stored as.
CONTRACT = {
    "g1": {
        "c_string": 'héllo "wörld" 😀',
        "c_bytes": "AP9oaQ==",
        "c_int64": -9223372036854775808,
        "c_float64": "NaN",
        "c_numeric": "0.1",
        "c_bignumeric": "0.00000000000000000000000000000000000001",
        "c_bool": True,
        "c_timestamp": "0001-01-01T00:00:00+00:00",
        "c_date": "2024-02-29",
        "c_time": "23:59:59.999999",
        "c_datetime": "2024-06-01T09:00:00",
        "c_interval": "P1Y2M3DT4H5M6.789S",
        "c_json": {"a": [1, 2.5, {"b": "ü"}], "s": "😀", "n": None, "t": True},
        "c_geography": "POINT(13.4 52.52)",
        "c_range_date": {"start": "2024-01-01", "end": None},
        "c_range_timestamp": {
            "start": "2024-01-01T00:00:00.500000+00:00",
            "end": "2024-02-01T00:00:00+00:00",
        },
        "c_struct": {"id": 1, "items": [{"k": "a", "v": "1.5"}, {"k": "b", "v": "2"}]},
        "c_array_int": [1, 2, 3],
        "c_array_struct": [{"d": "2024-01-01", "j": {"x": 1}}],
    },
    "g2": {
        "c_string": "",
        "c_bytes": "",
        "c_int64": 9223372036854775807,
        "c_float64": "Infinity",
        "c_numeric": "99999999999999999999999999999.999999999",
        "c_bignumeric": "-0.12345678901234567890123456789012345678",
        "c_bool": False,
        "c_timestamp": "9999-12-31T23:59:59.999999+00:00",
        "c_date": "0001-01-01",
        "c_time": "00:00:00",
        "c_datetime": "9999-12-31T23:59:59.999999",
        "c_interval": "PT25H",
        "c_json": [],
        "c_geography": "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))",
        "c_range_date": {"start": None, "end": "2024-12-31"},
        "c_range_timestamp": None,
        "c_struct": {"id": 2, "items": []},
        "c_array_int": [],
        "c_array_struct": [],
    },
    "g3": ALL_NULL | {"c_float64": "-Infinity"},
    "g4": ALL_NULL,
}
EVENTS = {  # identity: (event name, event time)
    "g1": ("purchase", dt.datetime(2024, 6, 1, 7, tzinfo=dt.UTC)),
    "g2": ("refund", dt.datetime(2024, 6, 1, 7, 0, 0, 123456, tzinfo=dt.UTC)),
    "g3": ("view", dt.datetime(2024, 6, 2, tzinfo=dt.UTC)),
    "g4": ("view", dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
}
PROFILE_CONTRACT = {
    identity: {
        **typed,
        "event": EVENTS[identity][0],
        "ev_ts": EVENTS[identity][1].isoformat(),
    }
    for identity, typed in CONTRACT.items()
}


@pytest.fixture(scope="module")
def golden_table(standin_stack) -> str:
    return kept_table_as(standin_stack, "kept_golden", GOLDEN_SQL)


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 3  # pages end mid-table on both paths


def run_once(import_obj, user, rows: int) -> ImportRun:
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = execute_run(str(run.pk))
    run.refresh_from_db()
    assert status == ImportRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.rows_rejected) == (rows, 0), list(run.rejected_rows.values())
    return run


def stored(table: str, *columns: str) -> dict[str, tuple]:
    """identity -> the stored columns, properties as PostgreSQL's own jsonb text."""
    with connection.cursor() as cursor:
        selected = ", ".join(["identity", *columns, "properties::text"])
        cursor.execute(f"SELECT {selected} FROM {table}")  # noqa: S608
        return {row[0]: row[1:] for row in cursor.fetchall()}


def jsonb_text(value) -> str:
    """How PostgreSQL writes `value` as jsonb: the contract in the stored serialization."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [canonical_json(value)])
        return cursor.fetchone()[0]


def golden_import(bq_connection, alice, table, target, typed_columns=TYPED_COLUMNS):
    """An import of `table` mapping each typed column to its property (profiles also keep
    the event's name and time as properties)."""
    columns = ["event", "ev_ts", *typed_columns] if target == "profiles" else list(typed_columns)
    mapping = [{"column": c, "property": c, "include": True} for c in columns]
    extra = (
        {"event_name_column": "event", "timestamp_column": "ev_ts"} if target == "events" else {}
    )
    return make_import(
        bq_connection, alice, table=table, target=target, column_mapping=mapping, **extra
    )


def read_both_ways(google, import_obj, user, table, columns, rows=4):
    """What a Storage read and then a REST read of the whole table each stored: identity ->
    `columns` (SQL expressions) and the properties' jsonb text."""
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    by_storage = run_once(import_obj, user, rows)
    arrow = stored(table, *columns)
    connection.cursor().execute(f"DELETE FROM {table}")  # noqa: S608
    google.stack.revoke(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    by_rest = run_once(import_obj, user, rows)
    rest = stored(table, *columns)
    assert (by_storage.read_path, by_rest.read_path) == ("storage", "rest")
    return arrow, rest


def test_profiles_store_every_type_the_same_through_both_read_paths(
    google, bq_connection, alice, golden_table
):
    import_obj = golden_import(bq_connection, alice, golden_table, "profiles")

    arrow, rest = read_both_ways(google, import_obj, alice, "audience_profile", [])

    assert arrow == rest  # byte for byte, as PostgreSQL stores them
    for identity, expected in PROFILE_CONTRACT.items():
        (properties,) = arrow[identity]
        assert properties == jsonb_text(expected), identity
        assert json.loads(properties) == json.loads(canonical_json(expected))
    assert dict(PropertyType.objects.values_list("name", "type")) == {
        **TYPED_COLUMNS,
        "event": "STRING",
        "ev_ts": "TIMESTAMP",
    }


def test_events_store_every_type_the_same_through_both_read_paths(
    google, bq_connection, alice, golden_table
):
    import_obj = golden_import(bq_connection, alice, golden_table, "events")

    arrow, rest = read_both_ways(
        google, import_obj, alice, "audience_event", ["name", "timestamp", "dedupe_key"]
    )

    assert arrow == rest  # identity, name, time, dedupe key and properties alike
    for identity, expected in CONTRACT.items():
        name, timestamp, _, properties = arrow[identity]
        assert (name, timestamp) == EVENTS[identity], identity
        assert properties == jsonb_text(expected), identity
