"""Create Import around its forms: the list of steps and Back, the schedule step's own
"Show next runs", and where a step reached too early sends the admin."""

import datetime as dt
import zoneinfo

from django.utils import timezone

from imports.models import Import
from tests.fixtures.standin_world import PROJECT
from tests.imports.test_create_flow import (
    FLOW,
    ORDERS,
    draft_of,
    form_errors,
    mapping_data,
    new_url,
    post_source,
    step_url,
    walk,
)

TARGET = {"target": "profiles", "identity_column": "user_id", **mapping_data({})}
STALE = "Something in this step changed or is no longer valid; check it and continue."


def to_sync(client, connection, table) -> str:
    """Post Source and Target; the draft id."""
    draft = draft_of(post_source(client, connection, source_kind="table", table=table))
    assert client.post(step_url(connection, draft, "target"), TARGET).status_code == 302
    return draft


def test_the_steps_done_are_links_the_current_one_is_marked_and_back_is_the_step_before(
    alice_client, connection, customers_table
):
    draft = to_sync(alice_client, connection, customers_table)

    html = alice_client.get(step_url(connection, draft, "sync")).content.decode()

    for number, step, label in ((1, "source", "Source"), (2, "target", "Target")):
        link = (
            f'<a href="{step_url(connection, draft, step)}">'
            f'<span class="create-step-number">{number}</span> {label}</a>'
        )
        assert link in html, step
    assert '<li class="create-step is-current" aria-current="step">' in html
    assert '<span class="create-step-number">3</span> Sync\n' in html
    assert '<span class="create-step-number">4</span> Schedule\n' in html  # not a link yet
    assert f'<a class="btn" href="{step_url(connection, draft, "target")}">Back</a>' in html


def test_show_next_runs_stays_on_the_schedule_step_and_keeps_nothing(
    alice_client, connection, customers_table
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()
    draft = to_sync(alice_client, connection, customers_table)
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})

    response = alice_client.post(
        step_url(connection, draft, "schedule"),
        {"action": "preview", "schedule_kind": "daily", "schedule_time": "08:15"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Daily at 08:15 (Europe/Berlin)" in html
    assert html.count("<li><time") == 5
    assert "Times are in the workspace's time zone, <strong>Europe/Berlin</strong>." in html
    assert "schedule" not in alice_client.session["import_drafts"][draft]
    review = alice_client.get(step_url(connection, draft, "review"))
    assert review["Location"] == step_url(connection, draft, "schedule")


def test_a_step_reached_too_early_sends_back_to_the_missing_one_without_a_stale_note(
    alice_client, connection, customers_table
):
    draft = to_sync(alice_client, connection, customers_table)
    sync = step_url(connection, draft, "sync")

    posted = alice_client.post(
        step_url(connection, draft, "schedule"), {"action": "next", "schedule_kind": "now"}
    )
    opened = alice_client.get(step_url(connection, draft, "review"))

    assert (posted.status_code, posted["Location"]) == (302, sync)
    assert (opened.status_code, opened["Location"]) == (302, sync)
    page = alice_client.get(sync)
    assert STALE not in page.content.decode()
    assert form_errors(page) == {}


def test_save_says_when_the_first_run_is_in_the_workspaces_zone(
    alice_client, connection, customers_table
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target=TARGET,
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "daily", "schedule_time": "09:30"},
        name="Customers",
    )

    import_obj = Import.objects.get()
    local = import_obj.next_run_at.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (9, 30)
    page = alice_client.get(saved["Location"]).content.decode()
    assert (
        f"Import “Customers” saved. First run: {local:%b} {local.day}, {local:%Y} 09:30 "
        "(Europe/Berlin)."
    ) in page


def test_save_without_a_schedule_says_no_run_is_scheduled(
    alice_client, connection, customers_table
):
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target=TARGET,
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
        name="Customers",
    )

    page = alice_client.get(saved["Location"]).content.decode()
    assert "Import “Customers” saved. It has no run scheduled." in page


def test_a_one_time_run_the_workspaces_zone_has_passed_sends_the_review_back_to_schedule(
    alice_client, connection, customers_table
):
    workspace = connection.workspace
    workspace.time_zone = "UTC"
    workspace.save()
    draft = to_sync(alice_client, connection, customers_table)
    alice_client.post(step_url(connection, draft, "sync"), {"sync_mode": "full"})
    in_two_hours = (timezone.now() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    kept = alice_client.post(
        step_url(connection, draft, "schedule"),
        {"action": "next", "schedule_kind": "once", "schedule_at": in_two_hours},
    )
    assert kept.status_code == 302
    # That wall time was 12 hours ago at UTC+14.
    workspace.time_zone = "Etc/GMT-14"
    workspace.save()

    review = alice_client.get(step_url(connection, draft, "review"))

    assert (review.status_code, review["Location"]) == (
        302,
        step_url(connection, draft, "schedule"),
    )
    assert form_errors(alice_client.get(review["Location"])) == {
        "schedule_at": ["Run at must be in the future."]
    }


def test_a_step_keeps_only_its_own_fields(alice_client, connection, customers_table):
    draft = to_sync(alice_client, connection, customers_table)

    alice_client.post(
        step_url(connection, draft, "sync"),
        {"sync_mode": "full", "rejection_threshold": "7", "schedule_cron": "0 9 * * *"},
    )

    kept = alice_client.session["import_drafts"][draft]["sync"]["data"]
    assert kept == {"sync_mode": "full", "rejection_threshold": "7"}


def test_the_source_step_keeps_only_the_sources_fields(alice_client, connection, customers_table):
    draft = draft_of(
        post_source(
            alice_client, connection, source_kind="table", table=customers_table, q="cust", page="2"
        )
    )

    kept = alice_client.session["import_drafts"][draft]["source"]["data"]
    assert kept == {"source_kind": "table", "table": customers_table}


def test_a_source_sent_without_a_button_goes_on_as_next_does(
    alice_client, connection, customers_table
):
    response = alice_client.post(
        new_url(connection), {"source_kind": "table", "table": customers_table}
    )

    draft = draft_of(response)
    assert response["Location"] == step_url(connection, draft, "target")
    assert alice_client.session["import_drafts"][draft]["source"]["table"] == customers_table


def test_a_table_clicked_on_a_revisited_source_step_is_previewed_over_the_kept_one(
    alice_client, connection, customers_table
):
    draft = to_sync(alice_client, connection, customers_table)

    clicked = alice_client.get(step_url(connection, draft, "source"), {"table": ORDERS})

    assert clicked.context["preview"].table.name == ORDERS
    assert clicked.context["chosen"] == ORDERS


def test_the_schedule_preview_fragment_heads_its_runs_with_the_workspaces_zone(
    alice_client, connection
):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()

    html = alice_client.get(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/imports/new/schedule-preview/",
        {"schedule_kind": "hourly", "schedule_minute": "5"},
        headers={"HX-Request": "true"},
    ).content.decode()

    assert "Next runs (Europe/Berlin):" in html


def test_the_review_gives_a_tables_rows_and_a_querys_bytes(
    alice_client, connection, customers_table, google
):
    google.stack.gate.set_table_bytes(PROJECT, FLOW, customers_table, 3 * 1024**3)
    query = f"SELECT user_id, email FROM {FLOW}.{customers_table}"  # noqa: S608
    reviews = []
    for source, target in (
        ({"source_kind": "table", "table": customers_table}, TARGET),
        (
            {"source_kind": "query", "query": query},
            {"target": "profiles", "identity_column": "user_id",
             **mapping_data({}, ["user_id", "email"])},
        ),
    ):  # fmt: skip
        _, _, review = walk(
            alice_client,
            connection,
            source=source,
            target=target,
            sync={"sync_mode": "full"},
            schedule={"schedule_kind": "none"},
        )
        reviews.append(review.content.decode())

    table, query_review = reviews
    assert (
        f"Table <strong>{customers_table}</strong> of dataset <code>{PROJECT}:{FLOW}</code>: 3 rows"
    ) in table
    assert "which processes <strong>3.0\xa0GB</strong> per run (by the dry run)" in query_review
