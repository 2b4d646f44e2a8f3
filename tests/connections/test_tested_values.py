"""What Test Connection keeps in the session for a later Save: the newest few results, each
for one hour, under a digest of exactly the tested values (tests/connections/
test_kept_test_result.py drives the same through the pages)."""

import datetime as dt
import json

import pytest
import time_machine
from django.contrib.sessions.backends.signed_cookies import SessionStore

from connections import crypto
from connections.keyfile import parse_service_account_key
from connections.models import Connection
from connections.tested_values import (
    KEPT_FOR,
    MAX_KEPT,
    SESSION_KEY,
    recall,
    remember,
    values_digest,
)
from tests.factories import GOOGLE_TOKEN_URI, key_info
from workspaces.models import Workspace

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


KEY_INFO = key_info()


def parsed_key(**changes):
    info = {**KEY_INFO, **changes}
    return parse_service_account_key(json.dumps(info), allowed_token_uris=[GOOGLE_TOKEN_URI])


KEY = parsed_key()
WORKSPACE = Workspace(pk=1)
VALUES = {
    "workspace": WORKSPACE,
    "connection": None,
    "project_id": "acme-analytics",
    "dataset_id": "crm",
    "key": KEY,
    "billing_project_id": "",
    "scratch_dataset_id": "",
}


def result(number):
    return {"ok": True, "summary": f"run {number}", "checks": []}


def test_the_newest_five_results_are_kept():
    session = SessionStore()
    for number in range(MAX_KEPT + 1):
        with time_machine.travel(START + dt.timedelta(minutes=number), tick=False):
            remember(session, digest=f"digest-{number}", result=result(number))

    with time_machine.travel(START + dt.timedelta(minutes=10), tick=False):
        kept = [recall(session, digest=f"digest-{number}") for number in range(MAX_KEPT + 1)]

    assert MAX_KEPT == 5
    assert kept[0] is None
    assert [tested.result["summary"] for tested in kept[1:]] == [f"run {n}" for n in range(1, 6)]
    assert kept[5].tested_at == START + dt.timedelta(minutes=5)


def test_a_result_is_kept_for_exactly_an_hour():
    session = SessionStore()
    with time_machine.travel(START, tick=False):
        remember(session, digest="tested", result=result(1))

    with time_machine.travel(START + KEPT_FOR, tick=False):
        assert recall(session, digest="tested").result == result(1)
    with time_machine.travel(START + KEPT_FOR + dt.timedelta(seconds=1), tick=False):
        assert recall(session, digest="tested") is None


def test_results_past_the_hour_leave_the_session_when_another_is_kept():
    session = SessionStore()
    with time_machine.travel(START, tick=False):
        remember(session, digest="old", result=result(1))
    with time_machine.travel(START + dt.timedelta(hours=2), tick=False):
        remember(session, digest="new", result=result(2))

    assert list(session[SESSION_KEY]) == ["new"]


@pytest.mark.parametrize(
    "stored",
    [
        ["left over"],  # not the mapping this version keeps
        {"tested": None},
        {"tested": {"result": result(1)}},
        {"tested": {"result": result(1), "tested_at": "yesterday"}},
    ],
)
def test_an_unreadable_session_entry_counts_as_no_result(stored):
    session = SessionStore()
    session[SESSION_KEY] = stored

    assert recall(session, digest="tested") is None
    remember(session, digest="other", result=result(2))
    assert recall(session, digest="other").result == result(2)


@pytest.mark.parametrize(
    "change",
    [
        {"workspace": Workspace(pk=2)},
        {"connection": Connection(pk=7, encrypted_key=crypto.encrypt_key(KEY.to_json_bytes()))},
        {"project_id": "acme-other"},
        {"dataset_id": "crm_v2"},
        {"billing_project_id": "acme-billing"},
        {"scratch_dataset_id": "crm_scratch"},
        {"key": parsed_key(private_key_id="0" * 40)},  # the same account's other key
    ],
)
def test_each_tested_value_changes_the_digest(change):
    assert values_digest(**{**VALUES, **change}) != values_digest(**VALUES)


def test_the_same_values_give_the_same_digest():
    assert values_digest(**VALUES) == values_digest(**{**VALUES, "key": parsed_key()})


def test_a_connections_stored_key_is_the_same_key_as_typed():
    connection = Connection(pk=7, encrypted_key=crypto.encrypt_key(KEY.to_json_bytes()))

    stored = values_digest(**{**VALUES, "connection": connection, "key": None})

    assert stored == values_digest(**{**VALUES, "connection": connection})


def test_a_stored_key_no_fernet_key_opens_matches_only_itself():
    """Nothing typed can match it, and another unreadable key is another key."""
    connection = Connection(pk=7, encrypted_key="gAAAAA-one-unreadable-key")
    replaced = Connection(pk=7, encrypted_key="gAAAAA-another-unreadable-key")

    unreadable = values_digest(**{**VALUES, "connection": connection, "key": None})

    assert unreadable == values_digest(**{**VALUES, "connection": connection, "key": None})
    assert unreadable != values_digest(**{**VALUES, "connection": replaced, "key": None})
    assert unreadable != values_digest(**{**VALUES, "connection": connection})


def test_a_new_connection_has_no_digest_without_a_key():
    with pytest.raises(ValueError):
        values_digest(**{**VALUES, "key": None})
