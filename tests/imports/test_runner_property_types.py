"""A workspace keeps one type per property name, set by the first import that stores it;
another import's values for that property are cast where nothing is lost and rejected
with a reason otherwise: through the real runner and audience's service."""

import threading

import pytest
from django.db import connections

from audience import services as audience_services
from audience.models import Profile, PropertyType
from imports import services
from imports.models import ImportRun
from imports.run.execute import execute_run
from tests.imports.conftest import make_import, new_table


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 2


def run_once(import_obj, user) -> ImportRun:
    run = services.import_run_now(import_obj=import_obj, actor=user)
    execute_run(str(run.pk))
    run.refresh_from_db()
    return run


def profiles_import(connection, user, table, columns, name):
    return make_import(
        connection,
        user,
        table=table,
        name=name,
        column_mapping=[{"column": c, "property": "score", "include": True} for c in columns],
    )


def test_the_first_import_defines_the_type_and_later_ones_are_cast_or_rejected(
    google, bq_connection, alice
):
    ints = new_table(
        google.stack,
        [("user_id", "STRING"), ("score", "INT64")],
        [{"user_id": "a", "score": 7}],
    )
    strings = new_table(
        google.stack,
        [("user_id", "STRING"), ("points", "STRING")],
        [
            {"user_id": "b", "points": "42"},
            {"user_id": "c", "points": "high"},
            {"user_id": "d", "points": " 5"},
            {"user_id": "e", "points": None},
        ],
    )
    first = profiles_import(bq_connection, alice, ints, ["score"], "Scores")
    second = profiles_import(bq_connection, alice, strings, ["points"], "Points as text")

    first_run = run_once(first, alice)
    second_run = run_once(second, alice)

    assert first_run.status == ImportRun.Status.SUCCEEDED
    assert second_run.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS  # uncastable rows
    kept = PropertyType.objects.get(name="score")
    assert (kept.type, kept.defined_by_import_id, kept.defined_by_import_name) == (
        "INT64",
        first.pk,
        "Scores",
    )
    assert PropertyType.objects.count() == 1  # the second import changed nothing
    assert dict(Profile.objects.values_list("identity", "properties")) == {
        "a": {"score": 7},
        "b": {"score": 42},  # "42" is exactly an INT64's text
        "e": {"score": None},
    }
    assert (second_run.rows_read, second_run.rows_written, second_run.rows_rejected) == (4, 2, 2)
    reasons = dict(second_run.rejected_rows.values_list("data__user_id", "reason"))
    assert reasons == {
        "c": "Property score is INT64 in this workspace; value 'high' cannot be stored as INT64",
        "d": "Property score is INT64 in this workspace; value ' 5' cannot be stored as INT64",
    }


def test_a_float_property_takes_exact_integers_from_an_int64_column(google, bq_connection, alice):
    floats = new_table(
        google.stack,
        [("user_id", "STRING"), ("score", "FLOAT64")],
        [{"user_id": "a", "score": 0.5}],
    )
    ints = new_table(
        google.stack,
        [("user_id", "STRING"), ("score", "INT64")],
        [{"user_id": "b", "score": 3}, {"user_id": "c", "score": 2**53 + 1}],
    )
    run_once(profiles_import(bq_connection, alice, floats, ["score"], "Floats"), alice)

    run = run_once(profiles_import(bq_connection, alice, ints, ["score"], "Ints"), alice)

    assert Profile.objects.get(identity="b").properties == {"score": 3.0}
    assert run.rejected_rows.get().reason == (
        "Property score is FLOAT64 in this workspace; value 9007199254740993 cannot be stored "
        "as FLOAT64"
    )


def test_types_are_kept_per_workspace(google, bq_connection, alice, workspace_b):
    audience_services.property_types_record(
        workspace_id=workspace_b.pk, types={"score": "STRING"}, import_id=None, import_name="B"
    )
    table = new_table(
        google.stack, [("user_id", "STRING"), ("score", "INT64")], [{"user_id": "a", "score": 1}]
    )

    run = run_once(profiles_import(bq_connection, alice, table, ["score"], "A"), alice)

    assert run.rows_rejected == 0
    assert set(PropertyType.objects.values_list("workspace__slug", "name", "type")) == {
        ("acme", "score", "INT64"),
        ("globex", "score", "STRING"),
    }


def test_first_seen_wins_between_imports_recording_at_the_same_time(transactional_db, workspace_a):
    barrier = threading.Barrier(2)
    answers = {}

    def record(type_):
        try:
            barrier.wait(timeout=30)
            answers[type_] = audience_services.property_types_record(
                workspace_id=workspace_a.pk,
                types={"plan": type_, type_.lower(): type_},
                import_id=None,
                import_name=type_,
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record, args=(t,)) for t in ("STRING", "INT64")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winner = PropertyType.objects.get(name="plan").type
    assert answers["STRING"]["plan"] == answers["INT64"]["plan"] == winner
    assert answers["STRING"]["string"] == "STRING" and answers["INT64"]["int64"] == "INT64"
    assert PropertyType.objects.count() == 3
