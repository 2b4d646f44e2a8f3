"""imports.mapping: event IDs, identity normalization and identity lengths."""

import dataclasses
import re

import pytest

from audience.rows import EventRow, ProfileRow
from imports.mapping import (
    Mapping,
    MappingError,
    Rejection,
    event_dedupe_key,
    event_id_dedupe_key,
)
from imports.models import Import
from imports.type_contract import Field
from tests.imports.test_mapping import EVENTS, PROFILES, TS, an_event, one

WITH_ID = dataclasses.replace(
    EVENTS,
    columns=(*EVENTS.columns, Field("event_id", "STRING"), Field("n", "INT64")),
    event_id_column="event_id",
)


def test_an_event_id_decides_the_dedupe_key():
    first = one(WITH_ID, an_event(event_id="e-1"))
    same_content_other_id = one(WITH_ID, an_event(event_id="e-2"))
    corrected = one(WITH_ID, an_event(event_id="e-1", amount=99, user_id="u9"))

    assert isinstance(first, EventRow)
    assert first.dedupe_key == corrected.dedupe_key == event_id_dedupe_key("e-1")
    assert same_content_other_id.dedupe_key != first.dedupe_key
    # Without an ID the content decides, and never collides with an ID's key.
    plain = one(EVENTS, an_event())
    assert plain.dedupe_key == event_dedupe_key("u1", "Purchased", TS, {"amount": 10, "sku": "A-1"})
    assert plain.dedupe_key != first.dedupe_key


def test_an_int64_event_id_is_its_digits():
    mapping = dataclasses.replace(WITH_ID, event_id_column="n")

    assert one(mapping, an_event(n=42)).dedupe_key == event_id_dedupe_key("42")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "Missing event ID in column event_id"),
        ("  ", "Missing event ID in column event_id"),
        ("x" * 1025, "Event ID in column event_id is longer than 1,024 characters"),
    ],
)
def test_a_row_without_a_usable_event_id_is_rejected(value, reason):
    rejection = one(WITH_ID, an_event(event_id=value))

    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason


@pytest.mark.parametrize(
    ("trim", "lower", "expected"),
    [
        (False, False, " Alice@X.com "),
        (True, False, "Alice@X.com"),
        (False, True, " alice@x.com "),
        (True, True, "alice@x.com"),
    ],
)
def test_identities_are_normalized_as_chosen(trim, lower, expected):
    profiles = dataclasses.replace(PROFILES, identity_trim=trim, identity_lowercase=lower)
    events = dataclasses.replace(EVENTS, identity_trim=trim, identity_lowercase=lower)

    profile = one(profiles, {"id": " Alice@X.com "})
    event = one(events, an_event(user_id=" Alice@X.com "))

    assert isinstance(profile, ProfileRow)
    assert profile.identity == event.identity == expected


def test_normalization_leaves_event_names_and_ids_alone():
    mapping = dataclasses.replace(WITH_ID, identity_trim=True, identity_lowercase=True)

    row = one(mapping, an_event(event=" Bought ", event_id=" E-1 "))

    assert (row.name, row.dedupe_key) == (" Bought ", event_id_dedupe_key(" E-1 "))


def test_a_trimmed_identity_is_measured_after_trimming():
    mapping = dataclasses.replace(PROFILES, identity_trim=True)

    assert isinstance(one(mapping, {"id": " " + "x" * 1024 + " "}), ProfileRow)
    assert isinstance(one(PROFILES, {"id": "x" * 1024}), ProfileRow)


def import_with(**fields) -> Import:
    base = {
        "target": "events",
        "identity_column": "user_id",
        "event_name_column": "event",
        "timestamp_column": "ts",
        "source_schema": [
            {"name": "user_id", "type": "STRING"},
            {"name": "event", "type": "STRING"},
            {"name": "ts", "type": "TIMESTAMP"},
            {"name": "score", "type": "FLOAT64"},
        ],
    }
    base.update(fields)
    return Import(**base)


def test_from_import_reads_the_new_settings():
    mapping = Mapping.from_import(
        import_with(event_id_column="user_id", identity_trim=True, identity_lowercase=True)
    )

    assert (mapping.event_id_column, mapping.identity_trim, mapping.identity_lowercase) == (
        "user_id",
        True,
        True,
    )
    profiles = Mapping.from_import(import_with(target="profiles", event_id_column="user_id"))
    assert profiles.event_id_column == ""  # profiles have no event ID


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("gone", "The source has no column gone (the event ID column) any more."),
        ("score", "The event ID column score is FLOAT64 in the source; it must be one of"),
    ],
)
def test_an_unusable_event_id_column_is_a_mapping_error(column, message):
    with pytest.raises(MappingError, match=re.escape(message)):
        Mapping.from_import(import_with(event_id_column=column))


def test_an_identity_of_exactly_2600_bytes_is_kept_and_one_byte_more_is_rejected():
    exactly = "😀" * 650  # four bytes each: 650 characters, 2,600 bytes

    kept = one(PROFILES, {"id": exactly})
    over = one(PROFILES, {"id": exactly + "x"})

    assert isinstance(kept, ProfileRow)
    assert kept.identity == exactly
    assert over.reason == "Identity in column id is longer than 2,600 bytes"


@pytest.mark.parametrize(("trim", "lower"), [(True, False), (False, True)])
def test_from_import_reads_trim_and_lowercase_each_from_its_own_setting(trim, lower):
    mapping = Mapping.from_import(import_with(identity_trim=trim, identity_lowercase=lower))

    assert (mapping.identity_trim, mapping.identity_lowercase) == (trim, lower)
