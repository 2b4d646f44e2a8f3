"""imports.mapping: a page of rows, in either wire form, becomes profiles or events, or
rejections with a reason. Pure logic: rows are built here as each read path delivers them
(REST: tabledata.list's strings; Arrow: pyarrow's Python values)."""

import dataclasses
import hashlib
import json
import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audience.rows import EventRow, ProfileRow, canonical_json
from imports.mapping import (
    Mapping,
    MappingError,
    event_dedupe_key,
    event_id_dedupe_key,
    map_page,
)
from imports.models import Import
from imports.type_contract import Field, converter

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TS = datetime(2025, 12, 24, 18, 0, tzinfo=UTC)
TS_MICROS = "1766599200000000"  # TS as tabledata.list sends a TIMESTAMP

PROFILE_COLUMNS = (
    Field("id", "STRING"),
    Field("plan", "STRING"),
    Field("email", "STRING"),
    Field("meta", "JSON"),
    Field("score", "INT64"),
)
EVENT_COLUMNS = (
    Field("user_id", "STRING"),
    Field("event", "STRING"),
    Field("ts", "TIMESTAMP"),
    Field("amount", "INT64"),
    Field("sku", "STRING"),
)
PROFILES = Mapping(
    target="profiles",
    identity_column="id",
    properties=(("plan", "plan"), ("email", "Email"), ("meta", "meta"), ("score", "score")),
    columns=PROFILE_COLUMNS,
)
EVENTS = Mapping(
    target="events",
    identity_column="user_id",
    event_name_column="event",
    timestamp_column="ts",
    properties=(("amount", "amount"), ("sku", "sku")),
    columns=EVENT_COLUMNS,
)
FIXED_NAME_EVENTS = Mapping(
    target="events",
    identity_column="user_id",
    event_name_fixed="Purchased",
    timestamp_column="ts",
    properties=(("amount", "amount"),),
    columns=EVENT_COLUMNS,
)


def one(mapping, row, *, wire="arrow", first_row_number=1):
    mapped, rejected = map_page(
        mapping, [row], wire=wire, first_row_number=first_row_number, now=NOW
    )
    assert len(mapped) + len(rejected) == 1
    return mapped[0] if mapped else rejected[0]


def an_event(**overrides):
    row = {"user_id": "u1", "event": "Purchased", "ts": TS, "amount": 10, "sku": "A-1"}
    row.update(overrides)
    return row


def a_rest_event(**overrides):
    row = {"user_id": "u1", "event": "Purchased", "ts": TS_MICROS, "amount": "10", "sku": "A-1"}
    row.update(overrides)
    return row


# --- Mapping.from_import -------------------------------------------------------------


SOURCE_SCHEMA = [
    {"name": "user_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "event", "type": "STRING", "mode": "NULLABLE"},
    {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "internal", "type": "STRING", "mode": "NULLABLE"},
    {"name": "sku", "type": "STRING", "mode": "NULLABLE"},
    {"name": "local_time", "type": "DATETIME", "mode": "NULLABLE"},
    {"name": "day", "type": "DATE", "mode": "NULLABLE"},
    {"name": "epoch", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
]


def make_import(**fields) -> Import:
    defaults = {
        "source_kind": "table",
        "source_table": "t",
        "source_schema": SOURCE_SCHEMA,
        "target": "events",
        "identity_column": "user_id",
        "event_name_column": "event",
        "timestamp_column": "ts",
        "column_mapping": [],
    }
    defaults.update(fields)
    return Import(**defaults)  # never saved: the mapping needs no database


def test_from_import_keeps_included_columns_and_their_property_names():
    mapping = Mapping.from_import(
        make_import(
            column_mapping=[
                {"column": "user_id", "property": "user_id", "include": True},
                {"column": "event", "property": "event", "include": True},
                {"column": "ts", "property": "ts", "include": True},
                {"column": "amount", "property": "Amount (EUR)", "include": True},
                {"column": "internal", "property": "internal", "include": False},
                {"column": "sku"},
            ]
        )
    )

    assert mapping.target == "events"
    assert mapping.identity_column == "user_id"
    assert mapping.event_name_column == "event"
    assert mapping.timestamp_column == "ts"
    assert mapping.properties == (("amount", "Amount (EUR)"), ("sku", "sku"))
    assert mapping.property_type_labels() == {"Amount (EUR)": "NUMERIC", "sku": "STRING"}


def test_from_import_keeps_a_profile_imports_timestamp_column_as_a_property():
    mapping = Mapping.from_import(
        make_import(
            target="profiles",
            timestamp_column="day",
            column_mapping=[
                {"column": "user_id", "property": "user_id", "include": True},
                {"column": "day", "property": "signed_up_on", "include": True},
                {"column": "tags", "property": "tags", "include": True},
            ],
        )
    )

    assert mapping.properties == (("day", "signed_up_on"), ("tags", "tags"))
    assert mapping.timestamp_column == ""
    assert mapping.property_type_labels() == {"signed_up_on": "DATE", "tags": "ARRAY<STRING>"}


def test_from_import_reads_the_columns_it_is_given_over_the_stored_schema():
    run_schema = [Field("user_id", "INT64"), Field("event", "STRING"), Field("ts", "TIMESTAMP")]

    mapping = Mapping.from_import(make_import(), columns=run_schema)

    assert mapping.columns == tuple(run_schema)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timestamp_column": ""}, "An events import needs a timestamp column."),
        ({"event_name_column": "", "event_name_fixed": ""}, "event name"),
        ({"identity_column": ""}, "The import has no identity column."),
        ({"event_name_column": "", "event_name_fixed": "x" * 256}, "longer than 255"),
        ({"event_name_column": "", "event_name_fixed": " \t "}, "event name column or a fixed"),
        ({"target": "accounts"}, "Unknown import target"),
        ({"identity_column": "gone"}, "The source has no column gone (the identity column)"),
        ({"identity_column": "amount"}, "The identity column amount is NUMERIC in the source"),
        ({"identity_column": "tags"}, "The identity column tags is ARRAY<STRING> in the source"),
        ({"timestamp_column": "sku"}, "The timestamp column sku is STRING in the source"),
        ({"event_name_column": "gone"}, "The source has no column gone (the event name column)"),
        ({"event_name_column": "amount"}, "The event name column amount is NUMERIC in the source"),
        (
            {"timestamp_column": "local_time"},
            "The timestamp column local_time is DATETIME, a time without a time zone",
        ),
        ({"timestamp_column": "day", "source_time_zone": "Mars/Olympus"}, "not a known time zone"),
        ({"timestamp_column": "epoch"}, "The timestamp column epoch is INT64: choose whether"),
        ({"timestamp_column": "epoch", "timestamp_unit": "minutes"}, "is INT64: choose whether"),
    ],
)
def test_from_import_refuses_a_definition_no_row_could_satisfy(fields, message):
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Mapping.from_import(make_import(**fields))


def test_from_import_takes_a_fixed_event_name_of_exactly_255_characters():
    mapping = Mapping.from_import(make_import(event_name_column="", event_name_fixed="x" * 255))

    assert mapping.event_name_fixed == "x" * 255


def test_from_import_names_a_property_by_its_column_when_its_property_name_is_empty():
    mapping = Mapping.from_import(
        make_import(column_mapping=[{"column": "sku", "property": ""}, {"column": "amount"}])
    )

    assert mapping.properties == (("sku", "sku"), ("amount", "amount"))


def test_from_import_skips_column_mapping_entries_that_are_not_objects():
    mapping = Mapping.from_import(make_import(column_mapping=["sku", None, {"column": "amount"}]))

    assert mapping.properties == (("amount", "amount"),)


def test_property_type_labels_leave_out_a_column_the_source_no_longer_has():
    mapping = dataclasses.replace(PROFILES, properties=(("plan", "plan"), ("gone", "gone")))

    assert mapping.property_type_labels() == {"plan": "STRING"}


def test_from_import_takes_the_zone_for_datetime_and_date_and_the_unit_for_int64():
    zoned = Mapping.from_import(
        make_import(timestamp_column="local_time", source_time_zone="Europe/Berlin")
    )
    counted = Mapping.from_import(make_import(timestamp_column="epoch", timestamp_unit="seconds"))

    assert (zoned.source_time_zone, zoned.timestamp_unit) == ("Europe/Berlin", "")
    assert (counted.source_time_zone, counted.timestamp_unit) == ("", "seconds")


# --- Rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "row", "reason"),
    [
        (PROFILES, {"plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": None, "plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": "  \t", "plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": "x" * 1025}, "Identity in column id is longer than 1,024 characters"),
        (
            EVENTS,
            an_event(user_id="中" * 867),
            "Identity in column user_id is longer than 2,600 bytes",
        ),
        (
            PROFILES,
            {"id": "a\x00b"},
            "Identity in column id contains characters PostgreSQL cannot store",
        ),
        (EVENTS, an_event(event=None), "Missing event name in column event"),
        (EVENTS, an_event(event=""), "Missing event name in column event"),
        (
            EVENTS,
            an_event(event="e" * 256),
            "Event name in column event is longer than 255 characters",
        ),
        (EVENTS, an_event(ts=None), "Missing timestamp in column ts"),
        (
            PROFILES,
            {"id": "u1", "plan": "p" * (64 * 1024)},
            "Property plan is larger than 64 KiB",
        ),
        (
            PROFILES,
            {"id": "u1", "meta": json.dumps({"tags": ["t" * 1000] * 70})},
            "Property meta is larger than 64 KiB",
        ),
        (
            PROFILES,
            {"id": "u1", "email": "a\x00@b"},
            "Property Email contains a NUL character, which PostgreSQL cannot store",
        ),
        (
            PROFILES,
            {"id": "u1", "meta": '{"nested": ["ok", "not\\u0000ok"]}'},
            "Property meta contains a NUL character, which PostgreSQL cannot store",
        ),
        (
            PROFILES,
            {"id": "u1", "plan": "half a pair \ud800"},
            "Property plan contains text that is not valid Unicode",
        ),
        (
            PROFILES,
            {"id": "u1", "meta": '{"a": NaN}'},
            "Property meta is JSON with NaN, which JSON does not allow",
        ),
        # A value not in the wire form its type documents is rejected, never stored as is.
        (
            PROFILES,
            {"id": "u1", "score": "12"},
            "Property score is not in BigQuery's INT64 form: '12'",
        ),
        (PROFILES, {"id": 1.5}, "Identity in column id is not in BigQuery's STRING form: 1.5"),
        (
            EVENTS,
            an_event(ts="2025-12-24"),
            "Timestamp in column ts is not in BigQuery's TIMESTAMP form: '2025-12-24'",
        ),
    ],
)
def test_it_rejects_with_a_reason(mapping, row, reason):
    rejection = one(mapping, row)

    assert rejection.reason == reason


def test_it_rejects_more_than_255_properties():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=tuple((f"c{i}", f"p{i}") for i in range(256)),
        columns=(Field("id", "STRING"), *(Field(f"c{i}", "INT64") for i in range(256))),
    )

    rejection = one(mapping, {"id": "u1", "c0": 1})

    assert rejection.reason == "More than 255 properties"


def test_it_accepts_255_properties_and_a_property_of_exactly_64_kib():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=tuple((f"c{i}", f"p{i}") for i in range(255)),
        columns=(
            Field("id", "STRING"),
            Field("c0", "STRING"),
            *(Field(f"c{i}", "INT64") for i in range(1, 255)),
        ),
    )
    exactly_64_kib = "é" * ((64 * 1024 - 2) // 2)  # two quotes, two bytes per character

    profile = one(
        mapping, {"id": "u1", "c0": exactly_64_kib, **{f"c{i}": i for i in range(1, 255)}}
    )

    assert isinstance(profile, ProfileRow)
    assert len(profile.properties) == 255


def test_a_json_property_nested_too_deep_to_read_is_rejected_not_a_failed_page():
    rejection = one(PROFILES, {"id": "u1", "meta": "[" * 100_000 + "]" * 100_000})

    assert rejection.reason.startswith("Property meta is not in BigQuery's JSON form: '[[[")


def test_an_array_property_over_64_kib_is_rejected_from_either_wire():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=(("tags", "tags"),),
        columns=(Field("id", "STRING"), Field("tags", "STRING", repeated=True)),
    )
    tags = ["t" * 1000] * 70  # each element short, the list over 64 KiB

    from_arrow = one(mapping, {"id": "u1", "tags": tags})
    from_rest = one(mapping, {"id": "u1", "tags": [{"v": tag} for tag in tags]}, wire="rest")
    small = one(mapping, {"id": "u1", "tags": tags[:2]})

    assert from_arrow.reason == from_rest.reason == "Property tags is larger than 64 KiB"
    assert small.properties == {"tags": tags[:2]}


@pytest.mark.parametrize("char", ["p", "é"])  # the limit is in bytes of UTF-8, not characters
def test_a_property_of_exactly_64_kib_as_json_is_kept_and_one_byte_more_is_not(char):
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=(("plan", "plan"),),
        columns=(Field("id", "STRING"), Field("plan", "STRING")),
    )
    fits = char * ((64 * 1024 - 2) // len(char.encode()))  # with its quotes, 65,536 bytes

    kept = one(mapping, {"id": "u1", "plan": fits})
    refused = one(mapping, {"id": "u1", "plan": fits + char})

    assert kept.properties == {"plan": fits}
    assert refused.reason == "Property plan is larger than 64 KiB"


def test_bytes_not_in_their_wire_form_are_rejected_not_stored_as_text():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=(("b", "b"),),
        columns=(Field("id", "STRING"), Field("b", "BYTES")),
    )

    from_rest = one(mapping, {"id": "u1", "b": "not base64!"}, wire="rest")
    from_arrow = one(mapping, {"id": "u1", "b": "AP9oaQ=="})
    kept = one(mapping, {"id": "u1", "b": b"\x00\xffhi"})

    assert from_rest.reason == "Property b is not valid base64 BYTES"
    assert from_arrow.reason == "Property b is not in BigQuery's BYTES form: 'AP9oaQ=='"
    assert kept.properties == {"b": "AP9oaQ=="}


def test_reasons_fit_the_rejected_row_column_even_for_long_column_names():
    mapping = Mapping(
        target="profiles", identity_column="c" * 300, columns=(Field("c" * 300, "STRING"),)
    )

    rejection = one(mapping, {})

    assert len(rejection.reason) <= 255
    assert rejection.reason.startswith("Missing identity in column ccc")


def test_rejections_are_numbered_from_the_first_row_number_of_the_page():
    rows = [{"id": "a"}, {"id": None}, {"id": "b"}, {}, {"id": ""}]

    mapped, rejected = map_page(PROFILES, rows, wire="arrow", first_row_number=1001, now=NOW)

    assert [p.identity for p in mapped] == ["a", "b"]
    assert [r.row_number for r in rejected] == [1002, 1004, 1005]


def test_rejected_data_is_the_rows_stored_forms_each_cut_to_1_kib():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        columns=(
            Field("id", "STRING"),
            Field("plan", "STRING"),
            Field("meta", "JSON"),
            Field("blob", "BYTES"),
            Field("when", "TIMESTAMP"),
            Field("price", "NUMERIC"),
            Field("nul", "STRING"),
            Field("short", "STRING"),
        ),
    )
    row = {
        "id": None,
        "plan": "p" * (64 * 1024),
        "meta": json.dumps({"tags": ["t" * 100] * 50}),
        "blob": b"\x00\x01" * 2000,
        "when": TS,
        "price": Decimal("19.990000000"),
        "nul": "a\x00b",
        "short": "ok",
        "unknown": object(),
    }

    rejection = one(mapping, row)

    text = json.dumps(rejection.data, allow_nan=False)
    assert "\\u0000" not in text
    for value in rejection.data.values():
        if isinstance(value, str):
            assert len(value.encode()) <= 1024
        else:
            assert len(json.dumps(value, ensure_ascii=False).encode()) <= 1024
    assert rejection.data["plan"].endswith("…")
    assert isinstance(rejection.data["meta"], str)  # the cut JSON text of the object
    assert rejection.data["when"] == "2025-12-24T18:00:00+00:00"
    assert rejection.data["price"] == "19.99"
    assert rejection.data["nul"] == "a\ufffdb"  # not storable: its text, scrubbed
    assert rejection.data["short"] == "ok"
    assert rejection.data["unknown"].startswith("<object object")


def test_rejected_data_keeps_a_json_value_of_exactly_1_kib_as_json():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        columns=(Field("id", "STRING"), Field("meta", "JSON")),
    )
    exactly = {"k": "v" * (1024 - len('{"k":""}'))}
    over = {"k": "v" * (1025 - len('{"k":""}'))}

    kept = one(mapping, {"id": None, "meta": json.dumps(exactly)})
    cut = one(mapping, {"id": None, "meta": json.dumps(over)})

    assert kept.data["meta"] == exactly
    assert isinstance(cut.data["meta"], str) and cut.data["meta"].endswith("…")


def test_rejected_data_cuts_an_array_value_over_1_kib_to_its_text():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        columns=(Field("id", "STRING"), Field("tags", "STRING", repeated=True)),
    )

    rejection = one(mapping, {"id": None, "tags": ["t" * 100] * 20})

    assert isinstance(rejection.data["tags"], str)
    assert rejection.data["tags"].startswith('["tttt')
    assert rejection.data["tags"].endswith("…")
    assert len(rejection.data["tags"].encode()) <= 1024


def test_a_row_that_is_not_a_mapping_is_rejected_with_its_text():
    mapped, rejected = map_page(
        PROFILES, [["u1", "pro"]], wire="arrow", first_row_number=1, now=NOW
    )

    assert mapped == []
    assert rejected[0].reason == "Row could not be converted (AttributeError)"
    assert rejected[0].data == {"row": "['u1', 'pro']"}


def test_a_page_needs_an_aware_now():
    with pytest.raises(ValueError, match="aware"):
        map_page(
            PROFILES, [{"id": "u1"}], wire="arrow", first_row_number=1, now=NOW.replace(tzinfo=None)
        )


def test_rejected_data_keeps_a_value_of_exactly_1_kib_whole_and_scrubs_unknown_columns():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        columns=(Field("id", "STRING"), Field("plan", "STRING")),
    )

    rejection = one(mapping, {"id": None, "plan": "p" * 1024, "extra": {"a": "x\x00"}})

    assert rejection.data["plan"] == "p" * 1024
    # A column without a type is kept as it came, but a NUL (which jsonb refuses) makes
    # the value its JSON text.
    assert rejection.data["extra"] == '{"a":"x\\u0000"}'


def test_rejected_data_scrubs_a_nul_and_a_lone_surrogate_from_a_column_name():
    """jsonb refuses both in a key, as in a value: the rejected row would not save."""
    rejection = one(PROFILES, {"id": None, "a\x00b": 1, "c\ud800": 2})

    assert set(rejection.data) == {"id", "a\ufffdb", "c?"}


def test_a_reason_quotes_at_most_40_characters_of_the_value():
    rejection = one(PROFILES, {"id": "u1", "score": "1234567890" * 10})
    # A value refused by the property's kept type is quoted as its JSON, cut the same way.
    kept_as_floats = dataclasses.replace(
        PROFILES,
        columns=(*PROFILE_COLUMNS, Field("ids", "INT64", repeated=True)),
        properties=(("ids", "ids"),),
        property_types=(("ids", "ARRAY<FLOAT64>"),),
    )
    uncast = one(kept_as_floats, {"id": "u1", "ids": [2**53 + 1] * 3})

    assert rejection.reason == (
        "Property score is not in BigQuery's INT64 form: '" + "1234567890" * 3 + "12345678…"
    )
    assert uncast.reason == (
        "Property ids is ARRAY<FLOAT64> in this workspace; value [9007199254740993, "
        "9007199254740993, 90… cannot be stored as ARRAY<FLOAT64>"
    )


# --- Rows ----------------------------------------------------------------------------


def test_profile_properties_use_the_property_names_and_seen_at_is_now():
    profile = one(
        PROFILES, {"id": "42", "plan": "pro", "email": None, "meta": '{"a": 1}', "score": 7}
    )

    assert profile == ProfileRow(
        identity="42",
        properties={"plan": "pro", "Email": None, "meta": {"a": 1}, "score": 7},
        seen_at=NOW,
    )


def test_a_mapped_column_the_source_no_longer_has_is_left_out():
    mapping = dataclasses.replace(PROFILES, properties=(*PROFILES.properties, ("gone", "gone")))

    profile = one(mapping, {"id": "u1", "plan": "pro", "gone": "x"})

    assert profile.properties == {"plan": "pro"}


def test_a_profile_carries_its_properties_as_the_canonical_json_the_writer_stores():
    profile = one(
        PROFILES,
        {"id": "42", "plan": "pro", "email": None, "meta": '{"b": 1, "a": "é"}', "score": 7},
    )

    assert profile.properties_json == canonical_json(profile.properties)
    assert profile.properties_json == (
        '{"Email":null,"meta":{"a":"é","b":1},"plan":"pro","score":7}'
    )


def test_both_wire_forms_of_a_row_map_to_the_same_profile():
    rest = one(
        PROFILES,
        {"id": "u1", "plan": "pro", "email": None, "meta": '{"a":[1,2]}', "score": "7"},
        wire="rest",
    )
    arrow = one(
        PROFILES,
        {"id": "u1", "plan": "pro", "email": None, "meta": '{"a":[1,2]}', "score": 7},
        wire="arrow",
    )

    assert rest == arrow
    assert (
        canonical_json(rest.properties)
        == '{"Email":null,"meta":{"a":[1,2]},"plan":"pro","score":7}'
    )


def test_a_column_absent_from_the_row_is_left_out_but_null_is_kept():
    profile = one(PROFILES, {"id": "u1", "email": None})

    assert profile.properties == {"Email": None}


def test_an_int64_identity_and_event_name_are_their_digits():
    mapping = Mapping(
        target="events",
        identity_column="user_id",
        event_name_column="code",
        timestamp_column="ts",
        columns=(Field("user_id", "INT64"), Field("code", "INT64"), Field("ts", "TIMESTAMP")),
    )

    rest = one(
        mapping, {"user_id": "9223372036854775807", "code": "-3", "ts": TS_MICROS}, wire="rest"
    )
    arrow = one(mapping, {"user_id": 9223372036854775807, "code": -3, "ts": TS})
    text = one(mapping, {"user_id": "42", "code": -3, "ts": TS})

    assert (rest.identity, rest.name) == ("9223372036854775807", "-3")
    assert rest == arrow
    # Text is not an Arrow INT64's form: it is refused, not taken as the identity's digits.
    assert text.reason == "Identity in column user_id is not in BigQuery's INT64 form: '42'"


def test_an_event_takes_its_name_from_the_column_or_the_fixed_name():
    from_column = one(EVENTS, an_event(event="Signed up"))
    fixed = one(FIXED_NAME_EVENTS, an_event(event="ignored"))

    assert isinstance(from_column, EventRow)
    assert from_column.name == "Signed up"
    assert from_column.properties == {"amount": 10, "sku": "A-1"}
    assert fixed.name == "Purchased"
    assert fixed.properties == {"amount": 10}


def test_a_timestamp_event_time_is_the_same_instant_from_either_wire():
    arrow = one(EVENTS, an_event(ts=TS.astimezone(timezone(timedelta(hours=-5)))))
    rest = one(EVENTS, a_rest_event(), wire="rest")

    assert arrow.timestamp == rest.timestamp == TS
    assert arrow.timestamp.tzinfo is not None
    assert arrow.dedupe_key == rest.dedupe_key


def test_a_cursor_at_the_runs_ceiling_is_imported_and_one_past_it_is_rejected():
    mapping = dataclasses.replace(EVENTS, cursor_column="ts", cursor_ceiling=TS)

    at_arrow = one(mapping, an_event(ts=TS))
    at_rest = one(mapping, a_rest_event(), wire="rest")
    past = one(mapping, an_event(ts=TS + timedelta(microseconds=1)))

    assert isinstance(at_arrow, EventRow) and isinstance(at_rest, EventRow)
    assert at_arrow.timestamp == at_rest.timestamp == TS
    assert past.reason == (
        "Cursor ts is 2025-12-24T18:00:00.000001+00:00, more than 1 hour after the run "
        "started: future-dated rows are not imported and do not move the watermark"
    )


def test_a_cursor_with_no_ceiling_rejects_every_row_that_has_a_cursor():
    # No ceiling: the run's window holds only rows from the future, so none may land.
    mapping = dataclasses.replace(EVENTS, cursor_column="ts", cursor_ceiling=None)

    rejection = one(mapping, an_event(ts=TS))
    without_cursor = one(mapping, an_event(ts=None))

    assert rejection.reason.startswith("Cursor ts is 2025-12-24T18:00:00+00:00, more than")
    assert without_cursor.reason == "Missing timestamp in column ts"


def test_a_profile_cursor_past_the_ceiling_is_rejected_like_an_events():
    mapping = dataclasses.replace(
        PROFILES,
        columns=(*PROFILE_COLUMNS, Field("updated", "DATE")),
        cursor_column="updated",
        cursor_ceiling=date(2026, 3, 1),
    )

    at = one(mapping, {"id": "u1", "updated": date(2026, 3, 1)})
    past = one(mapping, {"id": "u1", "updated": "2026-03-02"}, wire="rest")

    assert isinstance(at, ProfileRow)
    assert past.reason.startswith("Cursor updated is 2026-03-02, more than 1 hour after")


# --- Event time from DATETIME, DATE and INT64 ------------------------------------------------


def zoned_events(kind, zone="Europe/Berlin"):
    return Mapping(
        target="events",
        identity_column="user_id",
        event_name_fixed="Visited",
        timestamp_column="at",
        columns=(Field("user_id", "STRING"), Field("at", kind)),
        source_time_zone=zone,
    )


def counted_events(unit):
    return Mapping(
        target="events",
        identity_column="user_id",
        event_name_fixed="Visited",
        timestamp_column="at",
        columns=(Field("user_id", "STRING"), Field("at", "INT64")),
        timestamp_unit=unit,
    )


@pytest.mark.parametrize(
    ("kind", "rest", "arrow", "expected"),
    [
        (  # summer time: UTC+2
            "DATETIME", "2024-06-01T09:00:00", datetime(2024, 6, 1, 9),  # noqa: DTZ001
            datetime(2024, 6, 1, 7, tzinfo=UTC),
        ),
        (  # winter time: UTC+1
            "DATETIME", "2024-01-15T09:00:00.250000", datetime(2024, 1, 15, 9, 0, 0, 250000),  # noqa: DTZ001
            datetime(2024, 1, 15, 8, 0, 0, 250000, tzinfo=UTC),
        ),
        ("DATE", "2024-06-01", date(2024, 6, 1), datetime(2024, 5, 31, 22, tzinfo=UTC)),
        (  # the clocks go back at 03:00: 02:30 happens twice; the first one counts
            "DATETIME", "2024-10-27T02:30:00", datetime(2024, 10, 27, 2, 30),  # noqa: DTZ001
            datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        ),
    ],
)  # fmt: skip
def test_a_wall_clock_event_time_is_read_in_the_source_time_zone(kind, rest, arrow, expected):
    mapping = zoned_events(kind)

    from_rest = one(mapping, {"user_id": "u1", "at": rest}, wire="rest")
    from_arrow = one(mapping, {"user_id": "u1", "at": arrow})

    assert from_rest.timestamp == from_arrow.timestamp == expected
    assert from_rest.dedupe_key == from_arrow.dedupe_key


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "2024-03-31T02:30:00",
            "Timestamp in column at, 2024-03-31 02:30:00, does not exist in Europe/Berlin "
            "(the clocks skip it)",
        ),
        (
            "2024-06-01T09:00:00+02:00",
            "Timestamp in column at is a DATETIME with a time zone ('2024-06-01T09:00:00+02:00')",
        ),
    ],
)
def test_a_wall_clock_time_the_clocks_skip_or_with_a_zone_is_rejected_with_a_reason(value, reason):
    rejection = one(zoned_events("DATETIME"), {"user_id": "u1", "at": value}, wire="rest")

    assert rejection.reason == reason


@pytest.mark.parametrize(
    ("zone", "value", "edge"),
    [
        ("Asia/Tokyo", "0001-01-01T00:00:00", "0001-01-01 00:00:00"),
        ("America/New_York", "9999-12-31T23:00:00", "9999-12-31 23:00:00"),
    ],
)
def test_a_wall_clock_time_beyond_the_calendar_in_utc_is_rejected(zone, value, edge):
    rejection = one(zoned_events("DATETIME", zone), {"user_id": "u1", "at": value}, wire="rest")

    assert rejection.reason == (
        f"Timestamp in column at, {edge}, is outside the years 1 to 9999 in {zone}"
    )


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("seconds", 1766599200, TS),
        ("milliseconds", 1766599200123, TS.replace(microsecond=123000)),
        ("microseconds", 1766599200123456, TS.replace(microsecond=123456)),
        # No guessing by size: the same number means what the unit says.
        ("seconds", 1766599200123, None),
        ("milliseconds", 1766599200, datetime(1970, 1, 21, 10, 43, 19, 200000, tzinfo=UTC)),
        ("seconds", -86400, datetime(1969, 12, 31, tzinfo=UTC)),
        ("seconds", 0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_an_int64_event_time_counts_its_chosen_unit(unit, value, expected):
    mapping = counted_events(unit)

    from_arrow = one(mapping, {"user_id": "u1", "at": value})
    from_rest = one(mapping, {"user_id": "u1", "at": str(value)}, wire="rest")

    if expected is None:
        assert (
            from_arrow.reason
            == from_rest.reason
            == (
                f"Timestamp in column at, {value} seconds since 1970-01-01, is outside the years "
                "1 to 9999"
            )
        )
    else:
        assert from_arrow.timestamp == from_rest.timestamp == expected


def test_an_int64_event_time_beyond_year_9999_is_rejected_not_a_failure_later():
    rejection = one(counted_events("seconds"), {"user_id": "u1", "at": 253402300800})

    assert rejection.reason == (
        "Timestamp in column at, 253402300800 seconds since 1970-01-01, is outside the years "
        "1 to 9999"
    )


# --- Property types ------------------------------------------------------------------


def test_a_property_the_workspace_keeps_as_another_type_is_cast_where_nothing_is_lost():
    # The workspace keeps a type per property name, whatever column the import reads it from.
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=(("n", "count"), ("price", "price")),
        columns=(Field("id", "STRING"), Field("n", "INT64"), Field("price", "FLOAT64")),
        property_types=(("count", "FLOAT64"), ("n", "STRING"), ("price", "NUMERIC")),
    )

    cast = one(mapping, {"id": "u1", "n": 3, "price": 0.1})
    lossy = one(mapping, {"id": "u2", "n": 2**53 + 1, "price": 0.1})
    unreadable = one(mapping, {"id": "u3", "n": "3", "price": 0.1})

    assert cast.properties == {"count": 3.0, "price": "0.1"}
    assert lossy.reason == (
        "Property count is FLOAT64 in this workspace; value 9007199254740993 cannot be stored "
        "as FLOAT64"
    )
    # A value not in its wire form is named by the source's type, the one it arrived as.
    assert unreadable.reason == "Property count is not in BigQuery's INT64 form: '3'"


def test_a_property_whose_type_cannot_be_cast_rejects_rows_with_a_value_only():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=(("plan", "plan"),),
        columns=(Field("id", "STRING"), Field("plan", "STRING")),
        property_types=(("plan", "INT64"),),
    )

    digits = one(mapping, {"id": "u1", "plan": "42"})
    words = one(mapping, {"id": "u2", "plan": "x"})
    null = one(mapping, {"id": "u3", "plan": None})

    assert digits.properties == {"plan": 42}
    assert words.reason == (
        "Property plan is INT64 in this workspace; value 'x' cannot be stored as INT64"
    )
    assert null.properties == {"plan": None}


# --- Dedupe keys ---------------------------------------------------------------------


def test_the_event_id_dedupe_key_is_pinned():
    # Stored events with an ID carry this key: changing its form would make every corrected
    # row after a deploy a second event instead of a replacement.
    digest = hashlib.sha256(b'["event_id","e-1"]').digest()

    assert event_id_dedupe_key("e-1") == uuid.UUID(bytes=digest[:16])
    assert str(event_id_dedupe_key("e-1")) == "9bed562c-3d52-8075-1516-1f292b83329b"


def test_identical_source_rows_get_the_same_dedupe_key():
    first, second = map_page(
        EVENTS, [an_event(), an_event()], wire="arrow", first_row_number=1, now=NOW
    )[0]

    assert first.dedupe_key == second.dedupe_key
    # Mapping the page again later (a replay) gives the same keys.
    replay = map_page(
        EVENTS, [an_event()], wire="arrow", first_row_number=1, now=NOW + timedelta(days=1)
    )[0]
    assert replay[0].dedupe_key == first.dedupe_key


def test_the_dedupe_key_is_pinned():
    # Changing the canonical form would make every replay after a deploy write duplicates.
    # The canonical form: [identity, name, microseconds since the epoch] followed by the
    # properties as compact JSON with sorted keys, UTF-8, hashed with SHA-256.
    canonical = '["u1","Purchased",1766599200000000]{"amount":10,"sku":"A-1"}'
    key = event_dedupe_key("u1", "Purchased", TS, {"sku": "A-1", "amount": 10})

    # Stored in 16 bytes: the digest's first 128 bits (the first 32 of its hex digits).
    assert key.hex == hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert str(key) == "f16c1bed-1ddd-4172-e38b-2bc21777a21c"
    assert one(EVENTS, an_event()).dedupe_key == key


def test_canonical_json_is_compact_sorted_utf8_and_takes_integers_beyond_64_bits():
    assert canonical_json({"b": "ü", "a": [1, 2.5, None, True]}) == (
        '{"a":[1,2.5,null,true],"b":"ü"}'
    )
    # orjson refuses integers beyond 64 bits; the standard library takes over.
    assert canonical_json({"n": 2**70, "a": 1}) == '{"a":1,"n":1180591620717411303424}'
    # ... in the same form: UTF-8 text, not escapes, so the dedupe key hashes the same text.
    assert canonical_json({"n": 2**70, "s": "ü😀"}) == '{"n":1180591620717411303424,"s":"ü😀"}'


def test_the_dedupe_key_ignores_key_order_and_time_zone_but_not_content():
    base = event_dedupe_key("u1", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 2}})
    same = event_dedupe_key(
        "u1",
        "Purchased",
        TS.astimezone(timezone(timedelta(hours=-5))),
        {"b": {"y": 2, "x": 1}, "a": 1},
    )

    assert base == same
    assert len(base.bytes) == 16  # 128 bits of SHA-256
    for different in [
        event_dedupe_key("u2", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Refunded", TS, {"a": 1, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Purchased", TS + timedelta(microseconds=1), {"a": 1}),
        event_dedupe_key("u1", "Purchased", TS, {"a": 2, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 3}}),
    ]:
        assert different != base


# --- Any row maps or is rejected -----------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(st.characters(codec=None, exclude_categories=())),
    st.binary(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


column_names = st.sampled_from(["user_id", "event", "ts", "amount", "sku", "other"])
mappings = st.sampled_from([EVENTS, FIXED_NAME_EVENTS, PROFILES, zoned_events("DATETIME")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.dictionaries(column_names, values), max_size=5),
    mapping=mappings,
    wire=st.sampled_from(["rest", "arrow"]),
)
def test_any_row_maps_or_is_rejected_and_never_raises(rows, mapping, wire):
    mapped, rejected = map_page(mapping, rows, wire=wire, first_row_number=7, now=NOW)

    assert len(mapped) + len(rejected) == len(rows)
    numbers = [r.row_number for r in rejected]
    assert numbers == sorted(set(numbers))
    assert set(numbers) <= set(range(7, 7 + len(rows)))
    for row in mapped:
        json.dumps(row.properties, allow_nan=False, ensure_ascii=False).encode("utf-8")
        assert not any("\x00" in text for text in strings_in(row.properties))
        assert 0 < len(row.identity) <= 255
        if isinstance(row, EventRow):
            assert row.timestamp.tzinfo is not None
            assert isinstance(row.dedupe_key, uuid.UUID)
    for rejection in rejected:
        assert rejection.reason
        assert len(rejection.reason) <= 255
        json.dumps(rejection.data, allow_nan=False, ensure_ascii=False).encode("utf-8")


def test_an_arrow_timestamp_is_the_instant_its_stored_text_names():
    """Arrow TIMESTAMPs in a UTC zone skip their ISO text: the event time, its zone and fold,
    and the dedupe key are what parsing the stored text gives; other zones take the text."""
    pyarrow_utc = zoneinfo.ZoneInfo("UTC")
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    times = [
        TS.replace(tzinfo=pyarrow_utc, microsecond=123_456),
        TS.replace(tzinfo=pyarrow_utc, fold=1),
        TS.replace(tzinfo=UTC),
        TS.replace(tzinfo=UTC, fold=1),
        TS.replace(tzinfo=timezone(timedelta(0))),
        TS.replace(tzinfo=None),
        datetime(1, 1, 1, tzinfo=pyarrow_utc),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=pyarrow_utc),
        datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=paris),
        TS.replace(tzinfo=timezone(timedelta(hours=-5))),
    ]
    stored_form = converter(Field("ts", "TIMESTAMP"), "arrow")
    rows = [{"user_id": "u", "event": "e", "ts": ts, "amount": 1, "sku": "a"} for ts in times]

    mapped, rejected = map_page(EVENTS, rows, wire="arrow", first_row_number=1, now=NOW)

    assert rejected == []
    for ts, row in zip(times, mapped, strict=True):
        expected = datetime.fromisoformat(stored_form(ts)).astimezone(UTC)
        assert repr(row.timestamp) == repr(expected)
        assert row.timestamp.tzinfo is expected.tzinfo
        assert row.dedupe_key == event_dedupe_key("u", "e", expected, {"amount": 1, "sku": "a"})
