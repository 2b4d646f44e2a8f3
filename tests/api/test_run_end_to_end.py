"""A pipeline step as the README shows it, over real HTTP: trigger a run with a token, then
poll the run until it ends. A real Celery worker runs the import against the stand-ins."""

import time

import pytest
import requests

from audience.models import Event
from tests.api.conftest import make_token
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

pytestmark = pytest.mark.slow

ENDED = {"succeeded", "succeeded_with_rejections", "failed", "cancelled"}  # as the README polls


@pytest.fixture
def worker_env(google_worker_env):
    """The worker reaches Google through the stand-ins only."""
    return google_worker_env


def poll_until_ended(session, url, timeout=120.0) -> tuple[dict, list[str]]:
    """GET the run until its status is final; returns it and every status seen."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        response = session.get(url, timeout=10)
        assert response.status_code == 200, response.text
        run = response.json()
        seen.append(run["status"])
        if run["status"] in ENDED:
            return run, seen
        time.sleep(0.5)
    raise AssertionError(f"the run did not end; statuses seen: {seen[-5:]}")


@pytest.mark.django_db(transaction=True)
def test_a_run_triggered_through_the_api_runs_on_a_worker_and_is_polled_to_the_end(
    live_server, celery_worker, google, bq_connection, alice, workspace_a
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 1200))
    import_obj = make_import(bq_connection, alice, table=table, target="events")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {make_token(alice, workspace_a, 'run')}"
    base = f"{live_server.url}/api/v1/workspaces/{workspace_a.slug}"

    started = session.post(f"{base}/imports/{import_obj.pk}/runs/", timeout=10)

    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    location = started.headers["Location"]
    assert location == f"{base}/imports/runs/{started.json()['id']}/"
    again = session.post(f"{base}/imports/{import_obj.pk}/runs/", timeout=10)
    assert again.status_code in (202, 409)  # 202 only if the first run already ended
    if again.status_code == 409:
        assert again.json()["error"]["code"] == "import_running"

    run, seen = poll_until_ended(session, location)

    assert run["status"] == "succeeded", run["error_message"]
    assert (run["rows_read"], run["rows_written"], run["rows_rejected"]) == (1200, 1200, 0)
    assert run["progress"] == 1.0 and run["finished_at"]
    assert seen[-1] == "succeeded"
    assert Event.objects.count() == 1200
    detail = session.get(f"{base}/imports/{import_obj.pk}/", timeout=10).json()
    assert detail["latest_run"]["id"] == run["id"]
    assert detail["status"] == "completed"
