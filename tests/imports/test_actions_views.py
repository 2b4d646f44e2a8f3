import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from imports import views
from imports.models import Import, ImportRun
from tests.fixtures.races import deleted_once_fetched
from tests.imports.test_pages import add_import, add_run, detail_url, run_url
from workspaces.models import AuditEntry

LIST = "/w/acme/settings/partners/bigquery/imports/"


@pytest.fixture
def connection(workspace_a, alice):
    from tests.connections.conftest import make_connection

    return make_connection(workspace_a, alice)


def post(client, import_obj, action):
    return client.post(detail_url(import_obj) + f"{action}/")


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_run_now_queues_a_run(alice_client, alice, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="ready")

    response = post(alice_client, import_obj, "run-now")

    assert response.status_code == 302
    assert response["Location"] == detail_url(import_obj)
    import_obj.refresh_from_db()
    assert import_obj.status == "running"
    run = import_obj.runs.get()
    assert run.status == "queued"
    assert run.trigger == "manual"
    assert messages_of(response) == [("success", "“Users” is queued to run now.")]
    assert AuditEntry.objects.filter(action="import.run_now", actor=alice).exists()


def test_run_now_twice_says_it_is_running(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="ready")
    post(alice_client, import_obj, "run-now")
    alice_client.get(detail_url(import_obj))  # shows (and consumes) the success message

    response = post(alice_client, import_obj, "run-now")

    assert response.status_code == 302
    assert messages_of(response) == [("error", "The import is already running.")]
    assert import_obj.runs.count() == 1


def test_pause_and_resume_a_scheduled_import(alice_client, workspace_a, connection):
    import_obj = add_import(
        workspace_a,
        connection,
        status="scheduled",
        schedule_kind="daily",
        schedule_time=dt.time(3, 0),
        next_run_at=dt.datetime(2030, 1, 1, 3, 0, tzinfo=dt.UTC),
    )

    paused = post(alice_client, import_obj, "pause")
    import_obj.refresh_from_db()
    assert import_obj.status == "paused"
    assert messages_of(paused)[0][0] == "success"
    page = alice_client.get(detail_url(import_obj)).content.decode()
    assert ">Resume</button>" in page
    assert ">Pause</button>" not in page

    resumed = post(alice_client, import_obj, "resume")
    import_obj.refresh_from_db()
    assert import_obj.status == "scheduled"
    assert import_obj.next_run_at is not None
    assert messages_of(resumed) == [("success", "“Users” resumed.")]


def test_stop_cancels_the_running_run(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="running")
    run = add_run(import_obj, status="running", ago=dt.timedelta(seconds=30))

    response = post(alice_client, import_obj, "stop")

    import_obj.refresh_from_db()
    run.refresh_from_db()
    assert import_obj.status == "stopped"
    assert import_obj.next_run_at is None
    assert run.cancel_requested
    assert messages_of(response)[0][0] == "success"


def test_stop_cancels_a_queued_run(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="running")
    run = add_run(import_obj, status="queued", started_at=None)

    post(alice_client, import_obj, "stop")

    run.refresh_from_db()
    assert run.status == "cancelled"


@pytest.mark.parametrize(
    "status, action, message",
    [
        (
            "scheduled",
            "resume",
            "Only a paused or stopped import can be resumed; this one is scheduled.",
        ),
        ("ready", "pause", "Only a scheduled import can be paused; this one is ready."),
        ("completed", "stop", "The import is already completed; nothing to stop."),
        ("running", "run-now", "The import is already running."),
    ],
)
def test_an_illegal_action_shows_the_message_and_changes_nothing(
    alice_client, workspace_a, connection, status, action, message
):
    import_obj = add_import(workspace_a, connection, status=status)

    response = post(alice_client, import_obj, action)

    assert response.status_code == 302
    assert response["Location"] == detail_url(import_obj)
    assert messages_of(response) == [("error", message)]
    import_obj.refresh_from_db()
    assert import_obj.status == status
    page = alice_client.get(detail_url(import_obj)).content.decode()
    assert message in page.replace("&#x27;", "'")


def test_the_message_shows_after_the_redirect(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="scheduled")

    response = alice_client.post(detail_url(import_obj) + "resume/", follow=True)

    assert response.status_code == 200
    assert "Only a paused or stopped import can be resumed; this one is scheduled." in (
        response.content.decode()
    )
    assert 'class="message message-error"' in response.content.decode()


def test_actions_are_post_only(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="scheduled")

    for action in ("run-now", "pause", "resume"):
        assert alice_client.get(detail_url(import_obj) + f"{action}/").status_code == 405
    # Stop asks first: its address answers a GET with the confirmation, changing nothing.
    assert alice_client.get(detail_url(import_obj) + "stop/").status_code == 200
    import_obj.refresh_from_db()
    assert import_obj.status == "scheduled"


def test_an_unknown_action_is_404(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection)

    assert alice_client.post(detail_url(import_obj) + "explode/").status_code == 404


def test_actions_need_the_csrf_token(alice, workspace_a, connection):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    import_obj = add_import(workspace_a, connection, status="scheduled")

    assert client.post(detail_url(import_obj) + "pause/").status_code == 403
    import_obj.refresh_from_db()
    assert import_obj.status == "scheduled"


def test_delete_asks_first_then_deletes_the_import_and_its_runs(
    alice_client, alice, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="scheduled")
    add_run(import_obj)
    add_run(import_obj, ago=dt.timedelta(hours=2))

    confirm = alice_client.get(detail_url(import_obj) + "delete/")
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Delete “Users”?" in page
    assert "The import and its run history (2 runs, with their rejected rows)" in page
    assert ">Delete import</button>" in page
    assert Import.objects.filter(pk=import_obj.pk).exists()

    response = alice_client.post(detail_url(import_obj) + "delete/")

    assert response.status_code == 302
    assert response["Location"] == LIST
    assert not Import.objects.filter(pk=import_obj.pk).exists()
    assert not ImportRun.objects.filter(import_obj_id=import_obj.pk).exists()
    assert messages_of(response) == [("success", "Import “Users” deleted with its run history.")]
    [entry] = AuditEntry.objects.filter(action="import.deleted", actor=alice)
    assert (entry.target_label, entry.details) == (
        "Users",
        {"connection": import_obj.connection.name},
    )


def test_delete_warns_about_an_active_run(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="running")
    add_run(import_obj, status="running", ago=dt.timedelta(seconds=5))

    page = alice_client.get(detail_url(import_obj) + "delete/").content.decode()

    assert "A run is running: deleting stops it." in page


def test_deleting_an_import_twice_is_404(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection)
    alice_client.post(detail_url(import_obj) + "delete/")

    assert alice_client.post(detail_url(import_obj) + "delete/").status_code == 404
    assert alice_client.post(detail_url(import_obj) + "stop/").status_code == 404


def test_stopping_a_run_of_an_import_without_a_schedule_speaks_of_no_schedule(
    alice_client, workspace_a, connection
):
    import_obj = add_import(workspace_a, connection, status="running", schedule_kind="none")
    add_run(import_obj, status="running", ago=dt.timedelta(seconds=30))

    asked = alice_client.get(detail_url(import_obj) + "stop/").content.decode()
    response = post(alice_client, import_obj, "stop")

    assert "Stop ends the current run after its page." in asked
    assert "Pause" not in asked and "Resume schedule" not in asked
    assert messages_of(response) == [
        ("success", "“Users” stopped. A running run ends after the page it is writing.")
    ]


def test_stopping_a_scheduled_import_says_how_to_bring_the_schedule_back(
    alice_client, workspace_a, connection
):
    import_obj = add_import(
        workspace_a, connection, status="scheduled", schedule_kind="daily",
        schedule_time=dt.time(6), next_run_at=timezone.now() + dt.timedelta(hours=3),
    )  # fmt: skip

    asked = alice_client.get(detail_url(import_obj) + "stop/").content.decode()
    response = post(alice_client, import_obj, "stop")

    assert "clears the schedule; Pause keeps the schedule and can be resumed." in asked
    assert messages_of(response)[0][1].endswith("Resume schedule brings the schedule back.")


def test_a_ready_import_with_nothing_to_run_offers_no_stop(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="ready", schedule_kind="none")

    page = alice_client.get(detail_url(import_obj)).content.decode()
    asked = alice_client.get(detail_url(import_obj) + "stop/")

    assert f'href="{detail_url(import_obj)}stop/"' not in page
    assert messages_of(asked) == [
        ("error", "The import is ready with no run and nothing scheduled: nothing to stop.")
    ]


def test_a_stopped_run_is_not_shown_as_an_error(alice_client, workspace_a, connection):
    import_obj = add_import(workspace_a, connection, status="stopped")
    run = add_run(import_obj, status="cancelled", error_message="Stopped.")

    run_page = alice_client.get(run_url(run)).content.decode()
    # How the run the import's page was following ended.
    ended = alice_client.get(f"{detail_url(import_obj)}progress/?run={run.pk}").content.decode()

    assert 'id="run-stopped">Stopped.</p>' in run_page and "Error:" not in run_page
    assert '<dt>Outcome</dt><dd id="progress-stopped">Stopped.</dd>' in ended
    assert "<dt>Error</dt>" not in ended


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "delete/"), ("post", "run-now/"), ("post", "pause/"), ("post", "stop/")],
)
def test_an_action_on_an_import_another_admin_deleted_meanwhile_is_404(
    alice_client, workspace_a, connection, monkeypatch, method, path
):
    """Two admins press Delete (or another action) at once: the second request fetched the
    import before the first deleted it, and finds it gone under the lock."""
    import_obj = add_import(workspace_a, connection, status="ready")
    deleted_once_fetched(monkeypatch, views, "_get_import")

    response = getattr(alice_client, method)(detail_url(import_obj) + path)

    assert response.status_code == 404
    assert not Import.objects.filter(pk=import_obj.pk).exists()
    assert not AuditEntry.objects.filter(action__startswith="import.").exists()
