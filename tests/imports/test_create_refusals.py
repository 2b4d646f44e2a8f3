"""Create Import refuses bad input with a message per field, and changes nothing."""

import datetime as dt
import tracemalloc
from urllib.parse import unquote

import pytest
import time_machine
from django.core.exceptions import ValidationError

from common.ratelimit import SlidingWindow
from imports import browse, forms
from imports.forms import ScheduleForm
from imports.models import Import
from imports.sql import validate_select_query
from standins.emulator import EmulatorError
from tests.fixtures.connections import make_connection
from tests.fixtures.standin_world import PROJECT
from tests.imports.test_create_flow import (
    HTMX,
    draft_of,
    form_errors,
    mapping_data,
    new_url,
    post_source,
    step_url,
)

NO_COLUMNS = "create_import_no_columns"
ONLY_SELECT = "Only a single SELECT query (or WITH … SELECT) can be imported."


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM crm.users WHERE TRUE", f"DELETE changes data. {ONLY_SELECT}"),
        ("insert into crm.users (user_id) values ('x')", f"INSERT changes data. {ONLY_SELECT}"),
        ("UPDATE crm.users SET plan = 'x' WHERE TRUE", f"UPDATE changes data. {ONLY_SELECT}"),
        ("MERGE crm.users u USING crm.x s ON FALSE WHEN MATCHED THEN DELETE",
         f"MERGE changes data. {ONLY_SELECT}"),
        ("CREATE TABLE crm.copy AS SELECT * FROM crm.users",
         f"CREATE statements change the dataset or its access. {ONLY_SELECT}"),
        ("/* tidy up */ DROP TABLE crm.users",
         f"DROP statements change the dataset or its access. {ONLY_SELECT}"),
        ("SELECT 1; DROP TABLE x",
         f"The query has more than one statement: nothing may follow “;”. {ONLY_SELECT}"),
        ("SELECT 1; SELECT 2",
         f"The query has more than one statement: nothing may follow “;”. {ONLY_SELECT}"),
        ("DECLARE n INT64 DEFAULT 1; SELECT n",
         f"DECLARE starts a script, and scripts are not allowed. {ONLY_SELECT}"),
        ("BEGIN SELECT 1; END",
         f"BEGIN starts a script, and scripts are not allowed. {ONLY_SELECT}"),
        ("EXPORT DATA OPTIONS(uri='gs://b/*.csv', format='CSV') AS SELECT 1",
         f"EXPORT statements change the dataset or its access. {ONLY_SELECT}"),
        ("#legacySQL\nSELECT * FROM [crm.users]",
         "Legacy SQL is not supported: write the query in GoogleSQL (standard SQL)."),
        ("SELECT 'unclosed", "The query has a string that is never closed."),
        ("SELECT 1 /* never closed", "The query has a /* comment that is never closed."),
        ("  -- only a comment\n", "Enter a SELECT query."),
        ("VALUES (1)", f"The query must start with SELECT or WITH. {ONLY_SELECT}"),
    ],
)  # fmt: skip
def test_only_a_single_select_query_is_accepted(alice_client, connection, google, sql, message):
    google.stack.gate.clear_requests()
    for action in ("check", "next"):
        response = alice_client.post(
            new_url(connection), {"source_kind": "query", "query": sql, "action": action}
        )
        assert form_errors(response) == {"query": [message]}
    fragment = alice_client.post(f"{new_url(connection)}check-query/", {"query": sql}, headers=HTMX)
    assert fragment.context["check_error"] == message
    # Refused before any query reaches Google, and nothing saved.
    assert "jobs.insert" not in google.stack.gate.operations()
    assert not Import.objects.exists()
    assert "import_drafts" not in alice_client.session


@pytest.mark.parametrize(
    ("sql", "stored"),
    [
        ("SELECT ';' AS s, \"--\" AS d, `a;b` FROM (SELECT 1 AS `a;b`)",
         "SELECT ';' AS s, \"--\" AS d, `a;b` FROM (SELECT 1 AS `a;b`)"),
        ("WITH t AS (SELECT 1 AS x) SELECT x FROM t;\n", "WITH t AS (SELECT 1 AS x) SELECT x FROM t"),
        ("(SELECT 1 AS x) UNION ALL (SELECT 2)", "(SELECT 1 AS x) UNION ALL (SELECT 2)"),
        ("select '''it's; fine''' as x -- done", "select '''it's; fine''' as x"),
        ("#standardSQL\nSELECT 1 AS x /* one */ ;;", "#standardSQL\nSELECT 1 AS x"),
        ("SELECT 'a\\'; b' AS x", "SELECT 'a\\'; b' AS x"),
    ],
)  # fmt: skip
def test_selects_with_tricky_text_are_accepted_and_trimmed(sql, stored):
    # Trimmed after the last token: the runner wraps the query in SELECT * FROM (...).
    assert validate_select_query(sql) == stored


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("TRUNCATE TABLE crm.users", f"TRUNCATE changes data. {ONLY_SELECT}"),
        ("LOAD DATA INTO crm.users FROM FILES (format = 'CSV', uris = ['gs://b/x.csv'])",
         f"LOAD statements change the dataset or its access. {ONLY_SELECT}"),
        ("SET x = 1", f"SET starts a script, and scripts are not allowed. {ONLY_SELECT}"),
        ("CALL crm.tidy_up()", f"CALL starts a script, and scripts are not allowed. {ONLY_SELECT}"),
        (";", "Enter a SELECT query."),
        ("", "Enter a SELECT query."),
        # Leading blanks do not hide the legacy SQL marker (BigQuery honours it there too).
        ("\n  #legacySQL\nSELECT * FROM [crm.users]",
         "Legacy SQL is not supported: write the query in GoogleSQL (standard SQL)."),
        ("SELECT `user_id FROM crm.users", "The query has a quoted identifier that is never closed."),
        # Only triple-quoted strings span lines, and a lone \r ends a line as \n does.
        ("SELECT 'a\r; DROP TABLE crm.users; '",
         "The query has a string that is never closed."),
        # GoogleSQL has no triple-quoted identifiers: ``` is `` and then an open `.
        ("SELECT ```\n; DROP TABLE crm.users; ```",
         "The query has a quoted identifier that is never closed."),
        # A ")" closing nothing would close the runner's wrapper, even if a "(" follows.
        ("SELECT 1) UNION ALL (SELECT 2",
         "The query's parentheses do not pair up: each “(” needs a matching “)”."),
        ("SELECT (1", "The query's parentheses do not pair up: each “(” needs a matching “)”."),
    ],
)  # fmt: skip
def test_a_query_that_is_not_one_select_is_refused_with_the_reason(sql, message):
    with pytest.raises(ValidationError) as refused:
        validate_select_query(sql)

    assert refused.value.messages == [message]


def test_a_query_at_the_length_limit_is_accepted():
    sql = "SELECT 1 AS x" + " " * (100_000 - 13 - 5) + "-- ok"
    assert len(sql) == 100_000

    assert validate_select_query(sql) == "SELECT 1 AS x"
    with pytest.raises(ValidationError, match="at most 100000 characters"):
        validate_select_query(sql + " ")


def test_a_block_comment_needs_its_own_closing_mark():
    # "/*/" opens a comment; its "/" and "*" are not the "*/" that closes it.
    assert validate_select_query("SELECT 1 AS x /*/ note */") == "SELECT 1 AS x"


def test_a_query_bigquery_cannot_run_gets_our_words_not_googles(alice_client, connection, google):
    response = alice_client.post(
        new_url(connection),
        {
            "source_kind": "query",
            "query": "SELECT nope FROM create_import_flow.create_customers",
            "action": "check",
        },
    )
    (message,) = form_errors(response)["query"]
    assert message.startswith("BigQuery could not run this query")
    assert "Unrecognized name" not in message and "nope" not in message

    missing = alice_client.post(
        new_url(connection),
        {"source_kind": "query", "query": "SELECT * FROM no_such.table_x", "action": "next"},
    )
    (message,) = form_errors(missing)["query"]
    assert message.startswith("The query names a table or dataset that does not exist")
    assert "Not found" not in message
    assert "import_drafts" not in alice_client.session


def test_a_table_that_does_not_exist(alice_client, connection, google):
    response = post_source(alice_client, connection, source_kind="table", table="no_such_table")
    assert form_errors(response) == {
        "table": [
            "Table “no_such_table” was not found in dataset create_import_flow. Choose a table from the list; "
            "it may have been deleted or renamed."
        ]
    }
    preview = alice_client.get(
        f"{new_url(connection)}preview/", {"table": "no_such_table"}, headers=HTMX
    )
    assert (
        "Table “no_such_table” was not found in dataset create_import_flow."
        in preview.content.decode()
    )
    # The source page shows the same, and the table search does not carry the name on.
    page = alice_client.get(new_url(connection), {"table": "no_such_table"})
    assert page.context["chosen"] == ""
    assert 'name="table" form="table-search"' not in page.content.decode()
    assert not Import.objects.exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "Choose a table."),
        ("users; DROP TABLE x", "Table name may contain only letters, marks, digits, spaces, "
         "underscores and hyphens."),
        ("a/../../b", "Table name may contain only letters, marks, digits, spaces, underscores "
         "and hyphens."),
    ],
)  # fmt: skip
def test_a_malformed_table_name_is_refused_before_any_call(
    alice_client, connection, google, table, message
):
    google.stack.gate.clear_requests()
    response = post_source(alice_client, connection, source_kind="table", table=table)
    assert form_errors(response)["table"] == [message]
    # The page lists the dataset's tables again, but the bad name never went to Google.
    asked = [unquote(r.path) for r in google.stack.gate.requests if r.operation == "tables.get"]
    assert not [path for path in asked if table and path.endswith(f"/tables/{table}")]


def test_a_malformed_table_name_is_not_previewed(alice_client, connection, google):
    google.stack.gate.clear_requests()

    fragment = alice_client.get(
        f"{new_url(connection)}preview/", {"table": "a/../../b"}, headers=HTMX
    )

    assert (
        '<div class="form-error" role="alert" id="preview-error">\n  <p>Table name may contain '
        "only letters, marks, digits, spaces, underscores and hyphens.</p>"
    ) in fragment.content.decode()
    assert google.stack.gate.requests == []


def test_a_query_naming_a_missing_table_is_refused_with_the_fix(alice_client, connection, google):
    missing = alice_client.post(
        new_url(connection),
        {"source_kind": "query", "query": "SELECT * FROM no_such.table_x", "action": "check"},
    )

    assert form_errors(missing) == {
        "query": [
            "The query names a table or dataset that does not exist, or that "
            f"{google.key.email} cannot see. Write tables with their dataset, as in "
            "create_import_flow.my_table, and check the names (they are case-sensitive)."
        ]
    }


def test_check_query_with_a_table_chosen_checks_nothing_and_keeps_nothing(
    alice_client, connection, customers_table, google
):
    google.stack.gate.clear_requests()

    response = alice_client.post(
        new_url(connection),
        {"source_kind": "table", "table": customers_table, "action": "check"},
    )

    assert form_errors(response) == {}
    assert "jobs.insert" not in google.stack.gate.operations()
    assert "import_drafts" not in alice_client.session


def test_a_refused_table_name_is_said_once_and_not_previewed(alice_client, connection, google):
    response = post_source(alice_client, connection, source_kind="table", table="a/../../b")

    html = response.content.decode()
    assert form_errors(response)["table"] == [
        "Table name may contain only letters, marks, digits, spaces, underscores and hyphens."
    ]
    assert 'id="preview-error"' not in html


def test_a_query_being_written_shows_no_table_preview(
    alice_client, connection, customers_table, google
):
    response = post_source(
        alice_client, connection, source_kind="query", table=customers_table, query="VALUES (1)"
    )

    assert "query" in form_errors(response)
    assert f"Chosen: {customers_table}" not in response.content.decode()


def test_the_source_step_starts_on_a_table(alice_client, connection):
    page = alice_client.get(new_url(connection))

    assert page.context["form"]["source_kind"].value() == "table"


def test_a_table_without_columns_is_refused(alice_client, alice, workspace_a, google):
    try:
        google.stack.create_dataset(PROJECT, NO_COLUMNS, location="EU")
        google.stack.create_table(PROJECT, NO_COLUMNS, "bare", [], [])
    except EmulatorError as error:
        if "409" not in str(error):
            raise
    google.stack.grant(
        google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=NO_COLUMNS
    )
    connection = make_connection(
        workspace_a, alice, name="Bare", info=google.key.info, project_id=PROJECT,
        dataset_id=NO_COLUMNS,
    )  # fmt: skip

    response = post_source(alice_client, connection, source_kind="table", table="bare")

    assert form_errors(response)["table"] == ["Table “bare” has no columns."]
    assert "import_drafts" not in alice_client.session


@pytest.fixture
def draft(alice_client, connection, customers_table, google):
    return draft_of(
        post_source(alice_client, connection, source_kind="table", table=customers_table)
    )


def post_target(client, connection, draft, **fields):
    data = {"target": "profiles", "identity_column": "user_id", **mapping_data({})}
    data.update(fields)
    return client.post(step_url(connection, draft, "target"), data)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("score", "The identity column must be a STRING or INT64 column; “score” is FLOAT64."),
        ("updated_at",
         "The identity column must be a STRING or INT64 column; “updated_at” is TIMESTAMP."),
        ("tags", "The identity column must be a STRING or INT64 column; “tags” is ARRAY<STRING>."),
        ("nope", "Column “nope” is not in the source."),
        ("", "Choose the identity column."),
    ],
)  # fmt: skip
def test_identity_of_the_wrong_type(alice_client, connection, draft, column, message):
    response = post_target(alice_client, connection, draft, identity_column=column)
    assert form_errors(response) == {"identity_column": [message]}
    assert "target" not in alice_client.session["import_drafts"][draft]


def test_identity_select_offers_only_string_and_int64_columns(alice_client, connection, draft):
    form = alice_client.get(step_url(connection, draft, "target")).context["form"]
    offered = [value for value, _ in form.fields["identity_column"].widget.choices if value]
    assert offered == ["user_id", "email", "plan", "visits"]
    stamps = [value for value, _ in form.fields["timestamp_column"].widget.choices if value]
    assert stamps == ["visits", "updated_at", "signup_day"]


def test_events_need_a_timestamp_of_a_time_type_and_an_event_name(alice_client, connection, draft):
    response = post_target(
        alice_client,
        connection,
        draft,
        target="events",
        event_name_source="column",
        event_name_column="visits",
        timestamp_column="email",
    )
    assert form_errors(response) == {
        "event_name_column": ["The event name column must be a STRING column; “visits” is INT64."],
        "timestamp_column": [
            "The timestamp column must be a TIMESTAMP, DATETIME, DATE or INT64 (epoch) column; "
            "“email” is STRING."
        ],
    }
    fixed = post_target(
        alice_client,
        connection,
        draft,
        target="events",
        event_name_source="fixed",
        event_name_fixed="  ",
        timestamp_column="updated_at",
    )
    assert form_errors(fixed) == {"event_name_fixed": ["Enter the event name."]}
    long = post_target(
        alice_client,
        connection,
        draft,
        target="events",
        event_name_source="fixed",
        event_name_fixed="x" * 256,
        timestamp_column="updated_at",
    )
    assert form_errors(long) == {
        "event_name_fixed": ["The event name must be at most 255 characters (it has 256)."]
    }


def test_property_names_must_be_unique_non_empty_and_short(alice_client, connection, draft):
    response = post_target(
        alice_client,
        connection,
        draft,
        **{
            **mapping_data({"email": "contact", "plan": "Contact", "visits": "v" * 256}),
            "property_3": "  ",
        },
    )
    assert form_errors(response) == {
        "property_2": [
            "Property name “Contact” is already used for column email; each property needs its "
            "own name."
        ],
        "property_3": ["Enter a property name for column score, or leave the column out."],
        "property_4": ["Property name must be at most 255 characters (it has 256)."],
    }
    html = response.content.decode()
    assert 'id="error-property_2"' in html
    assert "target" not in alice_client.session["import_drafts"][draft]

    # A column left out may keep any name; the identity column is not a property.
    fine = post_target(
        alice_client,
        connection,
        draft,
        **mapping_data({"email": "contact", "plan": None, "user_id": "contact"}),
    )
    assert fine.status_code == 302


def test_cursor_column_of_the_wrong_type(alice_client, connection, draft):
    post_target(alice_client, connection, draft)
    url = step_url(connection, draft, "sync")
    for column, message in (
        (
            "email",
            "The cursor column must be a TIMESTAMP, DATETIME, DATE or INT64 column; "
            "“email” is STRING.",
        ),
        (
            "score",
            "The cursor column must be a TIMESTAMP, DATETIME, DATE or INT64 column; "
            "“score” is FLOAT64.",
        ),
        ("", "Choose the cursor column for an incremental import."),
        ("gone", "Column “gone” is not in the source."),
    ):
        response = alice_client.post(url, {"sync_mode": "incremental", "cursor_column": column})
        assert form_errors(response) == {"cursor_column": [message]}
    assert "sync" not in alice_client.session["import_drafts"][draft]
    # Full ignores a cursor column.
    assert (
        alice_client.post(url, {"sync_mode": "full", "cursor_column": "email"}).status_code == 302
    )


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"schedule_kind": "cron", "schedule_cron": "61 * * * *"},
         {"schedule_cron": ["Cron expression is not valid: minute field '61' (allowed 0-59)."]}),
        ({"schedule_kind": "cron", "schedule_cron": "0 9 * *"},
         {"schedule_cron": ["Cron expression must have 5 fields (minute hour day month weekday), "
                            "e.g. 0 9 * * 1-5."]}),
        ({"schedule_kind": "cron", "schedule_cron": "* * * * *"},
         {"schedule_cron": ["Cron expression may run at most every 5 minutes."]}),
        ({"schedule_kind": "cron", "schedule_cron": "0 0 31 2 *"},
         {"schedule_cron": ["Cron expression never runs: no date matches its day, month and "
                            "weekday."]}),
        ({"schedule_kind": "cron", "schedule_cron": ""},
         {"schedule_cron": ["Cron expression is required."]}),
        ({"schedule_kind": "daily", "schedule_time": ""},
         {"schedule_time": ["Time is required for a daily schedule."]}),
        ({"schedule_kind": "daily", "schedule_time": "25:00"},
         {"schedule_time": ["Enter a time such as 09:30."]}),
        ({"schedule_kind": "weekly", "schedule_time": "09:00"},
         {"schedule_weekday": ["Choose the day of a weekly schedule."]}),
        ({"schedule_kind": "weekly", "schedule_time": "09:00", "schedule_weekday": "7"},
         {"schedule_weekday": ["Choose a day of the week."]}),
        ({"schedule_kind": "once", "schedule_at": ""},
         {"schedule_at": ["Run at needs a date and a time."]}),
        ({"schedule_kind": "once", "schedule_at": "2020-01-01T09:00"},
         {"schedule_at": ["Run at must be in the future."]}),
        ({"schedule_kind": "once", "schedule_at": "tomorrow"},
         {"schedule_at": ["Enter a date and time such as 2025-06-30 09:00."]}),
        ({"schedule_kind": "hourly", "schedule_minute": "60"},
         {"schedule_minute": ["Minute must be from 0 to 59."]}),
        ({"schedule_kind": "fortnightly"},
         {"schedule_kind": ["Choose when the import runs."]}),
    ],
)  # fmt: skip
def test_bad_schedules(alice_client, connection, draft, data, errors):
    post_target(alice_client, connection, draft)
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})
    response = alice_client.post(
        step_url(connection, draft, "schedule"), {"action": "next", **data}
    )
    assert form_errors(response) == errors
    assert "schedule" not in alice_client.session["import_drafts"][draft]


def test_fields_of_other_schedule_kinds_are_ignored(alice_client, connection, draft):
    post_target(alice_client, connection, draft)
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})
    response = alice_client.post(
        step_url(connection, draft, "schedule"),
        {
            "action": "next",
            "schedule_kind": "daily",
            "schedule_time": "10:00",
            "schedule_cron": "nonsense",
            "schedule_at": "garbage",
            "schedule_minute": "99",
        },
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Import name is required."), ("x" * 101, "Import name must be at most 100 characters.")],
)
def test_the_import_name_is_checked_at_save(alice_client, connection, draft, name, message):
    post_target(alice_client, connection, draft)
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})
    alice_client.post(
        step_url(connection, draft, "schedule"), {"action": "next", "schedule_kind": "now"}
    )
    response = alice_client.post(step_url(connection, draft, "review"), {"name": name})
    assert response.status_code == 200
    assert dict(response.context["review"].errors) == {"name": [message]}
    assert not Import.objects.exists()


def test_calls_to_bigquery_are_limited_per_user(
    alice_client, connection, customers_table, google, monkeypatch
):
    # The limit is 30 a minute; three keep the test short. A name of its own: no counts shared.
    monkeypatch.setattr(browse, "GOOGLE_CALLS", SlidingWindow("browse-test", limit=3, seconds=60))
    preview_url = f"{new_url(connection)}preview/"
    for _ in range(3):
        preview = alice_client.get(preview_url, {"table": customers_table}, headers=HTMX)
        assert "times in a minute" not in preview.content.decode()
    google.stack.gate.clear_requests()

    preview = alice_client.get(preview_url, {"table": customers_table}, headers=HTMX)
    check = alice_client.post(
        f"{new_url(connection)}check-query/", {"query": "SELECT 1 AS x"}, headers=HTMX
    )
    source = post_source(alice_client, connection, source_kind="table", table=customers_table)

    limited = (
        "You asked BigQuery for table lists, previews or query checks more than 3 times in a "
        "minute."
    )
    assert limited in preview.content.decode()
    assert check.context["check_error"].startswith(limited)
    assert form_errors(source)["table"][0].startswith(limited)
    assert google.stack.gate.operations() == []  # nothing reached Google
    assert "import_drafts" not in alice_client.session


def test_a_huge_query_is_refused_by_its_length_before_it_is_read(alice_client, connection):
    sql = "SELECT " + "a, " * 300_000 + "1"  # 900 KB: the tokenizer would hold 600,000 tokens
    tracemalloc.start()
    try:
        fragment = alice_client.post(
            f"{new_url(connection)}check-query/", {"query": sql}, headers=HTMX
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert fragment.context["check_error"] == "The query must be at most 100000 characters."
    assert peak < 20 * 1024 * 1024  # the request's own copies, not a token per word


# The step forms on their own: edges the pages do not reach.


@pytest.mark.parametrize(
    ("typed", "tz", "error"),
    [("9999-12-31T09:00", "America/New_York", "Run at must be before the year 9999."),
     ("0001-01-01T00:30", "Europe/Berlin", "Run at must be in the future.")],
)  # fmt: skip
def test_a_run_at_at_the_ends_of_the_calendar_is_a_message(typed, tz, error):
    form = ScheduleForm({"schedule_kind": "once", "schedule_at": typed}, tz=tz)

    assert not form.is_valid()
    assert form.errors["schedule_at"] == [error]


def test_a_run_at_is_taken_to_the_minute():
    form = ScheduleForm(
        {"schedule_kind": "once", "schedule_at": "2030-06-30 09:00:45"},
        tz="UTC",
        now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_at"] == dt.datetime(2030, 6, 30, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("typed", "threshold"), [("0", 0), ("", forms.DEFAULT_REJECTION_THRESHOLD), ("100", 100)]
)
def test_a_rejection_threshold_of_zero_is_kept_and_blank_is_the_default(typed, threshold):
    form = forms.RejectionThresholdForm({"rejection_threshold": typed})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["rejection_threshold"] == threshold


@pytest.mark.parametrize("cursor_type", ["INT64", "INTEGER"])
def test_an_integer_cursor_has_no_lookback_window(cursor_type):
    form = forms.LookbackForm(
        {"lookback_seconds": str(Import.Lookback.HOUR)}, cursor_type=cursor_type
    )

    assert not form.is_valid()
    assert form.errors["lookback_seconds"][0].startswith("A lookback window needs a TIMESTAMP")


def test_reimport_from_today_in_the_workspaces_zone_but_not_tomorrow():
    # 23:30 UTC on March 2 is already March 3 in Kolkata.
    with time_machine.travel(dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC), tick=False):
        today = forms.ReimportForm({"from_day": "2026-03-03"}, time_zone="Asia/Kolkata")
        tomorrow = forms.ReimportForm({"from_day": "2026-03-04"}, time_zone="Asia/Kolkata")

        assert today.is_valid(), today.errors
        assert not tomorrow.is_valid()
        assert tomorrow.errors["from_day"][0].startswith("Choose today or an earlier day")


def test_an_hourly_schedule_without_a_minute_runs_on_the_hour():
    form = ScheduleForm({"schedule_kind": "hourly", "schedule_minute": ""}, tz="UTC")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_time"] == dt.time(0, 0)


def test_errors_in_the_fields_another_kind_uses_do_not_count():
    form = ScheduleForm(
        {"schedule_kind": "daily", "schedule_time": "09:30", "schedule_minute": "99",
         "schedule_cron": "nonsense", "schedule_at": "soon"},
        tz="UTC",
    )  # fmt: skip

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_cron"] == ""


@pytest.mark.parametrize("name", ["Users\x07", "Users\tcopy", "Users\x1b[31m"])
def test_an_import_name_with_control_characters_is_refused(name):
    form = forms.ReviewForm({"name": name})

    assert not form.is_valid()
    assert form.errors["name"] == ["Import name must not contain control characters."]


def test_a_maximum_bytes_billed_longer_than_any_size_is_refused_before_it_is_read():
    form = forms.ReviewForm({"name": "Users", "maximum_bytes_billed": "1" * 41})

    assert not form.is_valid()
    assert form.errors.as_data()["maximum_bytes_billed"][0].code == "max_length"


def test_a_maximum_bytes_billed_of_40_characters_is_read():
    typed = "0" * 30 + "1073741824"
    assert len(typed) == 40

    form = forms.ReviewForm({"name": "Users", "maximum_bytes_billed": typed})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["maximum_bytes_billed"] == 2**30
