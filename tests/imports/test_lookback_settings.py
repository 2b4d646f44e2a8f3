"""The lookback window is chosen at the wizard's sync step and on Edit; a reset watermark is
explained on the import's page."""

import datetime as dt

import pytest
import time_machine

from imports import services
from imports.models import Import, ImportRun
from tests.imports.conftest import make_import
from tests.imports.test_create_flow import (
    flow_connection,
    form_errors,
    mapping_data,
    step_url,
    walk,
)


@pytest.fixture
def connection(google, workspace_a, alice, flow_tables):
    return flow_connection(google, workspace_a, alice)


TARGET = {"target": "profiles", "identity_column": "user_id", **mapping_data({})}


def test_the_sync_step_saves_the_lookback_window(alice_client, connection, google):
    _, saved, review = walk(
        alice_client, connection,
        source={"source_kind": "table", "table": "create_customers"}, target=TARGET,
        sync={"sync_mode": "incremental", "cursor_column": "updated_at",
              "lookback_seconds": str(Import.Lookback.THREE_DAYS)},
        schedule={"schedule_kind": "none"},
    )  # fmt: skip

    assert "minus a lookback window of 3 days" in review.content.decode()
    assert saved.status_code == 302
    import_obj = Import.objects.get()
    assert (import_obj.cursor_column, import_obj.lookback_seconds) == ("updated_at", 259200)
    page = alice_client.get(import_obj.get_absolute_url()).content.decode()
    assert "3 days: each run reads from the watermark minus 3 days" in page


def test_a_full_import_keeps_no_lookback(alice_client, connection, google):
    walk(
        alice_client, connection,
        source={"source_kind": "table", "table": "create_customers"}, target=TARGET,
        sync={"sync_mode": "full", "lookback_seconds": "86400"},
        schedule={"schedule_kind": "none"},
    )  # fmt: skip
    assert Import.objects.get().lookback_seconds == 0


def test_the_sync_step_refuses_a_lookback_for_an_integer_cursor_or_an_unknown_value(
    alice_client, connection, google
):
    source = alice_client.post(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/",
        {"action": "next", "source_kind": "table", "table": "create_customers"},
    )
    draft = source["Location"].split("/imports/new/")[1].split("/")[0]
    alice_client.post(step_url(connection, draft, "target"), TARGET)
    sync = step_url(connection, draft, "sync")

    visits = alice_client.post(
        sync, {"sync_mode": "incremental", "cursor_column": "visits", "lookback_seconds": "3600"}
    )
    assert form_errors(visits) == {
        "lookback_seconds": [
            "A lookback window needs a TIMESTAMP, DATETIME or DATE cursor; this cursor is an "
            "INT64. Choose None."
        ]
    }
    odd = alice_client.post(
        sync, {"sync_mode": "incremental", "cursor_column": "updated_at", "lookback_seconds": "5"}
    )
    assert form_errors(odd) == {"lookback_seconds": ["Choose a lookback window."]}
    page = alice_client.get(sync).content.decode()
    assert "Lookback window" in page and "more than 1 hour in the future is rejected" in page


def edit_data(import_obj, **extra):
    return {"name": import_obj.name, "schedule_kind": "none", **extra}


def test_edit_changes_the_lookback_window_and_keeps_the_watermark(bq_connection, alice,
                                                                  alice_client):  # fmt: skip
    import_obj = make_import(
        bq_connection, alice, table="users", sync_mode="incremental",
        cursor_column="updated_at", cursor_type="TIMESTAMP",
    )  # fmt: skip
    Import.objects.filter(pk=import_obj.pk).update(watermark="2026-03-01T00:00:00+00:00")
    edit = f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/edit/"
    assert "Lookback window" in alice_client.get(edit).content.decode()

    response = alice_client.post(edit, edit_data(import_obj, lookback_seconds="21600"))

    assert response.status_code == 302
    import_obj.refresh_from_db()
    assert (import_obj.lookback_seconds, import_obj.watermark) == (
        21600, "2026-03-01T00:00:00+00:00",
    )  # fmt: skip
    refused = alice_client.post(edit, edit_data(import_obj, lookback_seconds="99"))
    assert form_errors_of(refused, "lookback_form") == {
        "lookback_seconds": ["Choose a lookback window."]
    }


def test_edit_with_the_lookback_window_left_empty_sets_none(bq_connection, alice, alice_client):
    import_obj = make_import(
        bq_connection, alice, table="users", sync_mode="incremental",
        cursor_column="updated_at", cursor_type="TIMESTAMP", lookback_seconds=86400,
    )  # fmt: skip
    edit = f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/edit/"

    response = alice_client.post(edit, edit_data(import_obj, lookback_seconds=""))

    assert response.status_code == 302
    import_obj.refresh_from_db()
    assert import_obj.lookback_seconds == 0


def test_edit_of_a_full_import_asks_no_lookback(bq_connection, alice, alice_client):
    import_obj = make_import(bq_connection, alice, table="users")
    edit = f"/w/acme/settings/partners/bigquery/imports/{import_obj.pk}/edit/"
    assert "Lookback window" not in alice_client.get(edit).content.decode()


def form_errors_of(response, name):
    assert response.status_code == 200
    return {key: list(value) for key, value in response.context[name].errors.items()}


def test_the_import_page_says_why_and_when_the_watermark_was_reset(
    bq_connection, alice, alice_client, workspace_a
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    import_obj = make_import(
        bq_connection, alice, table="users", sync_mode="incremental",
        cursor_column="updated_at", cursor_type="TIMESTAMP",
    )  # fmt: skip
    Import.objects.filter(pk=import_obj.pk).update(watermark="2026-03-01T00:00:00+00:00")
    assert "The watermark was reset" not in (
        alice_client.get(import_obj.get_absolute_url()).content.decode()
    )

    with time_machine.travel(dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC), tick=False):
        services.import_update(
            import_obj=Import.objects.get(pk=import_obj.pk), actor=alice,
            definition={"cursor_column": "created_at"},
        )  # fmt: skip

    page = alice_client.get(import_obj.get_absolute_url()).content.decode()
    assert (
        "The watermark was reset on Nov 20, 2026 10:30 CET because the cursor column changed; "
        "the next run reads everything."
    ) in page

    # Until a run has read from there, whether or not it rejected some rows.
    import_obj.runs.create(
        workspace_id=import_obj.workspace_id,
        status=ImportRun.Status.SUCCEEDED_WITH_REJECTIONS,
        scheduled_for=dt.datetime(2026, 11, 20, 11, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 11, 20, 11, tzinfo=dt.UTC),
    )
    assert "The watermark was reset" not in (
        alice_client.get(import_obj.get_absolute_url()).content.decode()
    )
