"""The golden table's edges: values at the limits of each BigQuery type, NULLs inside and
around STRUCTs and ARRAYs, imported as profiles and as events through the real runner with
the Storage Read API (Arrow) and with REST paging (tabledata.list). What PostgreSQL stores
must be byte for byte the same both ways and equal to the contract below (README, "How
BigQuery types land"), written out by hand, not computed by the code under test.

Values the emulator cannot hold in a table are checked on the converters alone
(tests/imports/test_type_contract.py): negative INTERVALs (its Parquet files refuse them),
INTERVALs finer than a millisecond (Parquet keeps milliseconds), BIGNUMERICs of more than 38
digits (it keeps DECIMAL(38, x)). A RANGE<TIMESTAMP> bound left NULL is typed (CAST(NULL AS
TIMESTAMP)): with an untyped NULL end the emulator's tabledata.list fails ("No matching
signature for function EPOCH_US for argument types: INT64"), which BigQuery does not.
"""

import datetime as dt

import pytest

from audience.models import PropertyType
from tests.fixtures.google import kept_table_as
from tests.imports.test_type_contract_golden import golden_import, jsonb_text, read_both_ways

EDGE_SQL = r"""
SELECT 'e1' AS user_id, 'purchase' AS event, TIMESTAMP '1969-12-31 23:59:59.999999 UTC' AS ev_ts,
  '‮abc שלום 👩‍👩‍👧‍👦' AS c_string, FROM_HEX('fffe00') AS c_bytes,
  CAST('5e-324' AS FLOAT64) AS c_float64,
  NUMERIC '-99999999999999999999999999999.999999999' AS c_numeric,
  BIGNUMERIC '-12345678901234567890.123456789012345678' AS c_bignumeric,
  TIMESTAMP '1900-01-01 00:00:00.000001 UTC' AS c_timestamp,
  TIME '00:00:00.000001' AS c_time, DATETIME '2024-06-01 09:00:00.000001' AS c_datetime,
  DATE '9999-12-31' AS c_date,
  INTERVAL '1-0 0 0:0:0.5' YEAR TO SECOND AS c_interval,
  JSON '{"a": "\\u00e9\\u20ac", "\\u00fc": ["\\u2028"], "big": 18446744073709551615}' AS c_json,
  ST_GEOGFROMGEOJSON('{"type": "Point", "coordinates": [1.5, 2.25]}') AS c_geography,
  RANGE(CAST(NULL AS TIMESTAMP), TIMESTAMP '1969-12-31 23:59:59.999999 UTC') AS c_range_ts,
  RANGE(DATETIME '2024-01-01 00:00:00.5', CAST(NULL AS DATETIME)) AS c_range_datetime,
  STRUCT(CAST(NULL AS STRING) AS a, CAST(NULL AS INT64) AS b) AS c_struct,
  STRUCT(RANGE(DATE '2024-01-01', CAST(NULL AS DATE)) AS r, INTERVAL 25 HOUR AS i,
         JSON 'null' AS j, ST_GEOGFROMTEXT('POINT(1 2)') AS g,
         TIMESTAMP '1960-01-01 00:00:00.5 UTC' AS t, DATETIME '0001-01-01 00:00:00' AS d)
    AS c_struct_typed,
  [STRUCT(CAST(NULL AS STRING) AS a, CAST(NULL AS INT64) AS b)] AS c_array_struct,
  [STRUCT([STRUCT([STRUCT([CAST(1 AS INT64), 2] AS z)] AS y)] AS x)] AS c_deep,
  [TIMESTAMP '1969-12-31 23:59:59.999999 UTC', TIMESTAMP '2024-01-01 00:00:00 UTC'] AS c_array_ts,
  [CAST('NaN' AS FLOAT64), CAST('-0.0' AS FLOAT64), 1e308] AS c_array_float,
  [b'', FROM_HEX('ff')] AS c_array_bytes,
  [RANGE(DATE '0001-01-01', DATE '9999-12-31')] AS c_array_range,
  CAST(NULL AS ARRAY<INT64>) AS c_array_int
UNION ALL SELECT 'e2', 'refund', TIMESTAMP '1900-01-01 00:00:00.000001 UTC',
  CODE_POINTS_TO_STRING([1, 31, 127, 128, 159, 8232, 65535, 1114111]), FROM_HEX('00'),
  CAST('-0.0' AS FLOAT64), NUMERIC '-0.000000001', BIGNUMERIC '-0.0',
  TIMESTAMP '1969-12-31 23:59:59.5 UTC', TIME '12:34:56.5', DATETIME '0001-01-01 00:00:00',
  DATE '0001-01-01', INTERVAL 1 MONTH, JSON '42',
  ST_GEOGFROMTEXT('GEOMETRYCOLLECTION EMPTY'),
  RANGE(TIMESTAMP '1969-12-31 23:59:59.999999 UTC', CAST(NULL AS TIMESTAMP)),
  RANGE(CAST(NULL AS DATETIME), CAST(NULL AS DATETIME)),
  NULL, NULL,
  ARRAY<STRUCT<a STRING, b INT64>>[], ARRAY<STRUCT<x ARRAY<STRUCT<y ARRAY<STRUCT<z ARRAY<INT64>>>>>>>[],
  ARRAY<TIMESTAMP>[], ARRAY<FLOAT64>[], ARRAY<BYTES>[], ARRAY<RANGE<DATE>>[], ARRAY<INT64>[]
UNION ALL SELECT 'e3', 'view', TIMESTAMP '2024-06-01 00:00:00 UTC',
  '', FROM_HEX(''), CAST('1.7976931348623157e308' AS FLOAT64), NUMERIC '-0', NULL,
  NULL, NULL, NULL, NULL, NULL, JSON '[1, "a", null, {"f": 1.5e300, "z": -0.0}]',
  ST_GEOGFROMTEXT('MULTIPOINT(0 0, 1 1)'), NULL, NULL,
  STRUCT(CAST('' AS STRING), CAST(0 AS INT64)), NULL,
  [STRUCT(CAST('x' AS STRING), CAST(NULL AS INT64)), STRUCT(NULL, 1)],
  [STRUCT(ARRAY<STRUCT<y ARRAY<STRUCT<z ARRAY<INT64>>>>>[])], NULL, NULL, NULL, NULL, NULL
UNION ALL SELECT 'e4', 'view', TIMESTAMP '2024-06-02 00:00:00 UTC',
  NULL, NULL, CAST('1e-7' AS FLOAT64), NULL, NULL, NULL, NULL, NULL, NULL, NULL, JSON 'null',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
UNION ALL SELECT 'e5', 'view', TIMESTAMP '2024-06-03 00:00:00 UTC',
  NULL, NULL, 0.1 + 0.2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, JSON '"x"',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""

TYPED_COLUMNS = {
    "c_string": "STRING",
    "c_bytes": "BYTES",
    "c_float64": "FLOAT64",
    "c_numeric": "NUMERIC",
    "c_bignumeric": "BIGNUMERIC",
    "c_timestamp": "TIMESTAMP",
    "c_time": "TIME",
    "c_datetime": "DATETIME",
    "c_date": "DATE",
    "c_interval": "INTERVAL",
    "c_json": "JSON",
    "c_geography": "GEOGRAPHY",
    "c_range_ts": "RANGE<TIMESTAMP>",
    "c_range_datetime": "RANGE<DATETIME>",
    "c_struct": "STRUCT<a STRING, b INT64>",
    "c_struct_typed": (
        "STRUCT<r RANGE<DATE>, i INTERVAL, j JSON, g GEOGRAPHY, t TIMESTAMP, d DATETIME>"
    ),
    "c_array_struct": "ARRAY<STRUCT<a STRING, b INT64>>",
    "c_deep": "ARRAY<STRUCT<x ARRAY<STRUCT<y ARRAY<STRUCT<z ARRAY<INT64>>>>>>>",
    "c_array_ts": "ARRAY<TIMESTAMP>",
    "c_array_float": "ARRAY<FLOAT64>",
    "c_array_bytes": "ARRAY<BYTES>",
    "c_array_range": "ARRAY<RANGE<DATE>>",
    "c_array_int": "ARRAY<INT64>",
}
NO_VALUES = {name: None for name in TYPED_COLUMNS} | {
    name: [] for name, label in TYPED_COLUMNS.items() if label.startswith("ARRAY<")
}

CONTRACT = {
    "e1": {
        "c_string": "\u202eabc שלום 👩\u200d👩\u200d👧\u200d👦",
        "c_bytes": "//4A",
        "c_float64": 5e-324,
        "c_numeric": "-99999999999999999999999999999.999999999",
        "c_bignumeric": "-12345678901234567890.123456789012345678",
        "c_timestamp": "1900-01-01T00:00:00.000001+00:00",
        "c_time": "00:00:00.000001",
        "c_datetime": "2024-06-01T09:00:00.000001",
        "c_date": "9999-12-31",
        "c_interval": "P1YT0.5S",
        "c_json": {"a": "é€", "ü": ["\u2028"], "big": 18446744073709551615},
        "c_geography": "POINT(1.5 2.25)",
        "c_range_ts": {"start": None, "end": "1969-12-31T23:59:59.999999+00:00"},
        "c_range_datetime": {"start": "2024-01-01T00:00:00.500000", "end": None},
        "c_struct": {"a": None, "b": None},  # a STRUCT of NULLs is not a NULL STRUCT
        "c_struct_typed": {
            "r": {"start": "2024-01-01", "end": None},
            "i": "PT25H",
            "j": None,
            "g": "POINT(1 2)",
            "t": "1960-01-01T00:00:00.500000+00:00",
            "d": "0001-01-01T00:00:00",
        },
        "c_array_struct": [{"a": None, "b": None}],
        "c_deep": [{"x": [{"y": [{"z": [1, 2]}]}]}],
        "c_array_ts": ["1969-12-31T23:59:59.999999+00:00", "2024-01-01T00:00:00+00:00"],
        "c_array_float": ["NaN", -0.0, 1e308],
        "c_array_bytes": ["", "/w=="],
        "c_array_range": [{"start": "0001-01-01", "end": "9999-12-31"}],
        "c_array_int": [],  # a NULL ARRAY is an empty one
    },
    "e2": NO_VALUES
    | {
        "c_string": "\x01\x1f\x7f\x80\x9f\u2028\uffff\U0010ffff",
        "c_bytes": "AA==",
        "c_float64": -0.0,
        "c_numeric": "-0.000000001",
        "c_bignumeric": "0",
        "c_timestamp": "1969-12-31T23:59:59.500000+00:00",
        "c_time": "12:34:56.500000",
        "c_datetime": "0001-01-01T00:00:00",
        "c_date": "0001-01-01",
        "c_interval": "P1M",
        "c_json": 42,
        "c_geography": "GEOMETRYCOLLECTION EMPTY",
        "c_range_ts": {"start": "1969-12-31T23:59:59.999999+00:00", "end": None},
        "c_range_datetime": {"start": None, "end": None},
    },
    "e3": NO_VALUES
    | {
        "c_string": "",
        "c_bytes": "",
        "c_float64": 1.7976931348623157e308,
        "c_numeric": "0",
        "c_json": [1, "a", None, {"f": 1.5e300, "z": -0.0}],
        "c_geography": "MULTIPOINT(0 0, 1 1)",
        "c_struct": {"a": "", "b": 0},
        "c_array_struct": [{"a": "x", "b": None}, {"a": None, "b": 1}],
        "c_deep": [{"x": []}],
    },
    "e4": NO_VALUES | {"c_float64": 1e-7},
    "e5": NO_VALUES | {"c_float64": 0.30000000000000004, "c_json": "x"},
}
EVENTS = {  # identity: (event name, event time)
    "e1": ("purchase", dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)),
    "e2": ("refund", dt.datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)),
    "e3": ("view", dt.datetime(2024, 6, 1, tzinfo=dt.UTC)),
    "e4": ("view", dt.datetime(2024, 6, 2, tzinfo=dt.UTC)),
    "e5": ("view", dt.datetime(2024, 6, 3, tzinfo=dt.UTC)),
}
# PostgreSQL's jsonb text of the FLOAT64 values, as stored: a number is an exact decimal
# there, without negative zero, and a float of 10^16 or more is written with its whole digits.
STORED_FLOATS = {
    "e1": "0." + "0" * 323 + "5",
    "e2": "0.0",
    "e3": "17976931348623157" + "0" * 292,
    "e4": "0.0000001",
    "e5": "0.30000000000000004",
}


@pytest.fixture(scope="module")
def edge_table(standin_stack) -> str:
    return kept_table_as(standin_stack, "kept_edges", EDGE_SQL)


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 2  # pages end mid-table on both paths


FLOAT = "(properties->'c_float64')::text"  # the FLOAT64 property as jsonb writes it


def test_profiles_store_the_edges_the_same_through_both_read_paths(
    google, bq_connection, alice, edge_table
):
    import_obj = golden_import(bq_connection, alice, edge_table, "profiles", TYPED_COLUMNS)

    arrow, rest = read_both_ways(google, import_obj, alice, "audience_profile", [FLOAT], rows=5)

    assert arrow == rest  # byte for byte, as PostgreSQL stores them
    assert {identity: row[0] for identity, row in arrow.items()} == STORED_FLOATS
    for identity, typed in CONTRACT.items():
        name, time = EVENTS[identity]
        expected = {**typed, "event": name, "ev_ts": time.isoformat()}
        (_, properties) = arrow[identity]
        assert properties == jsonb_text(expected), identity
    assert dict(PropertyType.objects.values_list("name", "type")) == {
        **TYPED_COLUMNS,
        "event": "STRING",
        "ev_ts": "TIMESTAMP",
    }


def test_events_store_the_edges_the_same_through_both_read_paths(
    google, bq_connection, alice, edge_table
):
    import_obj = golden_import(bq_connection, alice, edge_table, "events", TYPED_COLUMNS)

    columns = ["name", "timestamp", "dedupe_key", FLOAT]
    arrow, rest = read_both_ways(google, import_obj, alice, "audience_event", columns, rows=5)

    assert arrow == rest  # identity, name, time, dedupe key and properties alike
    assert {identity: row[3] for identity, row in arrow.items()} == STORED_FLOATS
    for identity, expected in CONTRACT.items():
        name, timestamp, _, _, properties = arrow[identity]
        assert (name, timestamp) == EVENTS[identity], identity
        assert properties == jsonb_text(expected), identity
    assert dict(PropertyType.objects.values_list("name", "type")) == TYPED_COLUMNS
