"""Duplicate: Create Import opens with every choice of an import (its source, mapping, sync
and schedule), so that what Edit cannot change is changed in a copy; pressing Next through
the copy and Save makes an import defined like the original."""

import datetime as dt

import pytest
from django.contrib.sessions.backends.base import SessionBase

from imports import duplicate, services
from imports.draft import Draft
from imports.models import Import
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import
from tests.imports.test_create_flow import (
    draft_of,
    mapping_data,
    step_url,
    walk,
)
from workspaces.models import AuditEntry

GIB = 2**30
DEFINITION = [f for f in services.DEFINITION_FIELDS if f not in ("name", "source_schema")]


@pytest.fixture
def original(alice_client, connection, customers_table):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()
    properties = {"email": "email_address", "score": None, "tags": None}
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={
            "target": "profiles", "identity_column": "user_id", "identity_lowercase": "on",
            "null_policy": "overwrite", **mapping_data(properties),
        },
        sync={
            "sync_mode": "incremental", "cursor_column": "updated_at",
            "rejection_threshold": "7", "lookback_seconds": "86400",
        },
        schedule={"schedule_kind": "weekly", "schedule_weekday": "2", "schedule_time": "06:45"},
        name="Customers",
    )  # fmt: skip
    assert saved.status_code == 302
    Import.objects.filter(name="Customers").update(maximum_bytes_billed=20 * GIB)  # as Edit sets
    return Import.objects.get(name="Customers")


def duplicate_url(import_obj):
    return f"{import_obj.get_absolute_url()}duplicate/"


def test_a_duplicate_walked_with_next_only_is_defined_like_the_original(
    alice_client, connection, original
):
    response = alice_client.post(duplicate_url(original))

    draft = draft_of(response)
    assert response["Location"] == step_url(connection, draft, "source")
    source = alice_client.get(response["Location"]).content.decode()
    assert "A copy of “Customers” with all its choices" in source
    assert 'value="create_customers"' in source
    steps = {"source": {"action": "next", "source_kind": "table", "table": original.source_table}}
    for step, following in (("source", "target"), ("target", "sync"), ("sync", "schedule")):
        page = alice_client.get(step_url(connection, draft, step))
        data = steps.get(step) or _form_data(page.context["form"])
        moved = alice_client.post(step_url(connection, draft, step), data)
        assert moved["Location"] == step_url(connection, draft, following), step
    schedule = alice_client.get(step_url(connection, draft, "schedule"))
    alice_client.post(
        step_url(connection, draft, "schedule"),
        {"action": "next", **_form_data(schedule.context["form"])},
    )
    review = alice_client.get(step_url(connection, draft, "review"))
    assert review.context["review"].initial["name"] == "Copy of Customers"
    assert review.context["review"].initial["maximum_bytes_billed"] == "20 GB"
    saved = alice_client.post(
        step_url(connection, draft, "review"), _form_data(review.context["review"])
    )

    assert saved.status_code == 302
    copy = Import.objects.get(name="Copy of Customers")
    assert copy.pk != original.pk
    assert {f: getattr(copy, f) for f in DEFINITION} == {
        f: getattr(original, f) for f in DEFINITION
    }
    assert copy.source_schema == original.source_schema
    assert copy.maximum_bytes_billed == 20 * GIB
    original.refresh_from_db()
    assert original.name == "Customers"  # left as it is


def test_a_duplicate_whose_source_changes_asks_for_the_mapping_again(
    alice_client, connection, original
):
    draft = draft_of(alice_client.post(duplicate_url(original)))

    moved = alice_client.post(
        step_url(connection, draft, "source"),
        {"action": "next", "source_kind": "table", "table": "create_orders"},
    )
    target = alice_client.get(moved["Location"])

    assert moved["Location"] == step_url(connection, draft, "target")
    assert target.context["form"].is_bound is False  # the copied mapping was for customers


def test_duplicating_saves_nothing_until_the_copys_save(alice_client, original):
    before = (Import.objects.count(), AuditEntry.objects.count())

    alice_client.post(duplicate_url(original))

    assert (Import.objects.count(), AuditEntry.objects.count()) == before


def test_a_copied_one_time_run_is_kept_in_the_workspaces_wall_time(
    alice_client, alice, connection, customers_table
):
    connection.workspace.time_zone = "America/New_York"
    connection.workspace.save()
    import_obj = make_import(
        connection, alice, table=customers_table, schedule_kind="once",
        schedule_at=dt.datetime(2099, 1, 2, 3, 4, tzinfo=dt.UTC),
    )  # fmt: skip

    draft = draft_of(alice_client.post(duplicate_url(import_obj)))

    kept = alice_client.session["import_drafts"][draft]["schedule"]["data"]
    assert kept["schedule_at"] == "2099-01-01 22:04"


def test_another_workspaces_import_cannot_be_duplicated(
    alice_client, charlie, workspace_b, customers_table
):
    theirs = make_import(make_connection(workspace_b, charlie), charlie, table=customers_table)
    url = f"/w/acme/settings/partners/bigquery/imports/{theirs.pk}/duplicate/"

    assert alice_client.post(url).status_code == 404
    assert "import_drafts" not in alice_client.session


def _form_data(form) -> dict[str, str]:
    """What a browser sends for the form as shown: its bound data, or its initial values."""
    if form.is_bound:
        return {key: form.data.get(key) for key in form.data}
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else str(value)
    return data


# draft_from_import on its own: each step's form, bound to what the copy keeps, gives back
# the import's own choices.

EVENTS_SCHEMA = [
    {"name": "user_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "happened", "type": "DATETIME", "mode": "NULLABLE"},
    {"name": "ms", "type": "INT64", "mode": "NULLABLE"},
    {"name": "event_key", "type": "STRING", "mode": "NULLABLE"},
    {"name": "plan", "type": "STRING", "mode": "NULLABLE"},
    {"name": "note", "type": "STRING", "mode": "NULLABLE"},
]


def events_import(workspace, **fields) -> Import:
    definition = {
        "name": "Events", "source_kind": "table", "source_table": "events", "target": "events",
        "identity_column": "user_id", "event_name_fixed": "Signed up",
        "timestamp_column": "happened", "source_time_zone": "Asia/Tokyo",
        "event_id_column": "event_key", "source_schema": EVENTS_SCHEMA,
        # "note" has no entry (a column added later is included under its own name), and
        # "event_key"'s has no "include": included, as the runner reads it (imports.mapping).
        "column_mapping": [{"column": "plan", "property": "tier", "include": True},
                           {"column": "ms", "property": "ms", "include": False},
                           {"column": "event_key", "property": "key"}],
        "schedule_kind": "none", **fields,
    }  # fmt: skip
    return Import(workspace=workspace, connection_id=1, **definition)


def copied_forms(import_obj, time_zone="Europe/Berlin"):
    draft = duplicate.draft_from_import(import_obj, time_zone)
    # The source step checks the same table again: its schema keeps the copied steps.
    draft.set_source({"kind": "table", "table": "events", "schema": EVENTS_SCHEMA}, {})
    forms = draft.forms(time_zone)
    for form in forms.values():
        assert form.is_valid(), form.errors
    return draft, {step: form.cleaned_data for step, form in forms.items()}


def test_a_copied_events_import_keeps_its_fixed_name_zone_and_event_id(workspace_a):
    _, cleaned = copied_forms(events_import(workspace_a, identity_trim=True))

    target = cleaned["target"]
    assert (target["event_name_column"], target["event_name_fixed"]) == ("", "Signed up")
    assert (target["identity_trim"], target["identity_lowercase"]) == (True, False)
    assert target["source_time_zone"] == "Asia/Tokyo"  # not the workspace's Europe/Berlin
    assert target["event_id_column"] == "event_key"
    included = {m["column"]: m["property"] for m in target["column_mapping"] if m["include"]}
    assert included == {"plan": "tier", "event_key": "key", "note": "note"}


def test_a_copied_query_import_opens_its_source_step_with_its_query(workspace_a):
    query = "SELECT user_id, happened FROM `p.d.events`"
    import_obj = events_import(
        workspace_a, source_kind="query", source_table="", source_query=query
    )

    draft = duplicate.draft_from_import(import_obj, "UTC")

    assert draft.source_data == {"source_kind": "query", "table": "", "query": query}


def test_a_copied_integer_time_keeps_its_unit(workspace_a):
    import_obj = events_import(
        workspace_a, timestamp_column="ms", source_time_zone="", timestamp_unit="milliseconds",
        column_mapping=[],
    )  # fmt: skip

    _, cleaned = copied_forms(import_obj)

    assert cleaned["target"]["timestamp_unit"] == "milliseconds"


def test_a_copy_keeps_the_imports_maximum_bytes_billed_in_the_sessions_draft(workspace_a):
    session = SessionBase()
    draft = duplicate.draft_from_import(
        events_import(workspace_a, maximum_bytes_billed=3 * GIB), "UTC"
    )
    draft.save(session)

    assert Draft.load(session, draft.connection_id, draft.id).maximum_bytes_billed == "3 GB"
    unlimited = duplicate.draft_from_import(events_import(workspace_a), "UTC")
    assert unlimited.maximum_bytes_billed == ""  # the connection's limit, as before


def test_a_copys_name_is_cut_to_the_longest_name_allowed(workspace_a):
    draft = duplicate.draft_from_import(events_import(workspace_a, name="x" * 100), "UTC")

    assert draft.name == "Copy of " + "x" * 92


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [({"schedule_kind": "hourly", "schedule_time": dt.time(0, 15)},
      {"schedule_kind": "hourly", "schedule_time": dt.time(0, 15)}),
     ({"schedule_kind": "weekly", "schedule_time": dt.time(6, 45), "schedule_weekday": 0},
      {"schedule_kind": "weekly", "schedule_time": dt.time(6, 45), "schedule_weekday": 0}),
     ({"schedule_kind": "cron", "schedule_cron": "30 4 * * 1-5"},
      {"schedule_kind": "cron", "schedule_cron": "30 4 * * 1-5"}),
     ({"schedule_kind": "once", "schedule_at": dt.datetime(2099, 1, 2, 3, 4, tzinfo=dt.UTC)},
      {"schedule_kind": "once", "schedule_at": dt.datetime(2099, 1, 2, 3, 4, tzinfo=dt.UTC)})],
)  # fmt: skip
def test_a_copied_schedule_is_the_same_schedule(workspace_a, schedule, expected):
    draft, cleaned = copied_forms(events_import(workspace_a, **schedule), "America/New_York")

    assert {key: cleaned["schedule"][key] for key in expected} == expected
    if schedule["schedule_kind"] == "once":  # shown in the workspace's wall time
        assert draft.schedule["schedule_at"] == "2099-01-01 22:04"
