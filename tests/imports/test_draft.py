"""The Create Import draft as the session keeps it: what a reload gives back, and which drafts
a session keeps when the admin opens more than it holds."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404

from imports.draft import MAX_DRAFTS, SESSION_KEY, Draft

CONNECTION = uuid.uuid4()
SOURCE = {"kind": "table", "table": "users", "schema": [{"name": "id", "type": "STRING"}]}


def test_a_saved_draft_loads_as_it_was_saved():
    session = SessionBase()
    draft = Draft.new(CONNECTION)
    draft.set_source(SOURCE, {"source_kind": "table", "table": "users"})
    draft.keep("target", {"target": "profiles", "identity_column": "id"})
    draft.save(session)

    loaded = Draft.load(session, CONNECTION, draft.id)

    assert loaded == draft
    assert loaded.done() == {"source", "target"}
    assert session[SESSION_KEY][draft.id]["target"] == {
        "data": {"target": "profiles", "identity_column": "id"}
    }


def test_another_connections_draft_is_not_found_and_a_dropped_one_is_gone():
    session = SessionBase()
    draft = Draft.new(CONNECTION)
    draft.save(session)

    with pytest.raises(Http404):
        Draft.load(session, uuid.uuid4(), draft.id)
    draft.drop(session)
    assert Draft.load(session, CONNECTION, draft.id) is None


def test_another_schema_drops_the_steps_chosen_for_the_old_one():
    draft = Draft.new(CONNECTION)
    draft.set_source(SOURCE, {})
    draft.keep("target", {"target": "profiles"})
    draft.keep("sync", {"sync_mode": "full"})

    draft.set_source({**SOURCE, "table": "copy"}, {})  # same columns: the steps stay
    assert (draft.target, draft.sync) == ({"target": "profiles"}, {"sync_mode": "full"})
    draft.set_source({**SOURCE, "schema": [{"name": "id", "type": "INT64"}]}, {})
    assert (draft.target, draft.sync) == (None, None)


def test_a_session_keeps_the_most_recently_touched_drafts():
    session = SessionBase()
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tick=False) as clock:
        drafts = []
        for _ in range(MAX_DRAFTS):
            drafts.append(Draft.new(CONNECTION))
            drafts[-1].save(session)
            clock.shift(1)
        drafts[0].save(session)  # touched again: now the second is the oldest
        clock.shift(1)
        newest = Draft.new(CONNECTION)
        newest.save(session)

    kept = set(session[SESSION_KEY])
    assert len(kept) == MAX_DRAFTS
    assert drafts[1].id not in kept
    assert {drafts[0].id, newest.id} <= kept
