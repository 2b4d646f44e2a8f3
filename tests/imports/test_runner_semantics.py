"""Identity and event semantics through the real runner against the stand-ins: event IDs,
the NULL policy for profile properties, identity normalization and identity lengths."""

import pytest

from audience.models import Event, Profile
from imports import services
from imports.models import Import, ImportRun
from imports.run.execute import execute_run
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import START, make_import, new_table

EVENT_ID_SCHEMA = [
    ("event_id", "STRING"),
    ("user_id", "STRING"),
    ("event", "STRING"),
    ("ts", "TIMESTAMP"),
    ("amount", "INT64"),
]
PROFILE_SCHEMA = [("user_id", "STRING"), ("plan", "STRING"), ("seats", "INT64")]


def run_once(import_obj, user) -> ImportRun:
    run = services.import_run_now(import_obj=import_obj, actor=user)
    execute_run(str(run.pk))
    run.refresh_from_db()
    return run


def counts(run: ImportRun) -> tuple[int, int, int, int]:
    return run.rows_read, run.rows_written, run.rows_unchanged, run.rows_rejected


def purchase(event_id: str, amount: int = 10) -> dict:
    return {
        "event_id": event_id,
        "user_id": "u1",
        "event": "purchase",
        "ts": START.isoformat(),
        "amount": amount,
    }


def events_import(connection, user, table, **fields):
    return make_import(
        connection,
        user,
        table=table,
        target="events",
        column_mapping=[
            {"column": "event_id", "property": "event_id", "include": True},
            {"column": "amount", "property": "amount", "include": True},
        ],
        **fields,
    )


def test_identical_rows_with_different_event_ids_are_both_kept_and_a_correction_replaces(
    google, bq_connection, alice
):
    table = new_table(google.stack, EVENT_ID_SCHEMA, [purchase("e1"), purchase("e2")])
    import_obj = events_import(bq_connection, alice, table, event_id_column="event_id")

    first = run_once(import_obj, alice)

    assert counts(first) == (2, 2, 0, 0)
    assert Event.objects.count() == 2
    google.stack.run_sql(
        PROJECT,
        f"UPDATE `{PROJECT}.{DATASET}.{table}` SET amount = 99, event = 'refund' "  # noqa: S608
        "WHERE event_id = 'e1'",
    )

    second = run_once(import_obj, alice)

    assert counts(second) == (2, 1, 1, 0)
    stored = dict(Event.objects.values_list("properties__event_id", "name"))
    assert stored == {"e1": "refund", "e2": "purchase"}
    corrected = Event.objects.get(properties__event_id="e1")
    assert corrected.properties == {"event_id": "e1", "amount": 99}
    assert corrected.imported_by_run_id == second.pk


def test_without_an_event_id_identical_rows_collapse_into_one_event(google, bq_connection, alice):
    table = new_table(google.stack, EVENT_ID_SCHEMA, [purchase("e1"), purchase("e1")])
    import_obj = events_import(bq_connection, alice, table)

    run = run_once(import_obj, alice)

    assert counts(run) == (2, 1, 1, 0)
    assert Event.objects.count() == 1


def test_a_row_without_its_event_id_is_rejected_with_the_reason(google, bq_connection, alice):
    table = new_table(
        google.stack, EVENT_ID_SCHEMA, [purchase("e1"), {**purchase("x"), "event_id": None}]
    )
    import_obj = events_import(bq_connection, alice, table, event_id_column="event_id")

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
    assert list(run.rejected_rows.values_list("reason", flat=True)) == [
        "Missing event ID in column event_id"
    ]


@pytest.mark.parametrize(
    ("policy", "plan"),
    [(Import.NullPolicy.KEEP, "pro"), (Import.NullPolicy.OVERWRITE, None)],
)
def test_a_null_in_a_reimported_profile_follows_the_null_policy(
    google, bq_connection, alice, policy, plan
):
    table = new_table(google.stack, PROFILE_SCHEMA, [{"user_id": "u1", "plan": "pro", "seats": 3}])
    import_obj = make_import(
        bq_connection,
        alice,
        table=table,
        null_policy=policy,
        column_mapping=[
            {"column": "plan", "property": "plan", "include": True},
            {"column": "seats", "property": "seats", "include": True},
        ],
    )
    run_once(import_obj, alice)
    google.stack.run_sql(
        PROJECT,
        f"UPDATE `{PROJECT}.{DATASET}.{table}` SET plan = NULL, seats = 4 "  # noqa: S608
        "WHERE user_id = 'u1'",
    )

    run = run_once(import_obj, alice)

    assert counts(run) == (1, 1, 0, 0)
    assert Profile.objects.get().properties == {"plan": plan, "seats": 4}


def test_trimmed_and_lowercased_identities_are_one_profile_and_one_user_of_events(
    google, bq_connection, alice
):
    rows = [
        {"user_id": " Alice@X.com ", "plan": "free", "seats": 1},
        {"user_id": "alice@x.com", "plan": "pro", "seats": None},
    ]
    profiles = new_table(google.stack, PROFILE_SCHEMA, rows)
    events = new_table(
        google.stack,
        EVENT_ID_SCHEMA,
        [{**purchase("e1"), "user_id": " ALICE@x.com"}],
    )
    normalized = {"identity_trim": True, "identity_lowercase": True}
    profile_import = make_import(
        bq_connection,
        alice,
        table=profiles,
        column_mapping=[{"column": "plan", "property": "plan", "include": True}],
        **normalized,
    )
    event_import = events_import(bq_connection, alice, events, **normalized)

    run_once(profile_import, alice)
    run_once(event_import, alice)

    assert list(Profile.objects.values_list("identity", flat=True)) == ["alice@x.com"]
    assert list(Event.objects.values_list("identity", flat=True)) == ["alice@x.com"]


def test_without_normalization_the_identities_stay_apart(google, bq_connection, alice):
    rows = [{"user_id": " Alice@X.com "}, {"user_id": "alice@x.com"}]
    table = new_table(google.stack, PROFILE_SCHEMA, rows)

    run_once(make_import(bq_connection, alice, table=table, column_mapping=[]), alice)

    assert sorted(Profile.objects.values_list("identity", flat=True)) == [
        " Alice@X.com ",
        "alice@x.com",
    ]


def test_identities_up_to_1024_characters_are_imported_and_longer_ones_rejected(
    google, bq_connection, alice
):
    longest, too_long = "a" * 1024, "b" * 1025
    table = new_table(google.stack, PROFILE_SCHEMA, [{"user_id": longest}, {"user_id": too_long}])

    run = run_once(make_import(bq_connection, alice, table=table, column_mapping=[]), alice)

    assert run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
    assert list(Profile.objects.values_list("identity", flat=True)) == [longest]
    rejected = run.rejected_rows.get()
    assert rejected.reason == "Identity in column user_id is longer than 1,024 characters"
    assert rejected.data["user_id"] == too_long[: 1024 - 3] + "…"
