"""The storage gate answers in the Arrow types Google documents for each BigQuery type
(standins/google_arrow.py), whatever the emulator's DuckDB made of them: checked through the
real google-cloud-bigquery-storage client. And tables with INTERVAL and RANGE values, which
the emulator's insertAll refuses, are made with SQL (StandinStack.create_table_as)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import grpc
import pyarrow
import pytest
from google.cloud.bigquery_storage_v1 import BigQueryReadClient, types
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
    BigQueryReadGrpcTransport,
)

from standins import StandinStack
from standins.emulator import EmulatorError
from tests.fixtures.google import kept_table_as
from tests.fixtures.standin_world import DATASET, PROJECT, World

TIMEOUT = 30
UTC = dt.UTC

TYPES_SQL = """
SELECT 1 AS small_int, NUMERIC '0.1' AS n,
  BIGNUMERIC '0.00000000000000000000000000000000000001' AS bn,
  INTERVAL '1-2 3 4:5:6.789' YEAR TO SECOND AS iv, JSON '{"a": [1, "ü"]}' AS j,
  ST_GEOGFROMTEXT('POINT(1 2)') AS g, DATETIME '2024-06-01 09:00:00' AS dtm,
  RANGE(DATETIME '2024-01-01 10:00:00', NULL) AS r,
  [STRUCT(INTERVAL 25 HOUR AS i, JSON '{"x": 1}' AS jj)] AS nested
UNION ALL SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, []
"""

GOOGLE_TYPES = {
    "small_int": pyarrow.int64(),  # the emulator: int32
    "n": pyarrow.decimal128(38, 9),
    "bn": pyarrow.decimal256(76, 38),  # the emulator: decimal128(38, 38)
    "iv": pyarrow.month_day_nano_interval(),  # the emulator: its canonical text
    "j": pyarrow.string(),
    "g": pyarrow.string(),
    "dtm": pyarrow.timestamp("us"),
    "r": pyarrow.struct([("start", pyarrow.timestamp("us")), ("end", pyarrow.timestamp("us"))]),
    "nested": pyarrow.list_(
        pyarrow.struct(
            [
                pyarrow.field("i", pyarrow.month_day_nano_interval()),
                pyarrow.field(
                    "jj", pyarrow.string(), metadata={"ARROW:extension:name": "google:sqlType:json"}
                ),
            ]
        )
    ),
}
EXTENSIONS = {
    "j": {b"ARROW:extension:name": b"google:sqlType:json"},
    "g": {
        b"ARROW:extension:name": b"google:sqlType:geography",
        b"ARROW:extension:metadata": b'{"encoding": "WKT"}',
    },
    "dtm": {b"ARROW:extension:name": b"google:sqlType:datetime"},
}


@pytest.fixture(scope="module")
def typed_table(standin_stack: StandinStack) -> str:
    name = kept_table_as(standin_stack, "kept_types", TYPES_SQL)
    return f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}"


@pytest.fixture
def reader(world: World) -> BigQueryReadClient:
    world.stack.grant(world.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    return world.stack.storage_client(world.key)


def read(client: BigQueryReadClient, table: str) -> tuple[pyarrow.Schema, pyarrow.Schema, list]:
    """(the session's schema, the first response's schema, the rows)."""
    session = client.create_read_session(
        parent=f"projects/{PROJECT}",
        read_session=types.ReadSession(table=table, data_format=types.DataFormat.ARROW),
        max_stream_count=1,
        timeout=TIMEOUT,
    )
    session_schema = pyarrow.ipc.read_schema(
        pyarrow.py_buffer(session.arrow_schema.serialized_schema)
    )
    responses = list(client.read_rows(session.streams[0].name, timeout=TIMEOUT))
    schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(responses[0].arrow_schema.serialized_schema))
    rows = []
    for response in responses:
        batch = pyarrow.ipc.read_record_batch(
            pyarrow.py_buffer(response.arrow_record_batch.serialized_record_batch), schema
        )
        rows.extend(batch.to_pylist())
    return session_schema, schema, sorted(rows, key=lambda row: row["small_int"])


def test_each_bigquery_type_arrives_in_googles_arrow_type(
    reader: BigQueryReadClient, typed_table: str
) -> None:
    session_schema, schema, _ = read(reader, typed_table)

    assert session_schema == schema
    assert {field.name: field.type for field in schema} == GOOGLE_TYPES
    for name, metadata in EXTENSIONS.items():
        assert schema.field(name).metadata == metadata, name
    assert schema.field("small_int").metadata is None


def test_values_survive_the_re_encoding(reader: BigQueryReadClient, typed_table: str) -> None:
    _, _, rows = read(reader, typed_table)

    first, second = rows
    assert first["bn"] == Decimal("1E-38")
    assert first["n"] == Decimal("0.1")
    assert first["iv"] == pyarrow.MonthDayNano([14, 3, 14_706_789_000_000])
    assert first["j"] == '{"a":[1,"ü"]}'
    assert first["g"] == "POINT(1 2)"
    assert first["dtm"] == dt.datetime(2024, 6, 1, 9)  # noqa: DTZ001 - a DATETIME
    assert first["r"] == {"start": dt.datetime(2024, 1, 1, 10), "end": None}  # noqa: DTZ001
    assert first["nested"] == [
        {"i": pyarrow.MonthDayNano([0, 0, 90_000_000_000_000]), "jj": '{"x":1}'}
    ]
    assert second == {
        "small_int": 2,
        "n": None,
        "bn": None,
        "iv": None,
        "j": None,
        "g": None,
        "dtm": None,
        "r": None,
        "nested": [],
    }


def test_the_emulator_itself_answers_in_its_own_types(
    stack: StandinStack, typed_table: str
) -> None:
    # Why the gate re-encodes: read the emulator directly, without the gate.
    channel = grpc.insecure_channel(stack.emulator_grpc_target)
    client = BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    try:
        session = client.create_read_session(
            parent=f"projects/{PROJECT}",
            read_session=types.ReadSession(table=typed_table, data_format=types.DataFormat.ARROW),
            max_stream_count=1,
            timeout=TIMEOUT,
        )
        schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(session.arrow_schema.serialized_schema))
    finally:
        channel.close()

    assert schema.field("iv").type == pyarrow.string()
    assert schema.field("bn").type == pyarrow.decimal128(38, 38)
    assert [f.name for f in schema.field("r").type] == ["__range_start", "__range_end"]
    assert schema.field("j").metadata is None


def test_run_sql_refuses_what_the_emulator_refuses(stack: StandinStack) -> None:
    with pytest.raises(EmulatorError, match="Syntax error|syntax|Parser"):
        stack.run_sql(PROJECT, "SELEC 1")


ARRAYS_SQL = """
SELECT 1 AS small_int, [JSON '{"a": 1}', JSON 'null', JSON '[]'] AS js,
  [ST_GEOGFROMTEXT('POINT(1 2)')] AS gs, [INTERVAL 25 HOUR, INTERVAL 1 MONTH] AS ivs,
  [STRUCT('kept' AS v)] AS real_structs
"""


def test_arrays_of_json_geography_and_interval_arrive_as_googles_lists(
    standin_stack: StandinStack, reader: BigQueryReadClient
) -> None:
    """The emulator sends these arrays' elements as its REST cells (struct<v>); an
    ARRAY<STRUCT<v STRING>> is data and stays a struct."""
    name = f"arrays_{uuid.uuid4().hex[:8]}"
    standin_stack.create_table_as(PROJECT, DATASET, name, ARRAYS_SQL)

    _, schema, (row,) = read(reader, f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}")

    assert schema.field("js").type.value_type == pyarrow.string()
    assert schema.field("gs").type.value_type == pyarrow.string()
    assert schema.field("ivs").type.value_type == pyarrow.month_day_nano_interval()
    assert row["js"] == ['{"a":1}', "null", "[]"]
    assert row["gs"] == ["POINT(1 2)"]
    assert row["ivs"] == [
        pyarrow.MonthDayNano([0, 0, 90_000_000_000_000]),
        pyarrow.MonthDayNano([1, 0, 0]),
    ]
    assert row["real_structs"] == [{"v": "kept"}]


NESTED_GEOGRAPHY_SQL = """
SELECT 1 AS small_int,
  STRUCT(ST_GEOGFROMTEXT('POINT(-122.0841 37.4220)') AS g, 'kept' AS s) AS point,
  STRUCT(ST_GEOGFROMTEXT('LINESTRING(0 0, 1.5 1e-7)') AS g) AS line,
  STRUCT(ST_GEOGFROMTEXT('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))') AS g)
    AS polygon,
  STRUCT(ST_GEOGFROMTEXT('MULTIPOINT(0 0, 1 1)') AS g) AS multipoint,
  STRUCT(ST_GEOGFROMTEXT('MULTILINESTRING((0 0, 1 1), (2 2, 3 3))') AS g) AS multiline,
  STRUCT(ST_GEOGFROMTEXT('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))') AS g)
    AS multipolygon,
  STRUCT(ST_GEOGFROMTEXT('GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))') AS g)
    AS collection,
  STRUCT(ST_GEOGFROMTEXT('POINT EMPTY') AS g) AS empty,
  [STRUCT(ST_GEOGFROMTEXT('POINT(180 -90)') AS g)] AS listed
UNION ALL SELECT 2, STRUCT(NULL, NULL), NULL, NULL, NULL, NULL, NULL, NULL, NULL, []
"""


def test_a_geography_in_a_struct_arrives_as_the_wkt_rest_gives(
    standin_stack: StandinStack, reader: BigQueryReadClient
) -> None:
    """The emulator sends a GEOGRAPHY nested in a STRUCT as WKB (geoarrow.wkb); Google sends
    every GEOGRAPHY as WKT text, the same text tabledata.list gives."""
    name = f"geo_{uuid.uuid4().hex[:8]}"
    standin_stack.create_table_as(PROJECT, DATASET, name, NESTED_GEOGRAPHY_SQL)
    rest = standin_stack.emulator.api(
        "GET", f"/projects/{PROJECT}/datasets/{DATASET}/tables/{name}/data"
    )
    by_rest = {row["f"][0]["v"]: row["f"] for row in rest["rows"]}

    _, schema, (first, second) = read(
        reader, f"projects/{PROJECT}/datasets/{DATASET}/tables/{name}"
    )

    assert schema.field("point").type.field("g").type == pyarrow.string()
    texts = {
        column: first[column]["g"]
        for column in schema.names
        if column not in ("small_int", "listed")
    }
    assert texts == {
        "point": "POINT(-122.0841 37.422)",
        "line": "LINESTRING(0 0, 1.5 1e-07)",
        "polygon": "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))",
        "multipoint": "MULTIPOINT(0 0, 1 1)",
        "multiline": "MULTILINESTRING((0 0, 1 1), (2 2, 3 3))",
        "multipolygon": "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))",
        "collection": "GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))",
        "empty": "POINT EMPTY",
    }
    rest_texts = [cell["v"]["f"][0]["v"] for cell in by_rest["1"][1:-1]]
    assert rest_texts == list(texts.values())  # the same text as REST's
    assert first["point"]["s"] == "kept"
    assert first["listed"] == [{"g": "POINT(180 -90)"}]
    assert second["point"] == {"g": None, "s": None}
    assert second["line"] is None
    assert second["listed"] == []
