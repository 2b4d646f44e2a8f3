"""Create Import's calls to BigQuery on their own (imports/browse.py) against the stand-ins:
what a query check answers, and each failure in our words with its fix."""

import pytest

from connections.google_errors import RETRY_FIX, GoogleErrorKind
from imports import browse
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import USER_SCHEMA, new_table, user_rows

MISSING_FIX = (
    f"Write tables with their dataset, as in {DATASET}.my_table, and check the names "
    "(they are case-sensitive)."
)


def test_a_query_check_answers_the_bytes_the_columns_and_the_statement(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    google.stack.gate.set_table_bytes(PROJECT, DATASET, table, 5_000)

    sql = f"SELECT user_id, updated_at FROM `{PROJECT}.{DATASET}.{table}`"  # noqa: S608

    check = browse.query_check(bq_connection, sql, user=alice)

    assert check.bytes_processed == 5_000
    assert check.schema == [
        {"name": "user_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "updated_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]
    assert check.statement_type == "SELECT"


@pytest.mark.parametrize("fault", ["table_not_found", "location_mismatch"])
def test_a_query_naming_what_cannot_be_seen_is_said_with_the_fix(
    google, bq_connection, alice, fault
):
    google.stack.gate.inject(fault, match="jobs.insert")

    with pytest.raises(browse.BrowseError) as failed:
        browse.query_check(bq_connection, "SELECT 1 AS x", user=alice)

    assert failed.value.detail == (
        "The query names a table or dataset that does not exist, or that "
        f"{google.key.email} cannot see."
    )
    assert failed.value.fix == MISSING_FIX


@pytest.mark.parametrize(
    ("google_said", "detail"),
    [('Unrecognized name: nope at [3:17]', "BigQuery could not run this query (near line 3, column 17)."),
     ("Syntax error: Unexpected end of script", "BigQuery could not run this query.")],
)  # fmt: skip
def test_a_query_bigquery_cannot_run_is_said_with_only_the_position_of_googles_text(
    google, bq_connection, alice, google_said, detail
):
    google.stack.gate.inject("invalid_query", match="jobs.insert", detail=google_said)

    with pytest.raises(browse.BrowseError) as failed:
        browse.query_check(bq_connection, "SELECT 1 AS x", user=alice)

    assert failed.value.detail == detail
    assert failed.value.fix == (
        "Check the syntax in the BigQuery console, and write tables with their dataset, "
        f"as in {DATASET}.my_table."
    )
    assert failed.value.kind is GoogleErrorKind.INVALID_QUERY


def test_a_query_check_google_could_not_answer_is_to_be_tried_again(google, bq_connection, alice):
    google.stack.gate.inject("backend_error", times=None, match="jobs.insert")

    with pytest.raises(browse.BrowseError) as failed:
        browse.query_check(bq_connection, "SELECT 1 AS x", user=alice)

    assert failed.value.detail == (
        "Google did not answer in time, or answered with a temporary error."
    )
    assert failed.value.fix == RETRY_FIX


def test_a_query_check_google_rate_limited_is_to_be_tried_again(google, bq_connection, alice):
    google.stack.gate.inject("rate_limit", times=None, match="jobs.insert")

    with pytest.raises(browse.BrowseError) as failed:
        browse.query_check(bq_connection, "SELECT 1 AS x", user=alice)

    assert failed.value.kind is GoogleErrorKind.RATE_LIMITED
    assert failed.value.fix == RETRY_FIX


def test_a_quota_used_up_is_said_with_its_own_fix_not_a_retry(google, bq_connection, alice):
    google.stack.gate.inject("quota_exceeded", match="jobs.insert")

    with pytest.raises(browse.BrowseError) as failed:
        browse.query_check(bq_connection, "SELECT 1 AS x", user=alice)

    assert failed.value.detail.startswith(f"A BigQuery quota of project {PROJECT} is used up")
    assert failed.value.fix.startswith("Wait for the quota to reset")


def test_rows_that_cannot_be_listed_leave_the_tables_details_with_a_note(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 3))
    google.stack.gate.inject("backend_error", times=None, match="tabledata.list")

    shown = browse.table_preview(bq_connection, table, user=alice)

    assert shown.rows == []
    assert shown.table.loaded and shown.table.num_rows == 3
    assert [c["name"] for c in shown.table.schema] == ["user_id", "email", "plan", "updated_at"]
    assert shown.note == (
        "No preview: Google did not answer in time, or answered with a temporary error. "
        f"{RETRY_FIX}"
    )


def test_a_preview_lists_at_most_ten_rows(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 12))

    shown = browse.table_preview(bq_connection, table, user=alice)

    assert len(shown.rows) == 10 and shown.note == ""
