"""The Create Import draft as the session keeps it: what a reload gives back, and which drafts
a session keeps when the admin opens more than it holds."""

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404, QueryDict

from imports.draft import MAX_DRAFTS, SESSION_KEY, Draft, form_data

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
    assert len(kept) == MAX_DRAFTS == 10
    assert drafts[1].id not in kept
    assert {drafts[0].id, newest.id} <= kept


def test_only_a_form_step_is_kept_as_form_data():
    draft = Draft.new(CONNECTION)

    with pytest.raises(ValueError, match="review"):
        draft.keep("review", {"name": "Users"})
    assert not hasattr(draft, "review")


def test_a_step_keeps_what_was_typed_without_the_token_and_the_button():
    post = QueryDict("csrfmiddlewaretoken=t&action=next&sync_mode=full&cursor_column=")

    assert form_data(post) == {"sync_mode": "full", "cursor_column": ""}
    assert form_data(post, ["sync_mode"]) == {"sync_mode": "full"}


def test_a_checked_source_replaces_a_duplicated_imports_copy():
    draft = Draft.new(CONNECTION)
    draft.copy_of = {**SOURCE, "data": {"table": "orders"}}
    assert draft.source_data == {"table": "orders"}
    assert draft.done() == set()  # a copy is not a checked source

    draft.set_source(SOURCE, {"table": "users"})

    assert draft.copy_of is None
    assert draft.source_data == {"table": "users"}
    assert draft.done() == {"source"}


def test_the_first_incomplete_step_is_the_first_one_before_the_asked_step():
    draft = Draft.new(CONNECTION)
    assert draft.first_incomplete("UTC", "sync") == "source"

    draft.set_source(SOURCE, {})

    assert draft.first_incomplete("UTC", "target") is None
    assert draft.first_incomplete("UTC", "sync") == "target"
    assert draft.first_incomplete("UTC", "review") == "target"
    draft.keep("target", {"target": "no such target"})  # kept, but no longer valid
    assert draft.first_incomplete("UTC", "sync") == "target"


def test_a_default_name_fits_the_name_field():
    draft = Draft.new(CONNECTION)
    draft.set_source({**SOURCE, "table": "t" * 120}, {})
    target = SimpleNamespace(cleaned_data={"target": "profiles"})

    assert draft.default_name(target) == ("t" * 120)[:100]
