"""The Create Import draft as the session keeps it: what a reload gives back, and which drafts
a session keeps when the admin opens more than it holds."""

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404, QueryDict
from django.utils import timezone

from audience.models import PropertyType
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


def test_a_duplicated_draft_loads_with_its_copy_and_its_name():
    session = SessionBase()
    draft = Draft.new(CONNECTION)
    draft.copy_of = {**SOURCE, "data": {"source_kind": "table", "table": "users"}}
    draft.name = "Copy of Users"
    draft.save(session)

    loaded = Draft.load(session, CONNECTION, draft.id)

    assert loaded.copy_of == draft.copy_of
    assert loaded.name == "Copy of Users"
    assert loaded.source_data == {"source_kind": "table", "table": "users"}


def test_a_step_posted_empty_is_checked_as_posted_not_as_kept():
    draft = Draft.new(CONNECTION)
    draft.set_source(SOURCE, {})
    draft.keep("sync", {"sync_mode": "full"})

    assert draft.form("sync", "UTC").is_valid()
    posted = draft.form("sync", "UTC", data=QueryDict())
    assert posted.data == {} and not posted.is_valid()


@pytest.mark.django_db
def test_the_review_summary_says_what_is_renamed_left_out_and_looked_back(workspace_a, workspace_b):
    kept = {"defined_by_import_name": "Old import", "first_seen_at": timezone.now()}
    PropertyType.objects.create(workspace=workspace_a, name="plan", type="JSON", **kept)
    PropertyType.objects.create(workspace=workspace_b, name="email", type="INT64", **kept)
    draft = Draft.new(CONNECTION)
    draft.set_source(SOURCE, {})
    mapping = [
        {"column": "email", "property": "email_address", "include": True},
        {"column": "plan", "property": "plan", "include": True},
        {"column": "score", "property": "score", "include": False},
    ]
    target = SimpleNamespace(
        cleaned_data={"target": "profiles", "timestamp_column": "", "column_mapping": mapping},
        columns=[SimpleNamespace(name=name, type_label="STRING") for name in ("email", "plan")],
    )
    sync = SimpleNamespace(
        cleaned_data={"sync_mode": "incremental", "cursor_type": "DATE", "lookback_seconds": 86400}
    )

    summary = draft.summary(target, sync, workspace_a)

    assert [(p["column"], p["renamed"], p["type"]) for p in summary["properties"]] == [
        ("email", True, "STRING"),
        ("plan", False, "STRING"),
    ]
    # Only this workspace's types count; a STRING can be kept as JSON (not the other way).
    assert summary["type_conflicts"] == [
        {"property": "plan", "column": "plan", "type": "STRING", "kept": "JSON",
         "defined_by": "Old import", "castable": True}
    ]  # fmt: skip
    assert summary["left_out"] == ["score"]
    assert summary["lookback_label"] == "1 day"


def test_a_copys_steps_stay_only_while_the_checked_source_has_its_columns():
    same, other = Draft.new(CONNECTION), Draft.new(CONNECTION)
    for draft in (same, other):
        draft.copy_of = {**SOURCE, "data": {"table": "users"}}
        draft.keep("target", {"target": "profiles"})
        draft.keep("sync", {"sync_mode": "full"})

    same.set_source(SOURCE, {})
    other.set_source({**SOURCE, "schema": [{"name": "id", "type": "INT64"}]}, {})

    assert (same.target, same.sync) == ({"target": "profiles"}, {"sync_mode": "full"})
    assert (other.target, other.sync) == (None, None)
