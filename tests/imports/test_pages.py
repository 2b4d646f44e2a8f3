import csv
import datetime as dt
import io
import re

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from imports.models import Import, ImportRun, RejectedRow, RunPart
from tests.connections.conftest import make_connection

BASE = "/w/acme/settings/partners/bigquery/"
LIST = BASE + "imports/"


def add_import(workspace, connection, name="Users", **fields) -> Import:
    values = {
        "source_kind": "table",
        "source_table": "users",
        "target": "profiles",
        "identity_column": "user_id",
    }
    values.update(fields)
    return Import.objects.create(workspace=workspace, connection=connection, name=name, **values)


def add_run(import_obj, *, status="succeeded", ago=dt.timedelta(hours=1), **fields) -> ImportRun:
    """A run that started `ago`; finished ones took 100 seconds."""
    now = timezone.now()
    started = now - ago
    values = {
        "scheduled_for": started,
        "started_at": started,
        "status": status,
    }
    if status in ("succeeded", "succeeded_with_rejections", "failed", "cancelled"):
        values["finished_at"] = started + dt.timedelta(seconds=100)
    values.update(fields)
    return ImportRun.objects.create(
        import_obj=import_obj, workspace_id=import_obj.workspace_id, **values
    )


def detail_url(import_obj) -> str:
    return f"{LIST}{import_obj.pk}/"


def run_url(run) -> str:
    return f"{LIST}runs/{run.pk}/"


@pytest.fixture
def connection(workspace_a, alice):
    return make_connection(workspace_a, alice)


@pytest.fixture
def users_import(workspace_a, connection, alice):
    return add_import(workspace_a, connection, created_by=alice)


def names(response) -> list[str]:
    return [i.name for i in response.context["page"].object_list]


# -- list ---------------------------------------------------------------------------------------


def test_the_list_shows_the_workspaces_imports_with_schedule_last_and_next_run(
    alice_client, workspace_a, connection, charlie, workspace_b
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    daily = add_import(
        workspace_a,
        connection,
        "Nightly users",
        schedule_kind="daily",
        schedule_time=dt.time(9, 30),
        status="scheduled",
        next_run_at=dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC),
    )
    add_run(
        daily, status="succeeded_with_rejections", rows_read=2000, rows_written=1234,
        rows_unchanged=566, rows_rejected=200,
        finished_at=dt.datetime(2026, 6, 30, 7, 31, tzinfo=dt.UTC),
    )  # fmt: skip
    add_import(workspace_a, connection, "Manual events", target="events")
    other = make_connection(workspace_b, charlie, name="Globex warehouse")
    add_import(workspace_b, other, "Globex import")

    response = alice_client.get(LIST)

    page = response.content.decode()
    assert sorted(names(response)) == ["Manual events", "Nightly users"]
    assert "Globex import" not in page
    assert "2 imports" in page
    for column in ("Name", "Connection", "Target", "Status", "Schedule", "Last run"):
        assert f">{column}</th>" in page
    assert "Next run (Europe/Berlin)" in page
    assert "Daily at 09:30 (Europe/Berlin)" in page
    assert "No schedule" in page
    assert "Jul 1, 2026 09:30" in page  # next run in the workspace's zone
    assert "Jun 30, 2026 09:31" in page  # last run finished
    assert "Read 2,000 · Written 1,234 · Unchanged 566 · Rejected 200" in page
    assert "Succeeded with rejections" in page
    assert 'class="badge badge-warn run-health run-health-degraded"' in page
    assert ">Health 90 %</span>" in page
    assert "Never" in page  # the manual import has not run


def test_filter_by_status_and_connection_combine(alice_client, alice, workspace_a, connection):
    second = make_connection(workspace_a, alice, name="Lake")
    add_import(workspace_a, connection, "a-scheduled", status="scheduled")
    add_import(workspace_a, connection, "a-paused", status="paused")
    add_import(workspace_a, second, "b-scheduled", status="scheduled")
    add_import(workspace_a, second, "b-failed", status="failed")

    by_status = alice_client.get(LIST, {"status": "scheduled"})
    by_connection = alice_client.get(LIST, {"connection": str(second.pk)})
    both = alice_client.get(LIST, {"connection": str(second.pk), "status": "scheduled"})

    assert sorted(names(by_status)) == ["a-scheduled", "b-scheduled"]
    assert sorted(names(by_connection)) == ["b-failed", "b-scheduled"]
    assert names(both) == ["b-scheduled"]
    assert "1 import matches the filters" in both.content.decode()
    assert "Imports of Lake" in both.content.decode()
    assert f'href="{BASE}{second.pk}/imports/new/">Create Import' in both.content.decode()
    # without one connection in the filter, Create Import asks for the connection first
    assert f'href="{BASE}imports/new/">Create Import' in by_status.content.decode()


def test_the_search_matches_the_name(alice_client, workspace_a, connection):
    add_import(workspace_a, connection, "Users nightly")
    add_import(workspace_a, connection, "Purchases")

    assert names(alice_client.get(LIST, {"q": "NIGHT"})) == ["Users nightly"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"status": "<script>"}, "Status: Choose a status from the list."),
        ({"connection": "not-a-uuid"}, "Connection: “not-a-uuid” is not a valid UUID."),
        (
            {"connection": "00000000-0000-0000-0000-000000000000"},
            "Choose a connection of this workspace that has imports.",
        ),
    ],
)
def test_bad_filter_values_show_a_message_and_no_rows(alice_client, users_import, params, message):
    response = alice_client.get(LIST, params)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert names(response) == []
    assert "<script>" not in response.content.decode()


def test_another_workspaces_connection_cannot_be_a_filter(
    alice_client, users_import, workspace_b, charlie
):
    other = make_connection(workspace_b, charlie, name="Globex warehouse")

    response = alice_client.get(LIST, {"connection": str(other.pk)})

    assert "Choose a connection of this workspace that has imports." in response.content.decode()
    assert "Globex warehouse" not in response.content.decode()


def test_another_workspaces_connection_with_imports_is_neither_offered_nor_taken(
    alice_client, users_import, workspace_b, charlie
):
    other = make_connection(workspace_b, charlie, name="Globex warehouse")
    add_import(workspace_b, other, name="Globex users")

    menu = alice_client.get(LIST).content.decode()
    response = alice_client.get(LIST, {"connection": str(other.pk)})

    assert '<select name="connection"' in menu and "Globex warehouse" not in menu
    assert "Choose a connection of this workspace that has imports." in response.content.decode()
    assert "Globex" not in response.content.decode()


def menu(page: str, name: str) -> list[str]:
    """The labels of a filter menu's options, in order."""
    select = page.split(f'<select name="{name}"')[1].split("</select>")[0]
    return [option.split(">", 1)[1].split("</option")[0] for option in select.split("<option")[1:]]


def test_the_status_and_target_menus_offer_every_value(alice_client, users_import):
    page = alice_client.get(LIST).content.decode()

    assert menu(page, "status") == [
        "Any status", "Ready", "Scheduled", "Running", "Paused", "Completed", "Failed", "Stopped",
    ]  # fmt: skip
    assert menu(page, "target") == ["Any target", "User Profiles", "Events"]
    assert menu(page, "connection") == ["Any connection", "Warehouse"]


def test_filter_by_target_and_by_the_last_status(alice_client, workspace_a, connection):
    add_import(workspace_a, connection, "Users", status="stopped")
    add_import(workspace_a, connection, "Purchases", target="events")

    assert names(alice_client.get(LIST, {"target": "events"})) == ["Purchases"]
    assert names(alice_client.get(LIST, {"target": "profiles"})) == ["Users"]
    assert names(alice_client.get(LIST, {"status": "stopped"})) == ["Users"]


def test_a_target_not_offered_shows_its_own_message(alice_client, users_import):
    response = alice_client.get(LIST, {"target": "audiences"})

    assert "Target: Choose a target from the list." in response.content.decode()
    assert names(response) == []


def test_the_search_matches_the_connections_name_in_any_case(
    alice_client, alice, workspace_a, connection
):
    lake = make_connection(workspace_a, alice, name="Data Lake")
    add_import(workspace_a, lake, "Users")
    add_import(workspace_a, connection, "Purchases")

    assert names(alice_client.get(LIST, {"q": "data lake"})) == ["Users"]


def test_the_search_takes_up_to_100_characters(alice_client, workspace_a, connection):
    long_name = "x" * 100
    add_import(workspace_a, connection, long_name)

    taken = alice_client.get(LIST, {"q": long_name})
    refused = alice_client.get(LIST, {"q": long_name + "x"})

    assert names(taken) == [long_name]
    assert "Search: Ensure this value has at most 100 characters" in refused.content.decode()
    assert names(refused) == []


def test_pagination_keeps_the_filters(alice_client, workspace_a, connection):
    for i in range(30):
        add_import(workspace_a, connection, f"imp-{i:02d}", status="scheduled")
    add_import(workspace_a, connection, "paused one", status="paused")

    first = alice_client.get(LIST, {"status": "scheduled"})
    second = alice_client.get(LIST, {"status": "scheduled", "page": 2})

    assert "30 imports match the filters" in first.content.decode()
    assert "?status=scheduled&amp;page=2" in first.content.decode()
    assert len(names(first)) == 25
    assert len(names(second)) == 5
    assert set(names(first)).isdisjoint(names(second))


def seed_imports(workspace, connection, count, prefix):
    for i in range(count):
        import_obj = add_import(
            workspace, connection, f"{prefix}-{i}", schedule_kind="hourly", status="scheduled"
        )
        add_run(import_obj, ago=dt.timedelta(hours=2))
        add_run(import_obj, ago=dt.timedelta(hours=1), status="failed", error_message="boom")


def test_the_query_count_does_not_grow_with_rows(alice_client, workspace_a, connection):
    # Counted at once: the next request's start empties the connection's query log.
    seed_imports(workspace_a, connection, 3, "few")
    with CaptureQueriesContext(db_connection) as queries:
        response = alice_client.get(LIST)
    few = len(queries)
    assert len(names(response)) == 3
    seed_imports(workspace_a, connection, 57, "many")
    with CaptureQueriesContext(db_connection) as queries:
        first = alice_client.get(LIST)
    many = len(queries)

    assert len(names(first)) == 25
    assert many == few
    # the newest run is the one shown
    assert all(i.latest_run.status == "failed" for i in first.context["page"].object_list)

    with CaptureQueriesContext(db_connection) as queries:
        last = alice_client.get(LIST, {"page": 3})
    # past the first page: the page's keys, then its rows by key
    assert len(queries) == few + 1
    assert all(i.latest_run.status == "failed" for i in last.context["page"].object_list)
    middle = alice_client.get(LIST, {"page": 2})
    newest_first = [f"many-{i}" for i in range(56, -1, -1)] + ["few-2", "few-1", "few-0"]
    assert names(first) + names(middle) + names(last) == newest_first


def test_runs_queued_at_the_same_moment_are_shown_newest_id_first_in_the_list_and_history(
    alice_client, users_import
):
    """Runs created in the same instant are ordered by id, highest first, as the API lists
    them: the list's last run is the history's first."""
    moment = timezone.now() - dt.timedelta(hours=1)
    runs = [add_run(users_import, scheduled_for=moment + dt.timedelta(minutes=n)) for n in range(6)]
    ImportRun.objects.filter(import_obj=users_import).update(created_at=moment)
    newest_id_first = sorted((r.pk for r in runs), reverse=True)

    listed = alice_client.get(LIST).context["page"].object_list
    history = alice_client.get(detail_url(users_import)).context["runs"].object_list

    assert [i.latest_run.pk for i in listed] == [newest_id_first[0]]
    assert [r.pk for r in history] == newest_id_first


def test_the_empty_state(alice_client, workspace_a):
    page = alice_client.get(LIST).content.decode()

    assert "No imports yet" in page


def test_the_side_navigation_links_imports_and_audience(alice_client, users_import):
    page = alice_client.get(LIST).content.decode()

    assert f'href="{LIST}" class="active">Imports' in page
    assert 'href="/w/acme/audience/profiles/"' in page
    assert 'href="/w/acme/audience/events/"' in page


# -- detail -------------------------------------------------------------------------------------


def test_the_detail_shows_the_definition(alice_client, workspace_a, connection, alice):
    workspace_a.time_zone = "America/New_York"
    workspace_a.save()
    import_obj = add_import(
        workspace_a,
        connection,
        "Purchases",
        target="events",
        source_table="purchases",
        event_name_column="event",
        timestamp_column="ts",
        column_mapping=[
            {"column": "amount", "property": "amount_usd", "include": True},
            {"column": "secret", "property": "secret", "include": False},
        ],
        sync_mode="incremental",
        cursor_column="updated_at",
        cursor_type="TIMESTAMP",
        watermark="2026-03-01T00:00:00+00:00",
        schedule_kind="weekly",
        schedule_weekday=1,
        schedule_time=dt.time(6, 0),
        status="scheduled",
        next_run_at=dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC),
        created_by=alice,
    )

    page = alice_client.get(detail_url(import_obj)).content.decode()

    assert "Table <code>events_v2.purchases</code>" in page
    assert "Events" in page
    assert "From column <code>event</code>" in page
    assert "<code>ts</code>" in page
    assert "<code>amount</code></td><td>amount_usd</td><td>Yes</td>" in page
    assert "<code>secret</code></td><td>secret</td><td>No</td>" in page
    assert "Incremental by <code>updated_at</code> (TIMESTAMP)" in page
    assert "2026-03-01T00:00:00+00:00" in page
    assert "Weekly on Tuesday at 06:00 (America/New_York)" in page
    assert "Mar 10, 2026 06:00 EDT" in page
    assert "alice@acme.test" in page
    assert "This import has not run yet." in page


def test_the_definition_shows_the_mapping_as_runs_read_it(alice_client, workspace_a, connection):
    """An entry may leave out include (included) and property (the column's name), as runs
    read it; one without a column maps nothing."""
    import_obj = add_import(
        workspace_a,
        connection,
        column_mapping=[
            {"column": "email"},
            {"column": "plan", "property": ""},
            {"column": "age", "property": "years", "include": False},
            {"column": "", "property": "orphan"},
        ],
    )

    page = alice_client.get(detail_url(import_obj)).content.decode()

    table = page.split('id="definition-mapping"')[1].split("</table>")[0]
    rows = [
        [re.sub("<[^>]+>", "", cell).strip() for cell in row.split("<td>")[1:]]
        for row in table.split("<tr>")[2:]
    ]
    assert rows == [["email", "email", "Yes"], ["plan", "plan", "Yes"], ["age", "years", "No"]]


def test_a_query_source_is_shown_escaped(alice_client, workspace_a, connection):
    import_obj = add_import(
        workspace_a,
        connection,
        "Query",
        source_kind="query",
        source_table="",
        source_query="SELECT user_id FROM t WHERE note = '<b>'",
    )

    page = alice_client.get(detail_url(import_obj)).content.decode()

    assert "SQL query" in page
    assert "SELECT user_id FROM t WHERE note = &#x27;&lt;b&gt;&#x27;" in page


def test_the_run_history_is_paged_newest_first(alice_client, users_import):
    runs = [
        add_run(
            users_import,
            ago=dt.timedelta(hours=30 - i),
            rows_read=10 + i,
            rows_written=9 + i,
            rows_rejected=1,
            bytes_scanned=2 * 1024 * 1024,
            watermark_from="2026-01-01",
            watermark_to="2026-01-02",
        )
        for i in range(25)
    ]

    first = alice_client.get(detail_url(users_import))
    second = alice_client.get(detail_url(users_import), {"page": 2})

    first_page = [r.pk for r in first.context["runs"].object_list]
    assert len(first_page) == 20
    assert first_page[0] == runs[-1].pk
    assert len(second.context["runs"].object_list) == 5
    page = first.content.decode()
    assert "25 runs" in page
    assert "1\xa0min\xa040\xa0s" in page  # duration, unbroken
    assert "2.0\xa0MB" in page  # bytes scanned
    assert '<span class="nowrap">2026-01-01</span> → <span class="nowrap">2026-01-02</span>' in page
    assert "Older &rarr;" in page


def test_a_failed_run_shows_its_error_in_the_history(alice_client, users_import):
    add_run(
        users_import, status="failed", error_message="Table analytics-prod:users was not found."
    )

    page = alice_client.get(detail_url(users_import)).content.decode()

    assert "Table analytics-prod:users was not found." in page
    assert "Failed" in page


BUTTONS = ("Run now", "Pause", "Resume", "Stop", "Delete")


@pytest.mark.parametrize(
    "status, expected",
    [
        ("ready", {"Run now", "Delete"}),  # nothing scheduled, nothing to stop
        ("scheduled", {"Run now", "Pause", "Stop", "Delete"}),
        ("paused", {"Run now", "Resume", "Stop", "Delete"}),
        ("running", {"Stop", "Delete"}),
        ("completed", {"Run now", "Delete"}),
        ("failed", {"Run now", "Delete"}),
        ("stopped", {"Run now", "Delete"}),
    ],
)
def test_the_buttons_follow_the_status(alice_client, workspace_a, connection, status, expected):
    import_obj = add_import(workspace_a, connection, status=status)

    response = alice_client.get(detail_url(import_obj))

    actions = response.content.decode().split('id="import-actions"')[1].split("</div>")[0]
    shown = {b for b in BUTTONS if f">{b}</" in actions}
    assert shown == expected


def test_members_see_no_buttons(bob_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="scheduled")

    page = bob_client.get(detail_url(import_obj)).content.decode()

    assert all(f">{b}</" not in page for b in BUTTONS)
    assert '<form method="post"' not in page.split("<main")[1]


# -- live progress ------------------------------------------------------------------------------


def running_run(import_obj, **fields):
    values = {
        "status": "running",
        "ago": dt.timedelta(seconds=50),
        "rows_expected": 1000,
        "committed_offset": 500,
        "rows_read": 500,
        "rows_written": 500,
    }
    values.update(fields)
    return add_run(import_obj, **values)


def test_a_running_run_shows_live_progress(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="running")
    run = running_run(import_obj)

    page = alice_client.get(detail_url(import_obj)).content.decode()
    fragment = alice_client.get(detail_url(import_obj) + "progress/").content.decode()

    for html in (page, fragment):
        assert '<progress id="progress-bar" max="1000" value="500">50%</progress>' in html
        assert "500 of 1,000 rows (50%)" in html
        assert "10 rows processed per second" in html
        assert "About 50\xa0s" in html
        assert 'hx-trigger="every 2s"' in html
        assert f'hx-get="{detail_url(import_obj)}progress/?run={run.pk}&amp;actions=' in html
    assert "<html" not in fragment


def test_each_poll_refreshes_status_and_history_but_not_the_buttons(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running")
    for i in range(25):
        add_run(import_obj, ago=dt.timedelta(days=i + 1))
    run = running_run(import_obj)

    page = alice_client.get(detail_url(import_obj), {"page": 2}).content.decode()
    fragment = alice_client.get(
        detail_url(import_obj) + "progress/",
        {"run": str(run.pk), "page": "2", "actions": "delete.stop"},
        headers={"HX-Request": "true"},
    ).content.decode()

    assert page.count('id="run-history"') == 1
    assert f"?run={run.pk}&amp;page=2&amp;actions=delete.stop" in page  # keeps the history page
    assert '<section id="run-history" hx-swap-oob="true">' in fragment
    assert "Page 2 of 2" in fragment
    assert '<span id="import-status" hx-swap-oob="true">' in fragment
    # The buttons sit outside the polled fragment and are left alone while they stay the same.
    assert 'id="import-actions"' not in fragment
    assert 'id="definition"' not in fragment
    polled = page.split('id="run-progress"')[1].split("</section>")[0]
    assert "Stop" not in polled and "<button" not in polled


def test_the_progress_rate_counts_rows_read_and_time_left_counts_the_offset(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running")
    # 100 s into a re-run: 400 rows read, none new: 300 unchanged, 100 rejected. The rate is
    # rows processed (4 a second), not rows written (0 a second).
    running_run(
        import_obj,
        ago=dt.timedelta(seconds=100),
        committed_offset=400,
        rows_read=400,
        rows_written=0,
        rows_unchanged=300,
        rows_rejected=100,
        rows_expected=1000,
    )

    fragment = alice_client.get(detail_url(import_obj) + "progress/").content.decode()

    assert "400 of 1,000 rows (40%)" in fragment
    assert "4 rows processed per second" in fragment
    assert "About 2\xa0min\xa030\xa0s" in fragment  # 600 rows left at 4 rows/s
    assert "400 read: 0 written, 300 unchanged, 100 rejected" in fragment
    assert ">Health 75 %</span>" in fragment


def test_a_queued_run_polls_without_numbers(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="running")
    add_run(import_obj, status="queued", started_at=None)

    fragment = alice_client.get(detail_url(import_obj) + "progress/").content.decode()

    assert "Queued, waiting for a worker" in fragment
    assert "total not known yet" in fragment
    assert 'hx-trigger="every 2s"' in fragment


def test_no_polling_without_an_active_run(alice_client, users_import):
    add_run(users_import, status="succeeded", rows_written=10)

    page = alice_client.get(detail_url(users_import)).content.decode()
    fragment = alice_client.get(detail_url(users_import) + "progress/").content.decode()

    assert "hx-trigger" not in page
    assert "hx-trigger" not in fragment
    assert "<progress" not in page


def test_when_the_followed_run_ends_polling_stops_and_the_page_parts_update(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running")
    run = running_run(import_obj)
    run.status = "succeeded"
    run.committed_offset = run.rows_written = 1000
    run.finished_at = timezone.now()
    run.save()
    Import.objects.filter(pk=import_obj.pk).update(status="completed")

    fragment = alice_client.get(
        detail_url(import_obj) + "progress/", {"run": str(run.pk)}, headers={"HX-Request": "true"}
    ).content.decode()

    assert "hx-trigger" not in fragment
    assert "Run succeeded" in fragment
    assert "1,000 of 1,000 rows (100%)" in fragment
    assert '<span id="import-status" hx-swap-oob="true">' in fragment
    assert "Completed" in fragment
    assert '<section id="run-history" hx-swap-oob="true">' in fragment
    assert 'id="definition" hx-swap-oob="true"' in fragment
    assert ">Run now</button>" in fragment  # the buttons follow the new status


def test_the_progress_fragment_follows_a_new_run_after_the_old_one_ended(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running")
    old = add_run(import_obj, status="succeeded", ago=dt.timedelta(hours=1))
    new = running_run(import_obj)

    fragment = alice_client.get(
        detail_url(import_obj) + "progress/", {"run": str(old.pk)}, headers={"HX-Request": "true"}
    ).content.decode()

    assert f"?run={new.pk}" in fragment
    assert 'hx-trigger="every 2s"' in fragment
    assert 'hx-swap-oob="true"' in fragment


def test_when_a_new_run_replaced_the_followed_one_the_definition_is_refreshed(
    alice_client, workspace_a, connection
):
    """The buttons did not change (a run is active before and after), but the run the page
    followed has ended: its watermark and next run are redrawn."""
    import_obj = add_import(workspace_a, connection, status="running")
    old = add_run(import_obj, status="succeeded", ago=dt.timedelta(hours=1))
    running_run(import_obj)

    fragment = alice_client.get(
        detail_url(import_obj) + "progress/",
        {"run": str(old.pk), "actions": "delete.stop"},
        headers={"HX-Request": "true"},
    ).content.decode()

    assert 'id="import-actions"' not in fragment
    assert '<section id="definition" hx-swap-oob="true">' in fragment


def test_buttons_that_changed_meanwhile_bring_the_definition_with_them(
    alice_client, workspace_a, connection
):
    """Another admin paused a scheduled import: the next poll swaps the buttons and the
    definition, without a run having been followed."""
    import_obj = add_import(
        workspace_a,
        connection,
        status="scheduled",
        next_run_at=timezone.now() + dt.timedelta(minutes=1),
    )
    Import.objects.filter(pk=import_obj.pk).update(status="paused", next_run_at=None)

    fragment = alice_client.get(
        detail_url(import_obj) + "progress/",
        {"actions": "delete.edit.pause.run-now.stop"},
        headers={"HX-Request": "true"},
    ).content.decode()

    assert '<div id="import-actions" class="actions" hx-swap-oob="true">' in fragment
    assert ">Resume</button>" in fragment
    assert '<section id="definition" hx-swap-oob="true">' in fragment


def test_a_finished_run_the_page_followed_is_shown_not_the_latest_one(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="completed")
    followed = add_run(
        import_obj,
        ago=dt.timedelta(hours=2),
        rows_expected=111,
        committed_offset=111,
        rows_read=111,
    )
    add_run(
        import_obj,
        ago=dt.timedelta(hours=1),
        rows_expected=222,
        committed_offset=222,
        rows_read=222,
    )

    fragment = alice_client.get(
        detail_url(import_obj) + "progress/", {"run": str(followed.pk)}
    ).content.decode()

    assert f'data-run="{followed.pk}"' in fragment
    assert "111 of 111 rows (100%)" in fragment


def test_a_run_with_every_row_done_but_not_yet_ended_has_under_a_second_left(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running")
    running_run(import_obj, committed_offset=1000, rows_read=1000)

    fragment = alice_client.get(detail_url(import_obj) + "progress/").content.decode()

    assert '<dd id="progress-left">About &lt;1\xa0s</dd>' in fragment


def test_a_run_due_in_a_minute_is_starting_soon_not_due_now(alice_client, workspace_a, connection):
    import_obj = add_import(
        workspace_a,
        connection,
        status="scheduled",
        schedule_kind="daily",
        schedule_time=dt.time(3, 0),
        next_run_at=timezone.now() + dt.timedelta(minutes=1),
    )

    page = alice_client.get(detail_url(import_obj)).content.decode()

    assert 'hx-trigger="every 2s"' in page  # due within two minutes: the page follows it
    assert "<h2>Starting soon</h2>" in page
    assert "Due now" not in page


# -- run page and rejected rows -----------------------------------------------------------------


@pytest.fixture
def rejected_run(users_import):
    users_import.source_schema = [
        {"name": "user_id", "type": "STRING"},
        {"name": "email", "type": "STRING"},
        {"name": "note", "type": "STRING"},
    ]
    users_import.save()
    run = add_run(
        users_import,
        status="failed",
        rows_read=1000,
        rows_written=990,
        rows_unchanged=6,
        rows_rejected=4,
        rows_expected=1000,
        bytes_scanned=10 * 1024**3,
        read_path="rest",
        job_id="analytics-prod:US.job_abc123",
        result_table="analytics-prod._anon.anon_table",
        error_message="BigQuery stopped answering; the run will be retried.",
        watermark_from="2026-01-01T00:00:00+00:00",
        watermark_to="2026-01-02T00:00:00+00:00",
    )
    RejectedRow.objects.bulk_create(
        [
            RejectedRow(run=run, row_number=7, reason="No identity", data={"user_id": None}),
            RejectedRow(
                run=run,
                row_number=12,
                reason="Timestamp is not a date",
                data={"user_id": "u12", "email": '=HYPERLINK("http://x")', "n": -5},
            ),
            RejectedRow(
                run=run,
                row_number=30,
                reason="@SUM(A1)",
                data={"user_id": "+1", "note": "-2+3", "tags": ["a", "b"]},
            ),
            RejectedRow(run=run, row_number=31, reason="ok", data={"user_id": 'u31,"q"\nx'}),
        ]
    )
    return run


def test_the_run_page_shows_counts_timings_bigquery_and_rejected_rows(alice_client, rejected_run):
    page = alice_client.get(run_url(rejected_run)).content.decode()

    assert "BigQuery stopped answering; the run will be retried." in page
    assert '<dd id="run-read">1,000</dd>' in page
    assert '<span id="run-written">990</span> <span class="help">new or changed</span>' in page
    assert '<span id="run-unchanged">6</span> <span class="help">already stored as' in page
    assert '<dd id="run-rejected">4</dd>' in page
    assert ">Health 99.6 %</span>" in page
    assert "10 rows processed per second" in page  # 1,000 rows read in 1 min 40 s
    assert "10.0\xa0GB (10,737,418,240 bytes)" in page
    assert "REST paging (tabledata.list)" in page
    assert "lets imports use it" in page  # how to get the faster read path
    assert "analytics-prod:US.job_abc123" in page
    assert "1\xa0min\xa040\xa0s" in page
    assert "2026-01-01T00:00:00+00:00 → 2026-01-02T00:00:00+00:00" in page
    assert "No identity" in page
    assert "Timestamp is not a date" in page
    assert "user_id=u12, email==HYPERLINK(&quot;http://x&quot;), n=-5" in page
    assert "user_id=null" in page
    assert "4 rejected rows kept." in page
    assert f'href="{run_url(rejected_run)}rejected.csv"' in page
    assert "Download CSV" in page


@pytest.mark.parametrize(
    ("scanned", "shown"), [(0, "0\xa0bytes"), (1, "1\xa0byte"), (900, "900\xa0bytes")]
)
def test_a_small_byte_count_is_not_repeated(alice_client, users_import, scanned, shown):
    run = add_run(users_import, bytes_scanned=scanned)

    page = alice_client.get(run_url(run)).content.decode()

    assert f"<dt>Bytes scanned</dt><dd>{shown}</dd>" in page


def test_a_run_without_rejects_has_no_csv_link(alice_client, users_import):
    run = add_run(users_import)

    page = alice_client.get(run_url(run)).content.decode()

    assert "No rows were rejected." in page
    assert "rejected.csv" not in page


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_rejected_rows_csv_streams_every_column_and_defuses_formulas(
    alice_client, rejected_run
):
    response = alice_client.get(run_url(rejected_run) + "rejected.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"  # rows of a source stay off caches
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="rejected-rows-users-')
    assert disposition.endswith('.csv"')
    rows = read_csv(response)
    # the source schema's order first, then columns it does not know
    assert rows[0][:5] == ["row_number", "reason", "user_id", "email", "note"]
    assert sorted(rows[0][5:]) == ["n", "tags"]
    cells = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert cells[0] == {
        "row_number": "7",
        "reason": "No identity",
        "user_id": "",
        "email": "",
        "n": "",
        "note": "",
        "tags": "",
    }
    assert cells[1]["email"] == '\'=HYPERLINK("http://x")'
    assert cells[1]["n"] == "-5"  # a number is not a formula
    assert cells[2]["reason"] == "'@SUM(A1)"
    assert cells[2]["user_id"] == "'+1"
    assert cells[2]["note"] == "'-2+3"
    assert cells[2]["tags"] == '["a","b"]'
    assert cells[3]["user_id"] == 'u31,"q"\nx'  # quoting survives the round trip
    assert len(rows) == 5


def test_the_csv_filename_is_safe(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, name='Évènements "Q1"\r\n../../etc')
    run = add_run(import_obj)

    response = alice_client.get(run_url(run) + "rejected.csv")

    filename = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    assert filename.startswith("rejected-rows-evenements-q1-etc-")
    assert all(c.isalnum() or c in "-." for c in filename)
    assert read_csv(response) == [["row_number", "reason"]]


# -- connection pages ---------------------------------------------------------------------------


def test_the_connection_detail_lists_its_imports(alice_client, workspace_a, connection, alice):
    other = make_connection(workspace_a, alice, name="Lake")
    add_import(
        workspace_a,
        connection,
        "Nightly users",
        status="scheduled",
        next_run_at=dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC),
    )
    add_import(workspace_a, connection, "Purchases", target="events", status="paused")
    add_import(workspace_a, other, "Lake import")

    page = alice_client.get(f"{BASE}{connection.pk}/").content.decode()

    section = page.split('id="imports"')[1].split("</dd>")[0]
    assert "Nightly users" in section
    assert "Purchases" in section
    assert "Lake import" not in section
    assert "Jul 1, 2026 07:30" in section
    assert "Paused" in section
    assert f"{LIST}?connection={connection.pk}" in section


def test_the_connection_detail_lists_its_imports_by_name(alice_client, workspace_a, connection):
    for name in ("Purchases", "Anniversaries", "Nightly users"):
        add_import(workspace_a, connection, name)

    page = alice_client.get(f"{BASE}{connection.pk}/").content.decode()

    section = page.split('id="imports"')[1].split("</dd>")[0]
    positions = [section.index(name) for name in ("Anniversaries", "Nightly users", "Purchases")]
    assert positions == sorted(positions)


def test_the_connection_list_counts_imports(alice_client, workspace_a, connection, alice):
    other = make_connection(workspace_a, alice, name="Lake")
    for i in range(3):
        add_import(workspace_a, connection, f"imp-{i}")

    response = alice_client.get(BASE)

    counts = {c.name: c.import_count for c in response.context["page"].object_list}
    assert counts == {"Warehouse": 3, "Lake": 0}
    assert other.pk


# -- access -------------------------------------------------------------------------------------


def every_get_url(import_obj, run):
    return [
        LIST,
        detail_url(import_obj),
        detail_url(import_obj) + "progress/",
        detail_url(import_obj) + "delete/",
        detail_url(import_obj) + "stop/",
        detail_url(import_obj) + "reimport/",
        run_url(run),
        run_url(run) + "rejected.csv",
    ]


def every_post_url(import_obj):
    return [
        detail_url(import_obj) + f"{action}/"
        for action in ("run-now", "pause", "resume", "stop", "duplicate")
    ] + [detail_url(import_obj) + "delete/"]


def test_another_workspace_gets_404_on_every_url(charlie_client, users_import):
    run = add_run(users_import)

    for url in every_get_url(users_import, run):
        assert charlie_client.get(url).status_code == 404, url
    for url in every_post_url(users_import):
        assert charlie_client.post(url).status_code == 404, url
    assert Import.objects.filter(pk=users_import.pk).exists()


def test_another_workspaces_objects_are_404_under_your_own_workspace(
    charlie_client, charlie, workspace_b, users_import
):
    """charlie is admin of globex, but alice's import is not found under /w/globex/."""
    run = add_run(users_import)
    make_connection(workspace_b, charlie, name="Globex warehouse")

    for url in every_get_url(users_import, run)[1:]:
        url = url.replace("/w/acme/", "/w/globex/")
        assert charlie_client.get(url).status_code == 404, url
    for url in every_post_url(users_import):
        url = url.replace("/w/acme/", "/w/globex/")
        assert charlie_client.post(url).status_code == 404, url
    assert Import.objects.get(pk=users_import.pk).status == "ready"


def test_members_may_read_but_get_403_on_every_change(bob_client, users_import):
    run = add_run(users_import)

    for url in every_get_url(users_import, run):
        # the confirmation pages of delete, stop and re-import are for admins
        expected = 403 if url.endswith(("delete/", "stop/", "reimport/")) else 200
        assert bob_client.get(url).status_code == expected, url
    for url in every_post_url(users_import):
        assert bob_client.post(url).status_code == 403, url
    users_import.refresh_from_db()
    assert users_import.status == "ready"
    assert users_import.runs.count() == 1


def test_anonymous_users_are_sent_to_sign_in(client, users_import):
    response = client.get(detail_url(users_import))

    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=")


def test_the_connection_filter_is_a_menu_of_the_connections_that_have_imports(
    alice_client, workspace_a, alice, users_import
):
    make_connection(workspace_a, alice, name="Unused warehouse")

    html = alice_client.get(LIST).content.decode()

    assert '<select name="connection"' in html
    assert "Warehouse" in html and "Unused warehouse" not in html


def test_with_many_connections_the_list_draws_no_menu_but_filters_and_searches_by_connection(
    alice_client, workspace_a, alice
):
    from imports.filters import MAX_CONNECTION_CHOICES

    connections = [
        make_connection(workspace_a, alice, name=f"Warehouse {i:03d}")
        for i in range(MAX_CONNECTION_CHOICES + 1)
    ]
    for connection in connections:
        add_import(workspace_a, connection, name=f"Users of {connection.name}")
    target = connections[42]

    html = alice_client.get(LIST).content.decode()
    filtered = alice_client.get(LIST, {"connection": target.pk}).content.decode()
    searched = alice_client.get(LIST, {"q": "warehouse 042"}).content.decode()

    assert '<select name="connection"' not in html
    assert html.count("<option") < 20  # status and target menus only
    assert f"Imports of {target.name}" in filtered
    assert f'type="hidden" name="connection" value="{target.pk}"' in filtered
    assert "1 import matches the filters" in filtered
    assert "Users of Warehouse 042" in searched
    assert "1 import matches the filters" in searched


def test_up_to_100_connections_are_a_menu_by_name_and_the_101st_removes_it(
    alice_client, workspace_a, alice
):
    for i in reversed(range(100)):
        connection = make_connection(workspace_a, alice, name=f"Warehouse {i:03d}")
        add_import(workspace_a, connection, name=f"Users of {connection.name}")

    hundred = alice_client.get(LIST).content.decode()
    add_import(workspace_a, make_connection(workspace_a, alice, name="Lake"), name="Lake users")
    hundred_and_one = alice_client.get(LIST).content.decode()

    assert menu(hundred, "connection") == ["Any connection"] + [
        f"Warehouse {i:03d}" for i in range(100)
    ]
    assert '<select name="connection"' not in hundred_and_one


def test_a_run_read_with_the_storage_api_gives_no_hint(alice_client, users_import):
    run = add_run(users_import, read_path="storage", rows_expected=10)

    page = alice_client.get(run_url(run)).content.decode()

    assert "BigQuery Storage Read API" in page
    assert "lets imports use it" not in page


def test_a_due_import_polls_until_its_run_appears_and_a_later_one_does_not(
    alice_client, workspace_a, connection
):
    due = add_import(
        workspace_a,
        connection,
        "Once now",
        status="scheduled",
        schedule_kind="now",
        next_run_at=timezone.now(),
    )
    later = add_import(
        workspace_a,
        connection,
        "Tomorrow",
        status="scheduled",
        schedule_kind="daily",
        schedule_time=dt.time(3, 0),
        next_run_at=timezone.now() + dt.timedelta(hours=20),
    )

    page = alice_client.get(detail_url(due)).content.decode()
    assert "Due now, waiting for the scheduler" in page
    assert 'hx-trigger="every 2s"' in page
    assert "hx-trigger" not in alice_client.get(detail_url(later)).content.decode()

    run = add_run(due, status="queued", started_at=None)
    Import.objects.filter(pk=due.pk).update(status="running")
    fragment = alice_client.get(
        detail_url(due) + "progress/", headers={"HX-Request": "true"}
    ).content.decode()
    assert "Queued, waiting for a worker" in fragment
    assert f"?run={run.pk}&amp;actions=" in fragment  # now it follows the run


def test_paused_imports_show_no_next_run_anywhere(alice_client, workspace_a, connection):
    soon = timezone.now() + dt.timedelta(hours=3)
    paused = add_import(
        workspace_a,
        connection,
        "Paused one",
        status="paused",
        schedule_kind="hourly",
        next_run_at=soon,
    )
    shown = timezone.localtime(soon).strftime("%b %-d, %Y %H:%M")
    bigquery = "/w/acme/settings/partners/bigquery/"

    pages = {
        "import": alice_client.get(detail_url(paused)),
        "list": alice_client.get(bigquery + "imports/"),
        "connection": alice_client.get(f"{bigquery}{connection.pk}/"),
        "delete review": alice_client.get(f"{bigquery}{connection.pk}/delete/"),
    }

    for name, response in pages.items():
        html = response.content.decode()
        assert "Paused one" in html, name
        assert shown not in html, name
    assert "Not scheduled while paused" in pages["import"].content.decode()


def test_the_run_page_polls_while_its_run_is_active(alice_client, users_import):
    run = add_run(users_import, status="running", ago=dt.timedelta(seconds=5))
    url = f"/w/acme/settings/partners/bigquery/imports/runs/{run.pk}/"

    page = alice_client.get(url).content.decode()
    assert f'<div id="run-live" hx-get="{url}" hx-trigger="every 2s"' in page
    fragment = alice_client.get(url, headers={"HX-Request": "true"})
    assert "<html" not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]

    ImportRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    fragment = alice_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment
    assert '<section id="rejected-rows" hx-swap-oob="true">' in fragment
    assert "hx-trigger" not in alice_client.get(url).content.decode()


def test_every_kept_rejected_row_can_be_read_page_by_page(alice_client, users_import):
    run = add_run(users_import, rows_read=1000, rows_rejected=250)
    RejectedRow.objects.bulk_create(
        RejectedRow(run=run, row_number=n, reason="No identity", data={"n": n})
        for n in range(1, 251)
    )

    pages = [alice_client.get(run_url(run), {"page": p}) for p in (1, 2, 3)]

    shown = [[row.row_number for row in page.context["rejected"]] for page in pages]
    assert shown == [list(range(1, 101)), list(range(101, 201)), list(range(201, 251))]
    second = pages[1].content.decode()
    assert "Rows 101–200 of 250 kept rejected rows." in second
    assert "Page 2 of 3" in second and "Next &rarr;" in second


# -- watermark note -----------------------------------------------------------------------------


def reset_import(workspace, connection, **fields) -> Import:
    """An incremental import whose watermark was moved back to Jan 3 an hour ago."""
    values = {
        "sync_mode": "incremental",
        "cursor_column": "ts",
        "cursor_type": "TIMESTAMP",
        "watermark": "2026-01-03T00:00:00+00:00",
        "watermark_reset_at": timezone.now() - dt.timedelta(hours=1),
        "watermark_reset_reason": "alice@acme.test chose Re-import from Jan 3, 2026",
    }
    values.update(fields)
    return add_import(workspace, connection, **values)


def test_the_watermark_note_says_where_the_next_run_reads_from_with_the_lookback(
    alice_client, workspace_a, connection
):
    import_obj = reset_import(workspace_a, connection, lookback_seconds=Import.Lookback.DAY)

    page = alice_client.get(detail_url(import_obj)).content.decode()

    assert "because alice@acme.test chose Re-import from Jan 3, 2026" in page
    assert "the next run reads from <code>2026-01-02T00:00:00+00:00</code>." in page


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("failed", True),  # it did not move the watermark: the next run still reads from there
        ("cancelled", True),
        ("succeeded", False),
        ("succeeded_with_rejections", False),
    ],
)
def test_the_watermark_note_stays_until_a_run_succeeds_after_the_reset(
    alice_client, workspace_a, connection, status, shown
):
    import_obj = reset_import(workspace_a, connection)
    add_run(import_obj, status=status, ago=dt.timedelta(minutes=30))

    page = alice_client.get(detail_url(import_obj)).content.decode()

    assert ('id="watermark-note"' in page) is shown


# -- rejected reasons, parts, CSV columns -------------------------------------------------------


def reason_options(page: str) -> list[str]:
    menu = page.split('<select name="reason"')[1].split("</select>")[0]
    return [option.split('"')[1] for option in menu.split("<option value=")[2:]]


def test_the_reason_menu_lists_the_most_frequent_reason_first_then_by_name(
    alice_client, users_import
):
    run = add_run(users_import, rows_read=10, rows_rejected=6)
    reasons = ["Property b is late", "No identity", "Property a is late", "No identity"]
    reasons += ["No identity", "Property a is late"]
    RejectedRow.objects.bulk_create(
        RejectedRow(run=run, row_number=n, reason=reason, data={"n": n})
        for n, reason in enumerate(reasons, start=1)
    )

    page = alice_client.get(run_url(run)).content.decode()

    assert reason_options(page) == ["No identity", "Property a is late", "Property b is late"]
    assert ">No identity (3 kept rows)</option>" in page


def test_the_reason_menu_offers_the_first_100_reasons(alice_client, users_import):
    run = add_run(users_import, rows_read=101, rows_rejected=101)
    RejectedRow.objects.bulk_create(
        RejectedRow(run=run, row_number=n, reason=f"Value {n:03d} is bad", data={"n": n})
        for n in range(101)
    )

    page = alice_client.get(run_url(run)).content.decode()
    unlisted = alice_client.get(run_url(run), {"reason": "Value 100 is bad"})

    assert reason_options(page) == [f"Value {n:03d} is bad" for n in range(100)]
    # a reason the menu does not offer shows every row
    assert unlisted.context["rejected_page"].paginator.count == 101


def test_the_parts_of_a_split_run_are_shown_in_order(alice_client, users_import):
    run = add_run(users_import, read_path="parts", rows_read=30)
    RunPart.objects.bulk_create(
        RunPart(run=run, number=number, read_stream=f"stream-{number}", rows_read=number * 10)
        for number in (2, 0, 1)
    )

    page = alice_client.get(run_url(run)).content.decode()

    section = page.split('<section id="run-parts">')[1].split("</section>")[0]
    assert [row.split('"')[0] for row in section.split('<tr data-part="')[1:]] == ["1", "2", "3"]


def part_statuses(page):
    section = page.split('<section id="run-parts">')[1].split("</section>")[0]
    return [row.split("<td>")[2].split("</td>")[0] for row in section.split("<tr data-part=")[1:]]


def test_a_part_left_unfinished_by_an_ended_run_is_not_shown_as_running(alice_client, users_import):
    parts = [RunPart.Status.DONE, RunPart.Status.RUNNING, RunPart.Status.QUEUED]
    running = add_run(users_import, read_path="parts", status=ImportRun.Status.RUNNING)
    failed = add_run(users_import, read_path="parts", status=ImportRun.Status.FAILED)
    for run in (running, failed):
        RunPart.objects.bulk_create(
            RunPart(run=run, number=number, read_stream=f"s{number}", status=status)
            for number, status in enumerate(parts)
        )

    assert part_statuses(alice_client.get(run_url(running)).content.decode()) == [
        "Done",
        "Running",
        "Queued",
    ]
    assert part_statuses(alice_client.get(run_url(failed)).content.decode()) == [
        "Done",
        "Not finished",
        "Not finished",
    ]


def test_the_csv_has_the_schemas_columns_that_kept_rows_have_and_a_data_column_for_the_rest(
    alice_client, users_import
):
    users_import.source_schema = [
        {"name": "user_id", "type": "STRING"},
        {"name": "email", "type": "STRING"},
        {"name": "note", "type": "STRING"},
    ]
    users_import.save()
    run = add_run(users_import, rows_read=2, rows_rejected=2)
    RejectedRow.objects.bulk_create(
        [
            RejectedRow(run=run, row_number=1, reason="No identity", data={"note": "n1"}),
            RejectedRow(run=run, row_number=2, reason="Not a row", data="[1, 2]"),
        ]
    )

    rows = read_csv(alice_client.get(run_url(run) + "rejected.csv"))

    assert rows == [
        ["row_number", "reason", "note", "data"],
        ["1", "No identity", "n1", ""],
        ["2", "Not a row", "", "[1, 2]"],
    ]
