"""Create Import end to end: the real client libraries browse the stand-in BigQuery, every
step is posted like a browser without JavaScript would, and Save creates the Import.

The helpers here are shared by the other test_create_*.py modules.
"""

import datetime as dt
import re
import zoneinfo

import pytest
from django.utils import timezone

from imports import schedules
from imports.models import Import, ImportRun
from standins.emulator import EmulatorError
from tests.connections.conftest import make_connection
from tests.fixtures.standin_world import PROJECT, SCRATCH
from workspaces.models import AuditEntry

BASE = "/w/acme/settings/partners/bigquery"
HTMX = {"HX-Request": "true"}
# A small dataset of our own: the source page lists (and fetches details of) every table on
# its first page, and the emulator answers tables.get slowly in a crowded dataset.
FLOW = "create_import_flow"
CUSTOMERS = "create_customers"
ORDERS = "create_orders"
CUSTOMER_SCHEMA = [
    ("user_id", "STRING", "REQUIRED"),
    ("email", "STRING"),
    ("plan", "STRING"),
    ("score", "FLOAT64"),
    ("visits", "INT64"),
    ("updated_at", "TIMESTAMP"),
    ("signup_day", "DATE"),
    ("tags", "STRING", "REPEATED"),
]
CUSTOMER_ROWS = [
    {
        "user_id": f"c{i}",
        "email": f"c{i}@example.com",
        "plan": "pro" if i % 2 else "free",
        "score": i / 2,
        "visits": i * 3,
        "updated_at": f"2026-01-0{i + 1} 10:00:00",
        "signup_day": f"2025-12-0{i + 1}",
        "tags": ["a", "b"][: i % 3],
    }
    for i in range(3)
]
# The columns, in schema order, as the target step numbers them.
COLUMNS = [spec[0] for spec in CUSTOMER_SCHEMA]


def ensure_table(stack, dataset, table, schema, rows=()):
    """Create a table once per test session (emulator data outlives each test)."""
    try:
        stack.create_table(PROJECT, dataset, table, schema, rows)
    except EmulatorError as error:
        if "409" not in str(error):
            raise


def make_flow_tables(stack) -> str:
    try:
        stack.create_dataset(PROJECT, FLOW, location="EU")
    except EmulatorError as error:
        if "409" not in str(error):
            raise
    ensure_table(stack, FLOW, CUSTOMERS, CUSTOMER_SCHEMA, CUSTOMER_ROWS)
    ensure_table(stack, FLOW, ORDERS, [("order_id", "INT64"), ("user_id", "STRING")])
    return CUSTOMERS


def flow_connection(google, workspace, user, name="Warehouse"):
    """A connection to FLOW whose service account may read it (grants are reset per test)."""
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=FLOW)
    connection = make_connection(
        workspace, user, name=name, info=google.key.info, project_id=PROJECT, dataset_id=FLOW
    )
    connection.scratch_dataset_id = SCRATCH  # the world's, in the same location
    connection.save()
    return connection


def new_url(connection, ws="acme"):
    return f"/w/{ws}/settings/partners/bigquery/{connection.pk}/imports/new/"


def step_url(connection, draft, step):
    return f"{new_url(connection)}{draft}/{step}/"


def draft_of(response) -> str:
    match = re.search(r"/imports/new/([0-9a-f-]{36})/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def mapping_data(properties: dict[str, str | None], columns=COLUMNS) -> dict[str, str]:
    """Target-step fields for the property table: {column: property name or None to leave out}."""
    data = {}
    for index, column in enumerate(columns):
        name = properties.get(column, column)
        data[f"property_{index}"] = name or column
        if name is not None:
            data[f"include_{index}"] = "on"
    return data


def post_source(client, connection, **data):
    return client.post(new_url(connection), {"action": "next", **data})


def walk(client, connection, *, source, target, sync, schedule, name=None):
    """Post every step; returns (draft id, the Save response)."""
    response = post_source(client, connection, **source)
    assert response.status_code == 302, _errors(response)
    draft = draft_of(response)
    assert response["Location"] == step_url(connection, draft, "target")
    for step, data, following in (
        ("target", target, "sync"),
        ("sync", sync, "schedule"),
        ("schedule", {"action": "next", **schedule}, "review"),
    ):
        response = client.post(step_url(connection, draft, step), data)
        assert response.status_code == 302, (step, _errors(response))
        assert response["Location"] == step_url(connection, draft, following)
    review = client.get(step_url(connection, draft, "review"))
    assert review.status_code == 200
    data = (
        {"name": name} if name is not None else {"name": review.context["review"].initial["name"]}
    )
    return draft, client.post(step_url(connection, draft, "review"), data), review


def _errors(response):
    context = getattr(response, "context", None)
    if not context or "form" not in context:
        return response.status_code
    return dict(context["form"].errors)


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {key: list(value) for key, value in response.context["form"].errors.items()}


# -- tests -------------------------------------------------------------------------------------


def test_a_table_sourced_profiles_import_end_to_end(
    alice_client, alice, connection, customers_table, google
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()

    start = alice_client.get(new_url(connection))
    assert start.status_code == 200
    html = start.content.decode()
    assert "Create Import" in html and customers_table in html
    assert 'id="table-list"' in html

    preview = alice_client.get(new_url(connection), {"table": customers_table})
    assert preview.context["preview"].table.num_rows == 3
    html = preview.content.decode()
    assert "c1@example.com" in html and 'id="preview-rows"' in html
    assert f'<input type="hidden" name="table" value="{customers_table}">' in html

    properties = {"email": "email_address", "score": None, "tags": None}
    before = timezone.now()
    draft, saved, review = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data(properties)},
        sync={"sync_mode": "incremental", "cursor_column": "updated_at"},
        schedule={"schedule_kind": "daily", "schedule_time": "09:30"},
        name="Customers",
    )
    words = review.content.decode()
    for text in (
        "User Profiles",
        "identified by column <strong>user_id</strong>",
        "email_address",
        "Incremental",
        "updated_at",
        "Daily at 09:30 (Europe/Berlin)",
        "Left out: score, tags",
    ):
        assert text in words, text
    assert len(review.context["runs"]) == 5

    assert saved.status_code == 302
    import_obj = Import.objects.get()
    assert saved["Location"] == f"{BASE}/imports/{import_obj.pk}/"
    assert import_obj.name == "Customers"
    assert import_obj.workspace == connection.workspace
    assert import_obj.connection == connection
    assert import_obj.created_by == alice
    assert import_obj.source_kind == "table"
    assert import_obj.source_table == customers_table
    assert import_obj.source_query == ""
    assert [c["name"] for c in import_obj.source_schema] == COLUMNS
    assert {c["name"]: c["type"] for c in import_obj.source_schema}["visits"] == "INT64"
    assert import_obj.target == "profiles"
    assert import_obj.identity_column == "user_id"
    assert (import_obj.event_name_column, import_obj.event_name_fixed) == ("", "")
    assert import_obj.timestamp_column == ""
    assert import_obj.column_mapping == [
        {"column": "email", "property": "email_address", "include": True},
        {"column": "plan", "property": "plan", "include": True},
        {"column": "score", "property": "score", "include": False},
        {"column": "visits", "property": "visits", "include": True},
        {"column": "updated_at", "property": "updated_at", "include": True},
        {"column": "signup_day", "property": "signup_day", "include": True},
        {"column": "tags", "property": "tags", "include": False},
    ]
    assert (import_obj.sync_mode, import_obj.cursor_column) == ("incremental", "updated_at")
    assert import_obj.cursor_type == "TIMESTAMP"
    assert import_obj.rejection_threshold == 50  # left empty: the default
    assert import_obj.schedule_kind == "daily"
    assert import_obj.schedule_time == dt.time(9, 30)
    assert import_obj.schedule_at is None and import_obj.schedule_weekday is None
    assert import_obj.status == Import.Status.SCHEDULED
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    local = import_obj.next_run_at.astimezone(berlin)
    assert (local.hour, local.minute) == (9, 30)
    assert before < import_obj.next_run_at <= before + dt.timedelta(days=1, hours=1)
    assert import_obj.next_run_at == schedules.next_run_after(
        schedules.Schedule(kind="daily", time=dt.time(9, 30), tz="Europe/Berlin"), before
    )
    assert AuditEntry.objects.filter(action="import.created").count() == 1
    # The draft is gone: going back to it leads to the start, and Save cannot run twice.
    again = alice_client.post(step_url(connection, draft, "review"), {"name": "Customers"})
    assert (again.status_code, again["Location"]) == (302, new_url(connection))
    assert Import.objects.count() == 1


def test_an_events_import_from_a_select_query(alice_client, connection, customers_table, google):
    sql = (
        f"-- signups\nSELECT user_id, 'signup' AS event, updated_at AS ts, visits\n"
        f"FROM `{PROJECT}.{FLOW}.{customers_table}`;  -- trailing note"
    )
    checked = alice_client.post(
        new_url(connection), {"source_kind": "query", "query": sql, "action": "check"}
    )
    assert checked.status_code == 200
    assert [c["name"] for c in checked.context["check"].schema] == [
        "user_id",
        "event",
        "ts",
        "visits",
    ]
    html = checked.content.decode()
    assert "Dry run passed" in html and "will process" in html and "0\xa0bytes" in html
    assert not Import.objects.exists()

    fragment = alice_client.post(f"{new_url(connection)}check-query/", {"query": sql}, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode()
    assert "Dry run passed" in fragment.content.decode()
    assert {c["name"]: c["type"] for c in fragment.context["check"].schema}["ts"] == "TIMESTAMP"
    # an error an earlier submit left by the query field goes
    empty_box = '<div class="field-errors" id="errors-query" hx-swap-oob="true"></div>'
    assert empty_box in fragment.content.decode()

    columns = ["user_id", "event", "ts", "visits"]
    _, saved, review = walk(
        alice_client,
        connection,
        source={"source_kind": "query", "query": sql},
        target={
            "target": "events",
            "identity_column": "user_id",
            "event_name_source": "column",
            "event_name_column": "event",
            "timestamp_column": "ts",
            **mapping_data({"visits": "visit_count"}, columns),
        },
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "now"},
    )
    words = review.content.decode()
    assert "A SQL query" in words and "named by column <strong>event</strong>" in words
    assert "Once, now" in words
    assert "The run starts as soon as you save the import." in words
    assert "Next run" not in words  # no time that has passed by the time Save is pressed

    assert saved.status_code == 302
    assert "Its first run has started." in alice_client.get(saved["Location"]).content.decode()
    import_obj = Import.objects.get()
    assert import_obj.source_kind == "query"
    # Stored without the trailing ; and comment: the runner wraps it in SELECT * FROM (...).
    assert import_obj.source_query == sql.split(";")[0]
    assert import_obj.source_table == ""
    assert [(c["name"], c["type"]) for c in import_obj.source_schema] == [
        ("user_id", "STRING"),
        ("event", "STRING"),
        ("ts", "TIMESTAMP"),
        ("visits", "INT64"),
    ]
    assert import_obj.target == "events"
    assert (import_obj.identity_column, import_obj.event_name_column) == ("user_id", "event")
    assert import_obj.timestamp_column == "ts"
    assert import_obj.column_mapping == [
        {"column": "visits", "property": "visit_count", "include": True}
    ]
    assert (import_obj.sync_mode, import_obj.cursor_column, import_obj.cursor_type) == (
        "full",
        "",
        "",
    )
    assert import_obj.schedule_kind == "now"
    # Saved "Once, now": its run is queued with the save, not at the dispatcher's next tick.
    assert (import_obj.status, import_obj.next_run_at) == (Import.Status.RUNNING, None)
    run = import_obj.runs.get()
    assert (run.status, run.trigger) == (ImportRun.Status.QUEUED, ImportRun.Trigger.SCHEDULE)
    assert abs(run.scheduled_for - timezone.now()) < dt.timedelta(minutes=1)
    assert import_obj.name == "Query → Events"


def test_events_with_a_fixed_name_once_at_a_local_time_across_a_dst_gap(
    alice_client, connection, customers_table, google
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()
    _, saved, review = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={
            "target": "events",
            "identity_column": "visits",
            "event_name_source": "fixed",
            "event_name_fixed": "Signed up",
            "timestamp_column": "signup_day",
            **mapping_data({"tags": None}),
        },
        sync={"sync_mode": "incremental", "cursor_column": "visits"},
        # 02:30 does not exist in Berlin on that day: it runs when the clock jumps to 03:00.
        schedule={"schedule_kind": "once", "schedule_at": "2030-03-31T02:30"},
        name="Signups",
    )
    assert "all named <strong>“Signed up”</strong>" in review.content.decode()
    assert saved.status_code == 302
    import_obj = Import.objects.get()
    assert (import_obj.event_name_column, import_obj.event_name_fixed) == ("", "Signed up")
    assert import_obj.timestamp_column == "signup_day"
    assert import_obj.cursor_type == "INT64"
    assert import_obj.schedule_kind == "once"
    assert import_obj.schedule_at == dt.datetime(2030, 3, 31, 1, 0, tzinfo=dt.UTC)
    assert import_obj.next_run_at == import_obj.schedule_at
    assert import_obj.status == Import.Status.SCHEDULED
    assert "visits" not in [m["column"] for m in import_obj.column_mapping]  # identity
    assert "signup_day" not in [m["column"] for m in import_obj.column_mapping]  # timestamp


@pytest.mark.parametrize("threshold", ["101", "-1", "half", "12.5"])
def test_a_rejection_threshold_outside_0_to_100_is_refused_with_a_clear_message(
    alice_client, connection, customers_table, google, threshold
):
    response = post_source(alice_client, connection, source_kind="table", table=customers_table)
    draft = draft_of(response)
    alice_client.post(
        step_url(connection, draft, "target"),
        {"target": "profiles", "identity_column": "user_id", **mapping_data({})},
    )

    refused = alice_client.post(
        step_url(connection, draft, "sync"), {"sync_mode": "full", "rejection_threshold": threshold}
    )

    assert form_errors(refused) == {
        "rejection_threshold": [
            "Enter a rejection threshold from 0 to 100 (a percent of the rows read)."
        ]
    }


def test_the_rejection_threshold_is_chosen_at_the_sync_step_and_shown_at_review(
    alice_client, connection, customers_table, google
):
    _, saved, review = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data({})},
        sync={"sync_mode": "full", "rejection_threshold": "5"},
        schedule={"schedule_kind": "none"},
    )

    assert "Rejection threshold 5 %" in review.content.decode()
    assert saved.status_code == 302
    assert Import.objects.get().rejection_threshold == 5


@pytest.mark.parametrize(
    ("schedule", "kind", "check"),
    [
        ({"schedule_kind": "hourly", "schedule_minute": "15"}, "hourly",
         lambda i: i.schedule_time == dt.time(0, 15) and i.next_run_at.minute == 15),
        ({"schedule_kind": "weekly", "schedule_weekday": "2", "schedule_time": "07:00"}, "weekly",
         lambda i: i.schedule_weekday == 2 and i.next_run_at.weekday() == 2),
        ({"schedule_kind": "cron", "schedule_cron": "0  6 * * 1-5"}, "cron",
         lambda i: i.schedule_cron == "0 6 * * 1-5" and i.next_run_at.hour == 6),
    ],
)  # fmt: skip
def test_recurring_schedules_are_saved_with_their_next_run(
    alice_client, connection, customers_table, google, schedule, kind, check
):
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data({})},
        sync={"sync_mode": "full"},
        schedule=schedule,
    )
    assert saved.status_code == 302
    import_obj = Import.objects.get()
    assert import_obj.schedule_kind == kind
    assert import_obj.status == Import.Status.SCHEDULED
    assert import_obj.next_run_at > timezone.now()
    assert check(import_obj)


def test_schedule_preview_fragment_shows_the_next_five_runs_in_the_workspace_zone(
    alice_client, connection, google
):
    connection.workspace.time_zone = "America/New_York"
    connection.workspace.save()
    url = f"{new_url(connection)}schedule-preview/"

    response = alice_client.get(
        url, {"schedule_kind": "daily", "schedule_time": "08:15"}, headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Daily at 08:15 (America/New_York)" in html
    assert html.count("<li><time") == 5
    assert all(run.tzinfo.key == "America/New_York" for run in response.context["runs"])
    assert all((run.hour, run.minute) == (8, 15) for run in response.context["runs"])

    bad = alice_client.get(
        url, {"schedule_kind": "cron", "schedule_cron": "61 * * * *"}, headers=HTMX
    )
    assert "Cron expression is not valid: minute field" in bad.content.decode()

    now = alice_client.get(url, {"schedule_kind": "now"}, headers=HTMX).content.decode()
    assert "Once, now" in now and "as soon as you save the import" in now
    assert "<li><time" not in now


def test_schedule_preview_brings_every_fields_current_errors_in_place(
    alice_client, connection, google
):
    url = f"{new_url(connection)}schedule-preview/"

    good = alice_client.get(
        url, {"schedule_kind": "daily", "schedule_time": "08:15"}, headers=HTMX
    ).content.decode()
    bad = alice_client.get(
        url, {"schedule_kind": "cron", "schedule_cron": "61 * * * *"}, headers=HTMX
    ).content.decode()

    for name in ("schedule_kind", "schedule_at", "schedule_time", "schedule_cron"):
        assert f'<div class="field-errors" id="errors-{name}" hx-swap-oob="true"></div>' in good
    assert (
        '<div class="field-errors" id="errors-schedule_cron" hx-swap-oob="true">'
        '<p class="field-error" id="error-schedule_cron">Cron expression is not valid'
    ) in bad


def test_the_source_step_can_be_revisited_and_a_new_schema_resets_later_steps(
    alice_client, connection, customers_table, google
):
    response = post_source(alice_client, connection, source_kind="table", table=customers_table)
    draft = draft_of(response)
    alice_client.post(
        step_url(connection, draft, "target"),
        {"target": "profiles", "identity_column": "email", **mapping_data({})},
    )
    again = alice_client.get(step_url(connection, draft, "source"))
    assert again.status_code == 200
    assert again.context["preview"].table.name == customers_table  # the choice is kept
    target = alice_client.get(step_url(connection, draft, "target"))
    assert target.context["form"]["identity_column"].value() == "email"

    # Same source again: the mapping is kept. Another schema: the mapping starts over.
    alice_client.post(
        step_url(connection, draft, "source"),
        {"action": "next", "source_kind": "table", "table": customers_table},
    )
    assert alice_client.get(step_url(connection, draft, "sync")).status_code == 200
    alice_client.post(
        step_url(connection, draft, "source"),
        {"action": "next", "source_kind": "table", "table": ORDERS},
    )
    skipped = alice_client.get(step_url(connection, draft, "sync"))
    assert skipped.status_code == 302
    assert skipped["Location"] == step_url(connection, draft, "target")


def test_later_steps_cannot_be_skipped(alice_client, connection, customers_table, google):
    draft = draft_of(
        post_source(alice_client, connection, source_kind="table", table=customers_table)
    )
    for step in ("sync", "schedule", "review"):
        response = alice_client.get(step_url(connection, draft, step))
        assert response.status_code == 302
        assert response["Location"] == step_url(connection, draft, "target")
    saved = alice_client.post(step_url(connection, draft, "review"), {"name": "Sneaky"})
    assert saved.status_code == 302 and not Import.objects.exists()


def test_save_revalidates_a_one_time_run_that_has_passed_meanwhile(
    alice_client, connection, customers_table, google
):
    response = post_source(alice_client, connection, source_kind="table", table=customers_table)
    draft = draft_of(response)
    alice_client.post(
        step_url(connection, draft, "target"),
        {"target": "profiles", "identity_column": "user_id", **mapping_data({})},
    )
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})
    soon = (timezone.now() + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    alice_client.post(
        step_url(connection, draft, "schedule"),
        {"action": "next", "schedule_kind": "once", "schedule_at": soon},
    )
    # The draft's stored time is now in the past (as if the admin went for lunch).
    session = alice_client.session
    stored = session["import_drafts"][draft]["schedule"]["data"]
    stored["schedule_at"] = "2020-01-01T09:00"
    session.save()

    saved = alice_client.post(step_url(connection, draft, "review"), {"name": "Late"})
    assert saved.status_code == 302
    assert saved["Location"] == step_url(connection, draft, "schedule")
    assert not Import.objects.exists()
    page = alice_client.get(saved["Location"])
    assert form_errors(page) == {"schedule_at": [schedules.RUN_AT_PAST]}
    assert (
        "Something in this step changed or is no longer valid; check it and continue."
        in page.content.decode()
    )


def test_drafts_belong_to_their_connection(
    alice_client, alice, connection, customers_table, google
):

    other = flow_connection(google, connection.workspace, alice, name="Other")
    draft = draft_of(
        post_source(alice_client, connection, source_kind="table", table=customers_table)
    )
    assert alice_client.get(step_url(other, draft, "target")).status_code == 404
    assert alice_client.get(step_url(connection, draft, "target")).status_code == 200


def test_the_connection_page_has_a_create_import_button_for_admins(
    alice_client, bob_client, connection
):
    url = f"{BASE}/{connection.pk}/"
    assert (
        f'href="{new_url(connection)}">Create Import</a>' in alice_client.get(url).content.decode()
    )
    assert "Create Import" not in bob_client.get(url).content.decode()


def test_an_import_saved_without_a_schedule_is_ready(
    alice_client, connection, customers_table, google
):
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data({})},
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
    )

    assert saved.status_code == 302
    import_obj = Import.objects.get()
    assert (import_obj.schedule_kind, import_obj.status) == ("none", Import.Status.READY)
    assert import_obj.next_run_at is None
