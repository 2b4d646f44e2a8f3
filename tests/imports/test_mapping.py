import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imports.mapping import (
    EventRow,
    Mapping,
    MappingError,
    ProfileRow,
    canonical_json,
    event_dedupe_key,
    json_safe,
    map_page,
    parse_timestamp,
)
from imports.models import Import

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TS = datetime(2025, 12, 24, 18, 0, tzinfo=UTC)

PROFILES = Mapping(
    target="profiles",
    identity_column="id",
    properties=(("plan", "plan"), ("email", "Email"), ("meta", "meta")),
)
EVENTS = Mapping(
    target="events",
    identity_column="user_id",
    event_name_column="event",
    timestamp_column="ts",
    properties=(("amount", "amount"), ("sku", "sku")),
)
FIXED_NAME_EVENTS = Mapping(
    target="events",
    identity_column="user_id",
    event_name_fixed="Purchased",
    timestamp_column="ts",
    properties=(("amount", "amount"),),
)


def one(mapping, row, *, first_row_number=1):
    mapped, rejected = map_page(mapping, [row], first_row_number=first_row_number, now=NOW)
    assert len(mapped) + len(rejected) == 1
    return mapped[0] if mapped else rejected[0]


def an_event(**overrides):
    row = {"user_id": "u1", "event": "Purchased", "ts": TS, "amount": 10, "sku": "A-1"}
    row.update(overrides)
    return row


# --- Mapping.from_import -------------------------------------------------------------


def make_import(**fields) -> Import:
    defaults = {
        "source_kind": "table",
        "source_table": "t",
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


def test_from_import_keeps_a_profile_imports_timestamp_column_as_a_property():
    mapping = Mapping.from_import(
        make_import(
            target="profiles",
            identity_column="id",
            timestamp_column="signed_up_at",
            column_mapping=[
                {"column": "id", "property": "id", "include": True},
                {"column": "signed_up_at", "property": "signed_up_at", "include": True},
            ],
        )
    )

    assert mapping.properties == (("signed_up_at", "signed_up_at"),)
    assert mapping.timestamp_column == ""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timestamp_column": ""}, "timestamp column"),
        ({"event_name_column": "", "event_name_fixed": ""}, "event name"),
        ({"identity_column": ""}, "identity column"),
        ({"event_name_column": "", "event_name_fixed": "x" * 256}, "longer than 255"),
        ({"target": "accounts"}, "Unknown import target"),
    ],
)
def test_from_import_refuses_a_definition_no_row_could_satisfy(fields, message):
    with pytest.raises(MappingError, match=message):
        Mapping.from_import(make_import(**fields))


# --- Rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "row", "reason"),
    [
        (PROFILES, {"plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": None, "plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": "  \t", "plan": "pro"}, "Missing identity in column id"),
        (PROFILES, {"id": "x" * 256}, "Identity in column id is longer than 255 characters"),
        (PROFILES, {"id": 1.5}, "Identity in column id must be text or an integer, not float"),
        (PROFILES, {"id": True}, "Identity in column id must be text or an integer, not bool"),
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
        (EVENTS, an_event(ts=" "), "Missing timestamp in column ts"),
        (EVENTS, an_event(ts="next tuesday"), "Unparsable timestamp in column ts: 'next tuesday'"),
        (EVENTS, an_event(ts="2025-13-45"), "Unparsable timestamp in column ts: '2025-13-45'"),
        (EVENTS, an_event(ts=True), "Unparsable timestamp in column ts: True"),
        (EVENTS, an_event(ts=10**18), f"Unparsable timestamp in column ts: {10**18}"),
        (EVENTS, an_event(ts=float("nan")), "Unparsable timestamp in column ts: nan"),
        (EVENTS, an_event(ts=[2025, 1, 1]), "Unparsable timestamp in column ts: [2025, 1, 1]"),
        (
            EVENTS,
            an_event(ts="x" * 100),
            "Unparsable timestamp in column ts: '" + "x" * 38 + "…",
        ),
        (
            PROFILES,
            {"id": "u1", "plan": "p" * (64 * 1024)},
            "Property plan is larger than 64 KiB",
        ),
        (
            PROFILES,
            {"id": "u1", "meta": {"tags": ["t" * 1000] * 70}},
            "Property meta is larger than 64 KiB",
        ),
        (
            PROFILES,
            {"id": "u1", "Email": "x", "email": "a\x00@b"},
            "Property Email contains a NUL character, which PostgreSQL cannot store",
        ),
        (
            PROFILES,
            {"id": "u1", "meta": {"nested": ["ok", "not\x00ok"]}},
            "Property meta contains a NUL character, which PostgreSQL cannot store",
        ),
        (
            PROFILES,
            {"id": "u1", "plan": "half a pair \ud800"},
            "Property plan contains text that is not valid Unicode",
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
    )

    rejection = one(mapping, {"id": "u1", "c0": 1})

    assert rejection.reason == "More than 255 properties"


def test_it_accepts_255_properties_and_a_property_of_exactly_64_kib():
    mapping = Mapping(
        target="profiles",
        identity_column="id",
        properties=tuple((f"c{i}", f"p{i}") for i in range(255)),
    )
    exactly_64_kib = "é" * ((64 * 1024 - 2) // 2)  # two quotes, two bytes per character

    profile = one(
        mapping, {"id": "u1", "c0": exactly_64_kib, **{f"c{i}": i for i in range(1, 255)}}
    )

    assert isinstance(profile, ProfileRow)
    assert len(profile.properties) == 255


def test_reasons_fit_the_rejected_row_column_even_for_long_column_names():
    mapping = Mapping(target="profiles", identity_column="c" * 300)

    rejection = one(mapping, {})

    assert len(rejection.reason) <= 255
    assert rejection.reason.startswith("Missing identity in column ccc")


def test_rejections_are_numbered_from_the_first_row_number_of_the_page():
    rows = [{"id": "a"}, {"id": None}, {"id": "b"}, {}, {"id": ""}]

    mapped, rejected = map_page(PROFILES, rows, first_row_number=1001, now=NOW)

    assert [p.identity for p in mapped] == ["a", "b"]
    assert [r.row_number for r in rejected] == [1002, 1004, 1005]


def test_rejected_data_is_json_safe_and_each_value_is_cut_to_1_kib():
    row = {
        "id": None,
        "plan": "p" * (64 * 1024),
        "meta": {"tags": ["t" * 100] * 50},
        "blob": b"\x00\x01" * 2000,
        "when": TS,
        "price": Decimal("19.99"),
        "nul": "a\x00b",
        "short": "ok",
    }

    rejection = one(PROFILES, row)

    text = json.dumps(rejection.data, allow_nan=False)
    assert "\\u0000" not in text
    for value in rejection.data.values():
        if isinstance(value, str):
            assert len(value.encode()) <= 1024
        else:
            assert len(json.dumps(value, ensure_ascii=False).encode()) <= 1024
    assert rejection.data["plan"].endswith("…")
    assert isinstance(rejection.data["meta"], str)  # the cut JSON text of the struct
    assert rejection.data["when"] == "2025-12-24T18:00:00+00:00"
    assert rejection.data["nul"] == "a\ufffdb"
    assert rejection.data["short"] == "ok"


# --- Conversions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (42, 42),
        (2**70, 2**70),
        (1.25, 1.25),
        (True, True),
        (None, None),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (Decimal("1.5"), 1.5),
        (Decimal("19.99"), 19.99),
        (Decimal("20.00"), 20.0),
        (Decimal("0.12345678901234567890123"), "0.12345678901234567890123"),
        (Decimal("123456789012345678901234567890"), "123456789012345678901234567890"),
        (Decimal("NaN"), "NaN"),
        (datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC), "2025-01-02T03:04:05.600000+00:00"),
        (
            datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-02T01:04:05+00:00",
        ),
        (datetime(2025, 1, 2, 3, 4, 5), "2025-01-02T03:04:05"),  # noqa: DTZ001 - a DATETIME
        (date(2025, 1, 2), "2025-01-02"),
        (time(13, 45, 1), "13:45:01"),
        (b"\x00\xffhi", "AP9oaQ=="),
        (
            [date(2025, 1, 2), {"at": time(1, 2), "raw": b"a"}],
            ["2025-01-02", {"at": "01:02:00", "raw": "YQ=="}],
        ),
        ({"k": [Decimal("0.5"), None, {"deep": [1, "x"]}]}, {"k": [0.5, None, {"deep": [1, "x"]}]}),
        ((1, 2), [1, 2]),
        (timedelta(seconds=90), "0:01:30"),
    ],
)
def test_it_converts_values_to_json(value, expected):
    assert json_safe(value) == expected
    profile = one(PROFILES, {"id": "u1", "plan": value})
    assert profile.properties == {"plan": expected}
    json.dumps(profile.properties, allow_nan=False)


def test_profile_properties_use_the_property_names_and_seen_at_is_now():
    profile = one(PROFILES, {"id": 42, "plan": "pro", "email": None, "meta": {"a": 1}})

    assert profile == ProfileRow(
        identity="42",
        properties={"plan": "pro", "Email": None, "meta": {"a": 1}},
        seen_at=NOW,
    )


def test_a_column_absent_from_the_row_is_left_out_but_null_is_kept():
    profile = one(PROFILES, {"id": "u1", "email": None})

    assert profile.properties == {"Email": None}


def test_an_integral_decimal_identity_is_text():
    assert one(PROFILES, {"id": Decimal("12345678901234567890")}).identity == (
        "12345678901234567890"
    )


def test_an_event_takes_its_name_from_the_column_or_the_fixed_name():
    from_column = one(EVENTS, an_event(event="Signed up"))
    fixed = one(FIXED_NAME_EVENTS, an_event(event="ignored"))

    assert isinstance(from_column, EventRow)
    assert from_column.name == "Signed up"
    assert from_column.properties == {"amount": 10, "sku": "A-1"}
    assert fixed.name == "Purchased"
    assert fixed.properties == {"amount": 10}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 12, 24, 18, 0, tzinfo=UTC), TS),
        (datetime(2025, 12, 24, 19, 0, tzinfo=timezone(timedelta(hours=1))), TS),
        (datetime(2025, 12, 24, 18, 0), TS),  # noqa: DTZ001 - a naive DATETIME is UTC
        (date(2025, 12, 24), datetime(2025, 12, 24, tzinfo=UTC)),
        ("2025-12-24T18:00:00Z", TS),
        ("2025-12-24T18:00:00+00:00", TS),
        ("2025-12-24T20:00:00+02:00", TS),
        ("2025-12-24 18:00:00", TS),
        ("2025-12-24 18:00:00 UTC", TS),
        (" 2025-12-24T18:00:00.250Z ", TS.replace(microsecond=250000)),
        ("2025-12-24", datetime(2025, 12, 24, tzinfo=UTC)),
        (1766599200, TS),
        ("1766599200", TS),
        (1766599200.5, TS.replace(microsecond=500000)),
        (1766599200123, TS.replace(microsecond=123000)),
        (1766599200123456, TS.replace(microsecond=123456)),
        (Decimal("1766599200"), TS),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (-86400, datetime(1969, 12, 31, tzinfo=UTC)),
    ],
)
def test_it_parses_timestamps_to_aware_utc(value, expected):
    assert parse_timestamp(value) == expected
    event = one(EVENTS, an_event(ts=value))
    assert event.timestamp == expected
    assert event.timestamp.tzinfo is UTC


# --- Dedupe keys ---------------------------------------------------------------------


def test_identical_source_rows_get_the_same_dedupe_key():
    first, second = map_page(EVENTS, [an_event(), an_event()], first_row_number=1, now=NOW)[0]

    assert first.dedupe_key == second.dedupe_key
    # Mapping the page again later (a replay) gives the same keys.
    replay = map_page(EVENTS, [an_event()], first_row_number=1, now=NOW + timedelta(days=1))[0]
    assert replay[0].dedupe_key == first.dedupe_key


def test_the_dedupe_key_is_pinned():
    # Changing the canonical form would make every replay after a deploy write duplicates.
    # The canonical form: [identity, name, microseconds since the epoch] followed by the
    # properties as compact JSON with sorted keys, UTF-8, hashed with SHA-256.
    canonical = '["u1","Purchased",1766599200000000]{"amount":10,"sku":"A-1"}'
    key = event_dedupe_key("u1", "Purchased", TS, {"sku": "A-1", "amount": 10})

    assert key == hashlib.sha256(canonical.encode()).hexdigest()
    assert key == "f16c1bed1ddd4172e38b2bc21777a21cd82b2a3aa1e5debc172e518bdb1fe59b"


def test_canonical_json_is_compact_sorted_utf8_and_takes_integers_beyond_64_bits():
    assert canonical_json({"b": "ü", "a": [1, 2.5, None, True]}) == (
        '{"a":[1,2.5,null,true],"b":"ü"}'
    )
    # orjson refuses integers beyond 64 bits; the standard library takes over.
    assert canonical_json({"n": 2**70, "a": 1}) == '{"a":1,"n":1180591620717411303424}'


def test_the_dedupe_key_ignores_key_order_and_time_zone_but_not_content():
    base = event_dedupe_key("u1", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 2}})
    same = event_dedupe_key(
        "u1",
        "Purchased",
        TS.astimezone(timezone(timedelta(hours=-5))),
        {"b": {"y": 2, "x": 1}, "a": 1},
    )

    assert base == same
    assert len(base) == 64
    assert int(base, 16) >= 0
    for different in [
        event_dedupe_key("u2", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Refunded", TS, {"a": 1, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Purchased", TS + timedelta(microseconds=1), {"a": 1}),
        event_dedupe_key("u1", "Purchased", TS, {"a": 2, "b": {"x": 1, "y": 2}}),
        event_dedupe_key("u1", "Purchased", TS, {"a": 1, "b": {"x": 1, "y": 3}}),
    ]:
        assert different != base


def test_a_timestamp_in_another_form_for_the_same_instant_gives_the_same_key():
    as_datetime = one(EVENTS, an_event(ts=TS))
    as_text = one(EVENTS, an_event(ts="2025-12-24T18:00:00Z"))
    as_epoch_ms = one(EVENTS, an_event(ts=1766599200000))

    assert as_datetime.dedupe_key == as_text.dedupe_key == as_epoch_ms.dedupe_key


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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.dictionaries(column_names, values), max_size=5),
    mapping=st.sampled_from([EVENTS, FIXED_NAME_EVENTS, PROFILES]),
)
def test_any_row_maps_or_is_rejected_and_never_raises(rows, mapping):
    mapped, rejected = map_page(mapping, rows, first_row_number=7, now=NOW)

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
            assert len(row.dedupe_key) == 64
    for rejection in rejected:
        assert rejection.reason
        assert len(rejection.reason) <= 255
        json.dumps(rejection.data, allow_nan=False, ensure_ascii=False).encode("utf-8")
