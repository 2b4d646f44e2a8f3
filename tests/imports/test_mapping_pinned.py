"""The exact output of a page of events: each row's dedupe key, canonical properties JSON and
timestamp, pinned as literals. Stored events are deduplicated by these keys, so a key that
changed value would import every replayed row a second time; the same page read through
the Storage Read API (Arrow, converted by the real fetch code) and through REST must give
these same bytes."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow

from connections.arrow_rows import batch_rows
from imports.mapping import Mapping, map_page
from imports.type_contract import Field

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
COLUMNS = (
    Field("user_id", "STRING"),
    Field("event", "STRING"),
    Field("ts", "TIMESTAMP"),
    Field("amount", "INT64"),
    Field("country", "STRING"),
    Field("price", "FLOAT64"),
    Field("total", "NUMERIC"),
    Field("paid", "BOOL"),
    Field("day", "DATE"),
    Field("tags", "STRING", repeated=True),
    Field("meta", "JSON"),
)
PROPERTIES = ("amount", "country", "price", "total", "paid", "day", "tags", "meta")
EVENTS = Mapping(
    target="events",
    identity_column="user_id",
    event_name_column="event",
    timestamp_column="ts",
    properties=tuple((column, column) for column in PROPERTIES),
    columns=COLUMNS,
)
ARROW_SCHEMA = pyarrow.schema(
    [
        ("user_id", pyarrow.string()),
        ("event", pyarrow.string()),
        ("ts", pyarrow.timestamp("us", tz="UTC")),
        ("amount", pyarrow.int64()),
        ("country", pyarrow.string()),
        ("price", pyarrow.float64()),
        ("total", pyarrow.decimal128(38, 9)),
        ("paid", pyarrow.bool_()),
        ("day", pyarrow.date32()),
        ("tags", pyarrow.list_(pyarrow.string())),
        ("meta", pyarrow.string()),
    ]
)
ROWS = [
    {
        "user_id": "u000001",
        "event": "page_view",
        "ts": datetime(2026, 1, 1, 0, 0, 1, 997, tzinfo=UTC),
        "amount": 0,
        "country": "DE",
        "price": 2.5,
        "total": Decimal("10.500000000"),
        "paid": True,
        "day": date(2026, 1, 1),
        "tags": ["a", "b"],
        "meta": '{"z": 1, "a": {"y": [1, 2.0], "b": "ü"}}',
    },
    {
        "user_id": "Ünïcode user ✓",
        "event": "purchase",
        "ts": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "amount": -(2**63),
        "country": "日本",
        "price": float("nan"),
        "total": Decimal("-0.000000001"),
        "paid": False,
        "day": None,
        "tags": [],
        "meta": "null",
    },
    {
        "user_id": "u3",
        "event": "search",
        "ts": datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        "amount": None,
        "country": None,
        "price": None,
        "total": None,
        "paid": None,
        "day": None,
        "tags": None,
        "meta": None,
    },
]
REST_ROWS = [
    {
        "user_id": "u000001",
        "event": "page_view",
        "ts": "1767225601000997",
        "amount": "0",
        "country": "DE",
        "price": "2.5",
        "total": "10.5",
        "paid": "true",
        "day": "2026-01-01",
        "tags": [{"v": "a"}, {"v": "b"}],
        "meta": '{"z": 1, "a": {"y": [1, 2.0], "b": "ü"}}',
    },
    {
        "user_id": "Ünïcode user ✓",
        "event": "purchase",
        "ts": "-1",
        "amount": str(-(2**63)),
        "country": "日本",
        "price": "NaN",
        "total": "-0.000000001",
        "paid": "false",
        "day": None,
        "tags": [],
        "meta": "null",
    },
    {
        "user_id": "u3",
        "event": "search",
        "ts": "1780315200000000",
        "amount": None,
        "country": None,
        "price": None,
        "total": None,
        "paid": None,
        "day": None,
        "tags": None,
        "meta": None,
    },
]
PINNED = [
    (
        "bcda106b-4a24-3795-236f-b1ce06da0ca2",
        '{"amount":0,"country":"DE","day":"2026-01-01","meta":{"a":{"b":"ü","y":[1,2.0]},"z":1},"paid":true,"price":2.5,"tags":["a","b"],"total":"10.5"}',
        "2026-01-01T00:00:01.000997+00:00",
        "u000001",
        "page_view",
    ),
    (
        "6ae57ab8-9e4e-9670-292e-01dc62094236",
        '{"amount":-9223372036854775808,"country":"日本","day":null,"meta":null,"paid":false,"price":"NaN","tags":[],"total":"-0.000000001"}',
        "1969-12-31T23:59:59.999999+00:00",
        "Ünïcode user ✓",
        "purchase",
    ),
    (
        "7374e19e-dd0e-0416-6c90-a01807595269",
        '{"amount":null,"country":null,"day":null,"meta":null,"paid":null,"price":null,"tags":[],"total":null}',
        "2026-06-01T12:00:00+00:00",
        "u3",
        "search",
    ),
]


def outputs(rows, wire):
    mapped, rejected = map_page(EVENTS, rows, wire=wire, first_row_number=1, now=NOW)
    assert rejected == []
    return [
        (
            str(row.dedupe_key),
            row.properties_json,
            row.timestamp.isoformat(),
            row.identity,
            row.name,
        )
        for row in mapped
    ]


def test_arrow_events_map_to_pinned_keys_and_json():
    batch = pyarrow.RecordBatch.from_pylist(ROWS, schema=ARROW_SCHEMA)

    assert outputs(batch_rows(batch), "arrow") == PINNED


def test_rest_events_map_to_the_same_pinned_keys_and_json():
    assert outputs(REST_ROWS, "rest") == PINNED


def test_text_that_cannot_be_stored_is_refused_with_its_reason_on_either_wire():
    # What a plain-text shortcut must not let through: NUL, unpaired surrogates, text
    # over the limits (in bytes for a non-ASCII identity).
    good = {**ROWS[2], "tags": []}
    cases = [
        (
            "user_id",
            "u\x00",
            "Identity in column user_id contains characters PostgreSQL cannot store",
        ),
        (
            "user_id",
            "u\ud800",
            "Identity in column user_id contains characters PostgreSQL cannot store",
        ),
        ("user_id", "日" * 1000, "Identity in column user_id is longer than 2,600 bytes"),
        ("user_id", "u" * 1025, "Identity in column user_id is longer than 1,024 characters"),
        ("user_id", " \t", "Missing identity in column user_id"),
        (
            "event",
            "e\x00",
            "Event name in column event contains characters PostgreSQL cannot store",
        ),
        (
            "event",
            "e\udfff",
            "Event name in column event contains characters PostgreSQL cannot store",
        ),
        ("event", "é" * 256, "Event name in column event is longer than 255 characters"),
        (
            "country",
            "D\x00E",
            "Property country contains a NUL character, which PostgreSQL cannot store",
        ),
        ("country", "D\ud800", "Property country contains text that is not valid Unicode"),
        ("country", "\x01" * 11_000, "Property country is larger than 64 KiB"),
    ]
    for column, value, reason in cases:
        for wire in ("arrow", "rest"):
            row = {**(good if wire == "arrow" else REST_ROWS[2]), column: value}
            mapped, rejected = map_page(EVENTS, [row], wire=wire, first_row_number=1, now=NOW)
            assert mapped == [], (column, value, wire)
            assert rejected[0].reason == reason, (column, value, wire)
