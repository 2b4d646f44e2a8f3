"""Event IDs and the NULL policy in audience's writers, on the COPY path and on the ORM
fallback that SQLite runs use."""

import functools
import random
from datetime import timedelta

import pytest

from audience import writers
from audience.models import Event, Profile
from audience.rows import EventRow
from imports.mapping import MAX_IDENTITY_BYTES, MAX_IDENTITY_LENGTH, event_id_dedupe_key
from tests.audience.test_writers import T0, T1, make_run, profile


@pytest.fixture
def profile_run(workspace_a, alice):
    return make_run(workspace_a, alice, "profiles")


@pytest.fixture
def event_run(workspace_a, alice):
    return make_run(workspace_a, alice, "events")


PROFILE_WRITERS = pytest.mark.parametrize(
    "write_profiles",
    [writers.write_profiles, functools.partial(writers.write_profiles, direct=True),
     writers._write_profiles_orm],
    ids=["copy", "direct", "orm"],
)  # fmt: skip
EVENT_WRITERS = pytest.mark.parametrize(
    "write_events", [writers.write_events, writers._write_events_orm], ids=["copy", "orm"]
)


def with_id(event_id: str, identity: str = "u1", timestamp=T0, name="Purchased", **properties):
    return EventRow(
        identity=identity,
        name=name,
        timestamp=timestamp,
        properties=properties,
        dedupe_key=event_id_dedupe_key(event_id),
    )


def stored_events(workspace) -> list[tuple]:
    return sorted(
        Event.objects.filter(workspace=workspace).values_list(
            "identity", "name", "timestamp", "properties"
        ),
        key=repr,
    )


@EVENT_WRITERS
def test_identical_events_with_different_ids_are_both_kept(write_events, event_run, workspace_a):
    rows = [with_id("e1", amount=1), with_id("e2", amount=1)]

    written = write_events(
        workspace_id=workspace_a.pk, run_id=event_run.pk, rows=rows, replace=True
    )

    assert written == 2
    assert Event.objects.filter(workspace=workspace_a).count() == 2


@EVENT_WRITERS
def test_a_corrected_row_replaces_the_event_with_its_id(write_events, event_run, workspace_a):
    ws, run = workspace_a.pk, event_run.pk
    write_events(workspace_id=ws, run_id=run, rows=[with_id("e1", amount=1)], replace=True)

    corrected = with_id("e1", identity="u2", timestamp=T1, name="Refunded", amount=2)
    assert write_events(workspace_id=ws, run_id=run, rows=[corrected], replace=True) == 1
    assert write_events(workspace_id=ws, run_id=run, rows=[corrected], replace=True) == 0

    assert stored_events(workspace_a) == [("u2", "Refunded", T1, {"amount": 2})]


@EVENT_WRITERS
def test_within_a_page_the_last_row_of_an_id_wins(write_events, event_run, workspace_a):
    rows = [with_id("e1", amount=1), with_id("e2", amount=5), with_id("e1", amount=3)]

    written = write_events(
        workspace_id=workspace_a.pk, run_id=event_run.pk, rows=rows, replace=True
    )

    assert written == 2
    assert sorted(Event.objects.values_list("properties__amount", flat=True)) == [3, 5]


@EVENT_WRITERS
def test_without_replace_a_stored_key_is_never_rewritten(write_events, event_run, workspace_a):
    ws, run = workspace_a.pk, event_run.pk
    write_events(workspace_id=ws, run_id=run, rows=[with_id("e1", amount=1)])

    assert write_events(workspace_id=ws, run_id=run, rows=[with_id("e1", amount=2)]) == 0

    assert stored_events(workspace_a) == [("u1", "Purchased", T0, {"amount": 1})]


@PROFILE_WRITERS
def test_a_null_keeps_the_stored_value_by_default(write_profiles, profile_run, workspace_a):
    ws, run = workspace_a.pk, profile_run.pk
    write_profiles(workspace_id=ws, run_id=run, rows=[profile("u1", plan="pro", seats=3)])

    later = profile("u1", T0 + timedelta(hours=1), plan=None, seats=4, tags={"a": None})
    assert write_profiles(workspace_id=ws, run_id=run, rows=[later]) == 1
    # Nothing but nulls is no change at all.
    assert write_profiles(workspace_id=ws, run_id=run, rows=[profile("u1", plan=None)]) == 0

    # A null inside a JSON value is data, not a missing value.
    assert Profile.objects.get().properties == {"plan": "pro", "seats": 4, "tags": {"a": None}}


@PROFILE_WRITERS
def test_a_null_in_a_later_row_of_the_page_keeps_the_stored_value(
    write_profiles, profile_run, workspace_a
):
    ws, run = workspace_a.pk, profile_run.pk
    write_profiles(workspace_id=ws, run_id=run, rows=[profile("u2", plan="pro", seats=3)])

    page = [profile("u1", plan="free"), profile("u2", T1, plan=None, seats=4)]
    assert write_profiles(workspace_id=ws, run_id=run, rows=page) == 2

    assert Profile.objects.get(identity="u2").properties == {"plan": "pro", "seats": 4}


@PROFILE_WRITERS
def test_a_null_overwrites_the_stored_value_when_asked(write_profiles, profile_run, workspace_a):
    ws, run = workspace_a.pk, profile_run.pk
    write_profiles(workspace_id=ws, run_id=run, rows=[profile("u1", plan="pro", seats=3)])

    written = write_profiles(
        workspace_id=ws, run_id=run, rows=[profile("u1", plan=None)], null_overwrites=True
    )

    assert written == 1
    assert Profile.objects.get().properties == {"plan": None, "seats": 3}


@PROFILE_WRITERS
def test_a_new_profile_keeps_its_nulls(write_profiles, profile_run, workspace_a):
    write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", plan=None)]
    )

    assert Profile.objects.get().properties == {"plan": None}


def test_the_longest_identities_allowed_are_stored_and_indexed(profile_run, event_run, workspace_a):
    # Random characters do not compress, so the index entry is as large as it gets.
    rng = random.Random(13)
    ascii_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(1024))
    wide_id = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(MAX_IDENTITY_BYTES // 3))
    assert len(ascii_id) == MAX_IDENTITY_LENGTH
    assert len(wide_id.encode()) <= MAX_IDENTITY_BYTES
    ids = [ascii_id, wide_id]

    writers.write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile(i) for i in ids]
    )
    writers.write_events(
        workspace_id=workspace_a.pk,
        run_id=event_run.pk,
        rows=[with_id(str(n), identity=i) for n, i in enumerate(ids)],
        replace=True,
    )

    assert sorted(Profile.objects.values_list("identity", flat=True)) == sorted(ids)
    assert sorted(Event.objects.values_list("identity", flat=True)) == sorted(ids)


def test_a_1024_character_identity_is_found_by_its_whole_value(
    alice_client, profile_run, workspace_a
):
    head = "x" * 1000
    ids = [head + "a" * 24, head + "b" * 24]
    writers.write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile(i) for i in ids]
    )

    response = alice_client.get("/w/acme/audience/profiles/", {"q": ids[1]})

    assert [p.identity for p in response.context["page"].object_list] == [ids[1]]


def _profile_state(workspace, runs) -> dict[str, tuple]:
    run_index = {run.pk: n for n, run in enumerate(runs)}
    return {
        p.identity: (p.properties, p.first_seen, p.last_seen, run_index[p.updated_by_run_id])
        for p in Profile.objects.filter(workspace=workspace)
    }


def _event_state(workspace, runs) -> list[tuple]:
    run_index = {run.pk: n for n, run in enumerate(runs)}
    return sorted(
        (
            e.dedupe_key,
            e.identity,
            e.name,
            e.timestamp,
            e.properties,
            run_index[e.imported_by_run_id],
        )
        for e in Event.objects.filter(workspace=workspace)
    )


@pytest.mark.parametrize("null_overwrites", [False, True])
def test_the_orm_fallback_writes_profile_pages_as_postgresql_does(
    null_overwrites, workspace_a, workspace_b, alice
):
    # Pages larger than the fallback's 900-identity chunks, re-sending stored identities with
    # changes, nulls, unchanged values, older times and an identity twice in a page.
    pages = [
        [profile(f"u{i}", T0, plan="free", n=i) for i in range(1900)],
        [profile(f"u{i}", T1, plan="pro" if i % 3 else "free", n=None if i % 5 == 0 else i)
         for i in range(0, 2500, 2)]
        + [profile("u7", T0 - timedelta(hours=1), plan="team"), profile("u7", T1, n=70)],
    ]  # fmt: skip
    copy_runs = [make_run(workspace_a, alice, "profiles") for _ in pages]
    orm_runs = [make_run(workspace_b, alice, "profiles") for _ in pages]

    for page, copy_run, orm_run in zip(pages, copy_runs, orm_runs, strict=True):
        by_copy = writers.write_profiles(
            workspace_id=workspace_a.pk, run_id=copy_run.pk, rows=page,
            null_overwrites=null_overwrites,
        )  # fmt: skip
        by_orm = writers._write_profiles_orm(
            workspace_id=workspace_b.pk, run_id=orm_run.pk, rows=page,
            null_overwrites=null_overwrites,
        )  # fmt: skip
        assert by_orm == by_copy

    assert _profile_state(workspace_b, orm_runs) == _profile_state(workspace_a, copy_runs)


@pytest.mark.parametrize("replace", [False, True])
def test_the_orm_fallback_writes_event_pages_as_postgresql_does(
    replace, workspace_a, workspace_b, alice
):
    pages = [
        [with_id(str(i), amount=i) for i in range(1900)],
        [with_id(str(i), identity="u2" if i % 3 else "u1", amount=i % 7) for i in range(0, 2500, 2)]
        + [with_id("7", amount=1), with_id("7", name="Refunded", amount=2)],
    ]
    copy_runs = [make_run(workspace_a, alice, "events") for _ in pages]
    orm_runs = [make_run(workspace_b, alice, "events") for _ in pages]

    for page, copy_run, orm_run in zip(pages, copy_runs, orm_runs, strict=True):
        by_copy = writers.write_events(
            workspace_id=workspace_a.pk, run_id=copy_run.pk, rows=page, replace=replace
        )
        by_orm = writers._write_events_orm(
            workspace_id=workspace_b.pk, run_id=orm_run.pk, rows=page, replace=replace
        )
        assert by_orm == by_copy

    assert _event_state(workspace_b, orm_runs) == _event_state(workspace_a, copy_runs)
