"""Imports and runs through the API: read them, Run now (202, 409 while a run is active),
Pause / Resume / Stop, run details with counters, rejected rows as CSV."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from imports.models import Import, ImportRun, RejectedRow
from tests.api.conftest import API, ApiClient, error_of, make_token
from tests.connections.conftest import make_connection
from tests.imports.test_pages import add_import, add_run
from workspaces.models import AuditEntry

IMPORTS = f"{API}/acme/imports/"


@pytest.fixture
def connection(workspace_a, alice):
    return make_connection(workspace_a, alice)


@pytest.fixture
def nightly(workspace_a, connection, alice):
    return add_import(
        workspace_a,
        connection,
        "Nightly users",
        status="scheduled",
        schedule_kind="daily",
        schedule_time=dt.time(2, 0),
        next_run_at=timezone.now() + dt.timedelta(hours=3),
        created_by=alice,
    )


def test_the_list_has_each_import_with_its_latest_run(alice_api, workspace_a, connection, nightly):
    add_run(nightly, ago=dt.timedelta(days=2), rows_written=5)
    latest = add_run(nightly, ago=dt.timedelta(hours=1), rows_written=7)
    add_import(workspace_a, connection, "Purchases", target="events", status="paused")

    body = alice_api.get(IMPORTS).json()

    assert [i["name"] for i in body["results"]] == ["Purchases", "Nightly users"]
    row = body["results"][1]
    assert row["status"] == "scheduled"
    assert row["schedule"] == "Daily at 02:00 (UTC)"
    assert row["connection"]["name"] == connection.name
    assert row["latest_run"]["id"] == str(latest.pk)
    assert row["latest_run"]["rows_written"] == 7
    assert row["runs_url"] == f"http://testserver{IMPORTS}{nightly.pk}/runs/"


def test_the_list_filters_as_the_page_does(alice_api, workspace_a, connection, nightly):
    add_import(workspace_a, connection, "Purchases", target="events", status="paused")

    paused = alice_api.get(IMPORTS, {"status": "paused"}).json()["results"]
    found = alice_api.get(IMPORTS, {"search": "nightly"}).json()["results"]
    bad = alice_api.get(IMPORTS, {"status": "sleeping"})

    assert [i["name"] for i in paused] == ["Purchases"]
    assert [i["name"] for i in found] == ["Nightly users"]
    assert bad.status_code == 400 and "status" in error_of(bad)["fields"]
    too_long = alice_api.get(IMPORTS, {"search": "n" * 101})
    assert too_long.status_code == 400 and list(error_of(too_long)["fields"]) == ["search"]


def test_run_now_answers_202_with_the_run_and_its_location(alice, workspace_a, nightly):
    api = ApiClient(make_token(alice, workspace_a, "run"))

    response = api.post(f"{IMPORTS}{nightly.pk}/runs/")

    assert response.status_code == 202, response.content
    run = ImportRun.objects.get()
    body = response.json()
    assert body["id"] == str(run.pk)
    assert body["status"] == "queued" and body["trigger"] == "manual"
    assert response["Location"] == f"http://testserver{IMPORTS}runs/{run.pk}/"
    assert api.get(response["Location"]).json()["id"] == str(run.pk)
    entry = AuditEntry.objects.get(action="import.run_now")
    assert entry.actor == alice and entry.target_id == str(nightly.pk)


def test_a_second_run_while_one_is_active_is_409(alice_api, nightly):
    assert alice_api.post(f"{IMPORTS}{nightly.pk}/runs/").status_code == 202

    response = alice_api.post(f"{IMPORTS}{nightly.pk}/runs/")

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "import_running",
        "message": "The import is already running.",
    }
    assert ImportRun.objects.count() == 1


def test_pause_resume_and_stop(alice_api, nightly):
    paused = alice_api.post(f"{IMPORTS}{nightly.pk}/pause/")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = alice_api.post(f"{IMPORTS}{nightly.pk}/pause/")
    assert again.status_code == 409
    assert (
        error_of(again)["message"] == "Only a scheduled import can be paused; this one is paused."
    )

    resumed = alice_api.post(f"{IMPORTS}{nightly.pk}/resume/")
    assert resumed.json()["status"] == "scheduled"
    assert resumed.json()["next_run_at"] is not None

    stopped = alice_api.post(f"{IMPORTS}{nightly.pk}/stop/")
    assert stopped.json()["status"] == "stopped"
    assert stopped.json()["next_run_at"] is None
    nightly.refresh_from_db()
    assert nightly.status == Import.Status.STOPPED
    assert list(
        AuditEntry.objects.filter(target_id=str(nightly.pk)).order_by("id").values_list("action")
    ) == [("import.paused",), ("import.resumed",), ("import.stopped",)]


def test_stop_cancels_the_active_run(alice_api, nightly):
    run = ImportRun.objects.get(pk=alice_api.post(f"{IMPORTS}{nightly.pk}/runs/").json()["id"])

    alice_api.post(f"{IMPORTS}{nightly.pk}/stop/")

    run.refresh_from_db()
    assert run.status == ImportRun.Status.CANCELLED


def test_stop_asks_a_running_run_to_end_and_the_run_says_so(alice_api, nightly):
    run = add_run(nightly, status="running", ago=dt.timedelta(minutes=3))
    assert alice_api.get(f"{IMPORTS}runs/{run.pk}/").json()["cancel_requested"] is False

    alice_api.post(f"{IMPORTS}{nightly.pk}/stop/")

    detail = alice_api.get(f"{IMPORTS}runs/{run.pk}/").json()
    assert (detail["status"], detail["cancel_requested"]) == ("running", True)


@pytest.mark.parametrize("scope", ["read", "run"])
def test_pause_resume_stop_need_the_admin_scope(alice, workspace_a, nightly, scope):
    api = ApiClient(make_token(alice, workspace_a, scope))
    for action in ("pause", "stop"):
        response = api.post(f"{IMPORTS}{nightly.pk}/{action}/")
        assert response.status_code == 403
        assert error_of(response)["code"] == "insufficient_scope"
    nightly.refresh_from_db()
    assert nightly.status == Import.Status.SCHEDULED


def test_a_member_token_reads_but_every_write_is_403(bob_api, nightly):
    assert bob_api.get(f"{IMPORTS}{nightly.pk}/").status_code == 200
    for action in ("runs", "pause", "resume", "stop"):
        response = bob_api.post(f"{IMPORTS}{nightly.pk}/{action}/")
        assert response.status_code == 403, action
        assert "its owner is a member of the workspace" in error_of(response)["message"]
    assert not ImportRun.objects.exists()


def test_runs_list_newest_first_and_the_run_detail(alice_api, nightly):
    old = add_run(nightly, ago=dt.timedelta(days=1), status="failed", error_message="Boom.")
    new = add_run(
        nightly,
        ago=dt.timedelta(minutes=5),
        status="running",
        rows_expected=1000,
        committed_offset=250,
        rows_read=250,
        rows_written=240,
        rows_rejected=10,
        bytes_scanned=123456,
        job_id="analytics-prod:EU.job_1",
        read_path="rest",
    )

    runs = alice_api.get(f"{IMPORTS}{nightly.pk}/runs/").json()["results"]
    detail = alice_api.get(f"{IMPORTS}runs/{new.pk}/").json()

    assert [r["id"] for r in runs] == [str(new.pk), str(old.pk)]
    assert runs[1]["status"] == "failed" and runs[1]["error_message"] == "Boom."
    assert detail["status"] == "running"
    assert detail["progress"] == 0.25
    assert (detail["rows_read"], detail["rows_written"], detail["rows_rejected"]) == (250, 240, 10)
    assert detail["bytes_scanned"] == 123456
    assert detail["job_id"] == "analytics-prod:EU.job_1"
    assert detail["started_at"].endswith("Z") and detail["finished_at"] is None
    assert detail["rejected_rows_csv"].endswith(f"/imports/runs/{new.pk}/rejected.csv")


def test_a_run_says_read_written_unchanged_rejected_its_health_and_status(alice_api, nightly):
    run = add_run(
        nightly, status="succeeded_with_rejections", rows_read=100_000, rows_written=0,
        rows_unchanged=90_000, rows_rejected=10_000,
    )  # fmt: skip

    detail = alice_api.get(f"{IMPORTS}runs/{run.pk}/").json()
    listed = alice_api.get(f"{IMPORTS}{nightly.pk}/").json()

    assert detail["status"] == "succeeded_with_rejections"
    counters = ("rows_read", "rows_written", "rows_unchanged", "rows_rejected")
    assert [detail[name] for name in counters] == [100_000, 0, 90_000, 10_000]
    assert (detail["health"], detail["health_level"]) == (90.0, "degraded")
    assert listed["latest_run"]["health"] == 90.0
    assert listed["rejection_threshold"] == 50


def test_rejected_rows_as_the_pages_csv(alice_api, alice_client, nightly):
    run = add_run(nightly, rows_rejected=2)
    nightly.source_schema = [{"name": "user_id"}, {"name": "plan"}]
    nightly.save()
    RejectedRow.objects.create(
        run=run, row_number=3, reason="No identity", data={"plan": "=1+1", "user_id": None}
    )
    RejectedRow.objects.create(
        run=run, row_number=9, reason="Property too large", data={"user_id": "u9", "plan": "x" * 10}
    )

    response = alice_api.get(f"{IMPORTS}runs/{run.pk}/rejected.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="rejected-rows-{run.pk}.csv"'
    text = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["row_number", "reason", "user_id", "plan"],
        ["3", "No identity", "", "'=1+1"],
        ["9", "Property too large", "u9", "xxxxxxxxxx"],
    ]
    page = alice_client.get(
        f"/w/acme/settings/partners/bigquery/imports/runs/{run.pk}/rejected.csv"
    )
    assert b"".join(page.streaming_content).decode() == text
    one_reason = alice_api.get(
        f"{IMPORTS}runs/{run.pk}/rejected.csv", {"reason": "Property too large"}
    )
    assert list(csv.reader(io.StringIO(b"".join(one_reason.streaming_content).decode()))) == [
        ["row_number", "reason", "user_id", "plan"],
        ["9", "Property too large", "u9", "xxxxxxxxxx"],
    ]


def test_the_csv_errors_are_json_whatever_the_client_accepts(alice_api):
    response = alice_api.get(
        f"{IMPORTS}runs/00000000-0000-0000-0000-000000000000/rejected.csv",
        headers={"Accept": "text/csv"},
    )

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_an_import_shows_its_lookback_window(alice_api, workspace_a, connection):
    import_obj = add_import(
        workspace_a, connection, "Late rows", sync_mode="incremental", cursor_column="ts",
        cursor_type="TIMESTAMP", lookback_seconds=Import.Lookback.THREE_DAYS,
        watermark="2026-04-01T08:00:00+00:00",
    )  # fmt: skip

    body = alice_api.get(f"{IMPORTS}{import_obj.pk}/").json()

    assert (body["sync_mode"], body["cursor_column"], body["lookback_seconds"]) == (
        "incremental", "ts", 259200,
    )  # fmt: skip
    assert body["watermark"] == "2026-04-01T08:00:00+00:00"


def test_an_import_shows_its_identity_and_event_semantics(alice_api, workspace_a, connection):
    import_obj = add_import(
        workspace_a, connection, "Orders", target="events", event_id_column="order_id",
        identity_trim=True, null_policy="overwrite",
    )  # fmt: skip

    body = alice_api.get(f"{IMPORTS}{import_obj.pk}/").json()

    assert {k: body[k] for k in ("event_id_column", "identity_trim", "identity_lowercase")} == {
        "event_id_column": "order_id", "identity_trim": True, "identity_lowercase": False,
    }  # fmt: skip
    assert body["null_policy"] == "overwrite"


def test_a_run_gives_its_import_and_its_times_in_utc_whatever_the_workspaces_zone(
    alice_api, workspace_a, nightly
):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    run = add_run(nightly, status="running", ago=dt.timedelta(minutes=30))
    queued = dt.datetime(2026, 5, 4, 22, 0, tzinfo=dt.UTC)
    ImportRun.objects.filter(pk=run.pk).update(
        created_at=queued,
        scheduled_for=queued - dt.timedelta(minutes=1),
        started_at=queued + dt.timedelta(minutes=2),
    )

    detail = alice_api.get(f"{IMPORTS}runs/{run.pk}/").json()

    assert detail["import_id"] == str(nightly.pk) != detail["id"]
    assert detail["queued_at"] == "2026-05-04T22:00:00Z"
    assert detail["scheduled_for"] == "2026-05-04T21:59:00Z"
    assert detail["started_at"] == "2026-05-04T22:02:00Z"


def test_runs_queued_at_the_same_moment_are_listed_by_id_newest_first(alice_api, nightly):
    moment = dt.datetime(2026, 5, 4, 22, 0, tzinfo=dt.UTC)
    runs = [add_run(nightly, scheduled_for=moment + dt.timedelta(minutes=n)) for n in range(6)]
    ImportRun.objects.filter(import_obj=nightly).update(created_at=moment)

    pages, url = [], f"{IMPORTS}{nightly.pk}/runs/?page_size=2"
    while url:
        body = alice_api.get(url).json()
        pages += [r["id"] for r in body["results"]]
        url = body["next"]

    assert pages == sorted((str(r.pk) for r in runs), reverse=True)


def test_the_schedule_is_described_in_the_workspaces_zone(alice_api, workspace_a, nightly):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()

    listed = alice_api.get(IMPORTS).json()["results"][0]
    detail = alice_api.get(f"{IMPORTS}{nightly.pk}/").json()

    assert listed["schedule"] == detail["schedule"] == "Daily at 02:00 (Asia/Tokyo)"


def test_the_list_answers_in_four_queries_whoever_created_the_imports(
    alice_api, alice, bob, workspace_a, connection, django_assert_num_queries
):
    for n in range(6):
        add_run(add_import(workspace_a, connection, f"Import {n}", created_by=(alice, bob)[n % 2]))
    alice_api.get(IMPORTS)  # the token's last use is written on the first request of the minute

    # the token with its owner's role, the connection filter's check, the page, latest runs
    with django_assert_num_queries(4):
        response = alice_api.get(IMPORTS)

    creators = [row["created_by"]["email"] for row in response.json()["results"]]
    assert sorted(creators) == ["alice@acme.test"] * 3 + ["bob@acme.test"] * 3


def test_an_imports_runs_are_its_own_only(alice_api, workspace_a, connection, nightly):
    other = add_import(workspace_a, connection, "Purchases", target="events")
    add_run(other, ago=dt.timedelta(minutes=1))
    own = add_run(nightly, ago=dt.timedelta(hours=1))

    runs = alice_api.get(f"{IMPORTS}{nightly.pk}/runs/").json()["results"]

    assert [r["id"] for r in runs] == [str(own.pk)]


def test_an_import_and_its_run_answer_every_documented_field(alice_api, workspace_a, connection):
    import_obj = add_import(
        workspace_a, connection, "Orders", source_table="shop.orders", identity_column="customer",
        status="failed", last_error="The table was not found.", sync_mode="incremental",
        cursor_column="ts", cursor_type="TIMESTAMP",
    )  # fmt: skip
    run = add_run(
        import_obj, status="failed", attempts=3, read_path="storage", error_message="Gone.",
        watermark_from="2026-04-01T00:00:00+00:00", watermark_to="2026-04-02T00:00:00+00:00",
    )  # fmt: skip

    body = alice_api.get(f"{IMPORTS}{import_obj.pk}/").json()
    detail = alice_api.get(f"{IMPORTS}runs/{run.pk}/").json()

    assert set(body) == {
        "id", "url", "name", "connection", "status", "source_kind", "source_table",
        "source_query", "target", "identity_column", "identity_trim", "identity_lowercase",
        "event_id_column", "null_policy", "rejection_threshold", "sync_mode", "cursor_column",
        "watermark", "lookback_seconds", "schedule_kind", "schedule", "next_run_at",
        "last_error", "created_at", "created_by", "updated_at", "latest_run", "runs_url",
    }  # fmt: skip
    assert (body["source_kind"], body["source_table"], body["identity_column"]) == (
        "table", "shop.orders", "customer",
    )  # fmt: skip
    assert (body["status"], body["last_error"]) == ("failed", "The table was not found.")
    assert (body["schedule_kind"], body["schedule"]) == ("none", "No schedule")
    assert set(detail) == set(body["latest_run"]) == {
        "id", "url", "import_id", "status", "trigger", "cancel_requested", "scheduled_for",
        "queued_at", "started_at", "finished_at", "progress", "rows_expected", "rows_read",
        "rows_written", "rows_unchanged", "rows_rejected", "health", "health_level",
        "bytes_scanned", "watermark_from", "watermark_to", "read_path", "job_id", "attempts",
        "error_message", "rejected_rows_csv",
    }  # fmt: skip
    assert (detail["attempts"], detail["read_path"]) == (3, "storage")
    assert (detail["watermark_from"], detail["watermark_to"]) == (
        "2026-04-01T00:00:00+00:00", "2026-04-02T00:00:00+00:00",
    )  # fmt: skip


def test_the_list_filters_by_connection_and_target_of_this_workspace_only(
    alice_api, alice, workspace_a, workspace_b, charlie, connection, nightly
):
    second = make_connection(workspace_a, alice, name="Second warehouse")
    add_import(workspace_a, second, "Purchases", target="events")
    theirs = make_connection(workspace_b, charlie, name="Globex warehouse")
    add_import(workspace_b, theirs, "Globex users")

    by_connection = alice_api.get(IMPORTS, {"connection": str(second.pk)}).json()["results"]
    by_target = alice_api.get(IMPORTS, {"target": "profiles"}).json()["results"]
    foreign = alice_api.get(IMPORTS, {"connection": str(theirs.pk)})

    assert [i["name"] for i in by_connection] == ["Purchases"]
    assert [i["name"] for i in by_target] == ["Nightly users"]
    assert foreign.status_code == 400
    assert error_of(foreign)["fields"] == {
        "connection": ["Choose a connection of this workspace that has imports."]
    }
