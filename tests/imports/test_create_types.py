"""Create Import and Edit, for types: the source time zone of a DATETIME or DATE event time
(the workspace's by default), the unit of an INT64 one (asked, never guessed), and the
review's warning when a property already has another type in the workspace."""

import uuid

import pytest

from audience.models import PropertyType
from imports import services
from imports.models import Import, ImportRun
from imports.run.execute import execute_run
from tests.imports.test_create_flow import (
    COLUMNS,
    form_errors,
    mapping_data,
    post_source,
    walk,
)

BASE = "/w/acme/settings/partners/bigquery"


def events_target(timestamp_column, **extra):
    return {
        "target": "events",
        "identity_column": "user_id",
        "event_name_source": "fixed",
        "event_name_fixed": "Visited",
        "timestamp_column": timestamp_column,
        **mapping_data({"tags": None}),
        **extra,
    }


def save_events(client, connection, table, timestamp_column, **extra):
    return walk(
        client,
        connection,
        source={"source_kind": "table", "table": table},
        target=events_target(timestamp_column, **extra),
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
        name="Visits",
    )


def target_step(client, connection, table):
    response = post_source(client, connection, source_kind="table", table=table)
    assert response.status_code == 302
    return response["Location"]


def test_the_target_step_offers_the_workspaces_zone_and_the_column_types(
    alice_client, connection, customers_table, google
):
    connection.workspace.time_zone = "Asia/Kolkata"
    connection.workspace.save()

    page = alice_client.get(target_step(alice_client, connection, customers_table))

    html = page.content.decode()
    assert '<option value="Asia/Kolkata" selected>Asia/Kolkata</option>' in html
    assert 'data-show-if-type="timestamp_column=DATETIME,DATE"' in html
    assert 'data-show-if-type="timestamp_column=INT64"' in html
    assert page.context["form"].column_types["signup_day"] == "DATE"
    assert '"tags": "ARRAY<STRING>"' in html.replace("\\u003C", "<").replace("\\u003E", ">")


def test_a_date_event_time_is_read_in_the_workspaces_zone_unless_another_is_chosen(
    alice_client, connection, customers_table, google
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()

    _, saved, review = save_events(alice_client, connection, customers_table, "signup_day")

    assert saved.status_code == 302
    assert "read in the time zone <strong>Europe/Berlin</strong>" in review.content.decode()
    assert Import.objects.get().source_time_zone == "Europe/Berlin"

    Import.objects.all().delete()
    _, saved, _ = save_events(
        alice_client,
        connection,
        customers_table,
        "signup_day",
        source_time_zone="America/New_York",
    )
    import_obj = Import.objects.get()
    assert (import_obj.source_time_zone, import_obj.timestamp_unit) == ("America/New_York", "")
    detail = alice_client.get(f"{BASE}/imports/{import_obj.pk}/").content.decode()
    assert "America/New_York: the column's times are wall-clock times in this zone" in detail


def test_an_unknown_zone_is_refused_on_the_field(alice_client, connection, customers_table, google):
    url = target_step(alice_client, connection, customers_table)

    response = alice_client.post(
        url, events_target("signup_day", source_time_zone="Mars/Olympus Mons")
    )

    assert form_errors(response) == {
        "source_time_zone": ["“Mars/Olympus Mons” is not a time zone; choose one from the list."]
    }


def test_an_int64_event_time_needs_its_unit_and_a_timestamp_needs_neither(
    alice_client, connection, customers_table, google
):
    url = target_step(alice_client, connection, customers_table)

    missing = alice_client.post(url, events_target("visits"))
    assert form_errors(missing) == {
        "timestamp_unit": [
            "Choose whether visits counts seconds, milliseconds or microseconds since "
            "1970-01-01: the values are not guessed."
        ]
    }
    _, saved, review = save_events(
        alice_client, connection, customers_table, "visits", timestamp_unit="milliseconds"
    )
    assert saved.status_code == 302
    assert "<strong>milliseconds</strong> since 1970-01-01" in review.content.decode()
    assert Import.objects.get().timestamp_unit == "milliseconds"

    Import.objects.all().delete()
    save_events(
        alice_client,
        connection,
        customers_table,
        "updated_at",
        timestamp_unit="seconds",
        source_time_zone="Asia/Tokyo",
    )
    import_obj = Import.objects.get()
    assert (import_obj.source_time_zone, import_obj.timestamp_unit) == ("", "")


def test_the_review_warns_of_properties_with_another_type_in_the_workspace(
    alice_client, connection, customers_table, google
):
    for name, type_ in {"plan": "INT64", "tags": "STRING", "visits": "INT64"}.items():
        PropertyType.objects.create(
            workspace=connection.workspace,
            name=name,
            type=type_,
            defined_by_import_id=uuid.uuid4(),
            defined_by_import_name="Legacy CRM",
            first_seen_at="2026-01-01T00:00:00Z",
        )

    _, _, review = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data({})},
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
    )

    conflicts = review.context["summary"]["type_conflicts"]
    assert [(c["property"], c["type"], c["kept"], c["castable"]) for c in conflicts] == [
        ("plan", "STRING", "INT64", True),
        ("tags", "ARRAY<STRING>", "STRING", False),
    ]  # visits is INT64 both ways: no warning
    html = review.content.decode()
    assert 'id="review-type-conflicts"' in html
    assert "2 properties have another type in this workspace" in html
    assert "<code>plan</code> is <strong>INT64</strong> here (set by import “Legacy CRM”)" in html
    assert "Values are converted to INT64 where nothing is lost" in html
    assert "ARRAY&lt;STRING&gt; values cannot be stored as STRING: every row" in html


def test_no_warning_when_the_types_agree(alice_client, connection, customers_table, google):
    _, _, review = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={"target": "profiles", "identity_column": "user_id", **mapping_data({})},
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
    )

    assert review.context["summary"]["type_conflicts"] == []
    assert "review-type-conflicts" not in review.content.decode()


@pytest.fixture
def unitless_import(connection, alice, customers_table):
    """An events import from before INT64 event times had a unit (as the migration leaves it)."""
    return services.import_create(
        workspace=connection.workspace,
        connection=connection,
        created_by=alice,
        definition={
            "name": "Old visits",
            "source_kind": "table",
            "source_table": customers_table,
            "source_schema": [
                {"name": c, "type": "INT64" if c == "visits" else "STRING", "mode": "NULLABLE"}
                for c in COLUMNS
            ],
            "target": "events",
            "identity_column": "user_id",
            "event_name_fixed": "Visited",
            "timestamp_column": "visits",
            "column_mapping": [],
            "schedule_kind": "none",
        },
    )


def test_an_old_int64_import_asks_for_its_unit_on_edit_and_then_runs(
    alice_client, alice, unitless_import, google
):
    detail = alice_client.get(f"{BASE}/imports/{unitless_import.pk}/").content.decode()
    assert "Not chosen: runs fail until you choose what the INT64 column counts" in detail
    edit_url = f"{BASE}/imports/{unitless_import.pk}/edit/"
    assert 'name="timestamp_unit"' in alice_client.get(edit_url).content.decode()

    refused = alice_client.post(edit_url, {"name": "Old visits", "schedule_kind": "none"})
    assert refused.status_code == 200
    assert "The timestamp unit is required." in refused.content.decode()
    unitless_import.refresh_from_db()
    assert unitless_import.timestamp_unit == ""

    saved = alice_client.post(
        edit_url, {"name": "Old visits", "schedule_kind": "none", "timestamp_unit": "seconds"}
    )
    assert saved.status_code == 302
    unitless_import.refresh_from_db()
    assert unitless_import.timestamp_unit == "seconds"
    assert 'name="timestamp_unit"' not in alice_client.get(edit_url).content.decode()
    run = services.import_run_now(import_obj=unitless_import, actor=alice)
    assert execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED
