"""The README's pipeline example, run as it is: curl and jq against the app over HTTP, a
real Celery worker doing the import."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import make_token
from tests.imports.conftest import EVENT_SCHEMA, event_rows, make_import, new_table

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "examples" / "run-import-and-wait.sh"


@pytest.fixture
def worker_env(google_worker_env):
    return google_worker_env


def run_script(live_server, workspace, token: str, import_obj) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "BQI_URL": live_server.url,
        "BQI_TOKEN": token,
        "BQI_WORKSPACE": workspace.slug,
        "BQI_IMPORT": str(import_obj.pk),
        "BQI_POLL_SECONDS": "0.5",
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_readme_shows_the_script_as_it_is():
    assert SCRIPT.read_text() in (ROOT / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_script_runs_an_import_and_waits_for_its_end(
    live_server, celery_worker, google, bq_connection, alice, workspace_a
):
    table = new_table(google.stack, EVENT_SCHEMA, event_rows(0, 300))
    import_obj = make_import(bq_connection, alice, table=table, target="events")

    done = run_script(live_server, workspace_a, make_token(alice, workspace_a, "run"), import_obj)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("queued run ")
    assert done.stdout.rstrip().endswith("succeeded: 300 rows written, 0 unchanged, 0 rejected")


@pytest.mark.django_db(transaction=True)
def test_the_script_fails_with_the_apis_message(live_server, alice, bob, workspace_a):
    from tests.connections.conftest import make_connection

    import_obj = make_import(make_connection(workspace_a, alice), alice, table="users")

    done = run_script(live_server, workspace_a, make_token(bob, workspace_a, "read"), import_obj)

    assert done.returncode == 1
    assert "could not start a run:" in done.stderr
    assert '"code":"insufficient_scope"' in done.stderr
