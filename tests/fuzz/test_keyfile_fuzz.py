"""The key parser under hostile input: every answer is a ServiceAccountKey or a KeyFileError
with a fixed message that repeats nothing from the upload; never another exception."""

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connections.keyfile import (
    GOOGLE_TOKEN_URIS,
    MAX_KEY_BYTES,
    KeyFileError,
    ServiceAccountKey,
    parse_service_account_key,
)
from tests.fuzz.hostile import SMALL_KEY_INFO, any_text, fuzz, hostile_text, huge_text, nested_json

MARKER = "ZQXJ-marker"  # put into uploads; no message may repeat it
VALID = SMALL_KEY_INFO


def outcome(raw):
    try:
        return parse_service_account_key(raw, allowed_token_uris=GOOGLE_TOKEN_URIS)
    except KeyFileError as exc:
        assert exc.code, exc
        assert MARKER not in exc.message
        assert "PRIVATE KEY" not in exc.message
        return exc


REQUIRED = {"type", "project_id", "private_key_id", "private_key", "client_email", "token_uri"}
OPTIONAL = {
    "client_id",
    "auth_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
}


def assert_sound(key: ServiceAccountKey) -> None:
    """What an accepted key keeps: the known fields only, as short ASCII text where optional,
    IDs in their strict shapes, and Google's token endpoint."""
    info = key.info
    assert REQUIRED <= set(info) <= REQUIRED | OPTIONAL
    assert all(isinstance(value, str) for value in info.values())
    assert info["type"] == "service_account"
    assert info["token_uri"] in GOOGLE_TOKEN_URIS
    assert re.fullmatch(
        r"[a-z0-9][a-z0-9._+-]*@[a-z0-9.:-]+\.gserviceaccount\.com", info["client_email"]
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", info["private_key_id"])
    assert re.fullmatch(r"[a-z0-9][a-z0-9.:-]{0,127}", info["project_id"])
    for name in OPTIONAL & set(info):
        assert info[name].isascii() and len(info[name]) <= 2048
    assert info.get("universe_domain", "googleapis.com") == "googleapis.com"
    assert key.to_json_bytes().isascii()


@fuzz(300)
@given(
    st.one_of(
        st.binary(max_size=2048),
        # Around the size limit, cheaply: a short chunk repeated.
        st.builds(
            lambda chunk, size: (chunk * (size // len(chunk) + 1))[:size],
            st.binary(min_size=1, max_size=16),
            st.integers(MAX_KEY_BYTES - 16, MAX_KEY_BYTES + 16),
        ),
        st.builds(lambda b: b"\xef\xbb\xbf" + b, st.binary(max_size=512)),  # a BOM, then junk
        st.builds(lambda b: b"{" + b + b"}", st.binary(max_size=512)),
    )
)
def test_random_bytes_are_refused_with_a_key_file_error(raw):
    assert isinstance(outcome(raw), KeyFileError)


@fuzz(300)
@given(st.one_of(any_text(surrogates=True), huge_text(min_size=MAX_KEY_BYTES - 4)))
def test_hostile_text_is_refused_with_a_key_file_error(text):
    assert isinstance(outcome(MARKER + text), KeyFileError)


@fuzz(100)
@given(st.integers(1, 40_000), st.sampled_from(["array", "object", "mixed"]), st.booleans())
def test_deeply_nested_json_is_refused(depth, kind, inside_a_key):
    nested = nested_json(depth, kind)
    if inside_a_key:
        # Nested in a field of an otherwise valid key: the JSON decoder meets it first.
        text = json.dumps({**VALID, "client_id": "@@"}).replace('"@@"', nested)
    else:
        text = nested
    result = outcome(text)
    if isinstance(result, ServiceAccountKey):
        # Only reachable when nested inside an optional field shallow enough to decode:
        # such a field is dropped, never stored.
        assert inside_a_key
        assert "client_id" not in result.info
        assert_sound(result)
    else:
        assert result.code in {"too_deep", "too_large", "not_object", "missing_type"}


FIELDS = sorted(VALID)


@fuzz(250)
@given(
    st.sampled_from(FIELDS),
    st.one_of(
        hostile_text(surrogates=True).map(lambda t: MARKER + t),
        huge_text(max_size=20_000).map(lambda t: MARKER + t),
        st.recursive(
            st.none() | st.booleans() | st.integers() | hostile_text(),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(hostile_text(max_size=8), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    ),
)
def test_any_field_replaced_by_hostile_content_is_refused_or_dropped(name, value):
    result = outcome(json.dumps({**VALID, name: value}))
    if isinstance(result, ServiceAccountKey):
        assert_sound(result)
        if name in OPTIONAL and not (
            isinstance(value, str) and value.isascii() and len(value) <= 2048
        ):
            assert name not in result.info  # junk in an optional field is dropped
        elif name in REQUIRED:
            assert result.info[name] == value


@fuzz(60)
@given(hostile_text(max_size=20), st.sampled_from(FIELDS))
def test_hostile_extra_and_duplicate_fields(extra, name):
    base = json.dumps(VALID)
    with_extra = base[:-1] + f", {json.dumps(MARKER + extra)}: {json.dumps(extra)}}}"
    result = outcome(with_extra)
    if isinstance(result, ServiceAccountKey):
        assert MARKER not in json.dumps(result.info)  # unknown fields are never stored
    duplicated = base[:-1] + f", {json.dumps(name)}: {json.dumps(MARKER + extra)}}}"
    assert outcome(duplicated).code == "duplicate_field"


@pytest.mark.parametrize(
    ("char", "before", "after"),
    [
        (" ", True, True),
        ("\n", True, True),
        ("\t", True, True),
        ("\ufeff", True, "invalid_json"),  # a leading BOM is tolerated, a trailing one is not
        ("\u00a0", "invalid_json", "invalid_json"),
        ("\u200b", "invalid_json", "invalid_json"),
        ("\u202e", "invalid_json", "invalid_json"),
        ("\x00", "utf16", "invalid_json"),  # a NUL up front is how UTF-16 starts
    ],
)
def test_invisible_characters_around_a_valid_key(char, before, after):
    text = json.dumps(VALID)
    for candidate, expected in ((char + text, before), (text + char, after)):
        result = outcome(candidate)
        if expected is True:
            assert isinstance(result, ServiceAccountKey)
        else:
            assert result.code == expected
