"""Fixtures and the Hypothesis profile for the bad-input tests.

Every Hypothesis test here uses the "fuzz" profile through `tests.fuzz.hostile.fuzz`:
derandomized (the same examples on every run, so CI is never flaky), no deadline (a
2-core CI machine shares its cores with other suites) and no example database. Set
FUZZ_EXPLORE=1 to draw fresh random examples, ten times as many, when hunting locally.
"""

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings

from tests.fixtures.connections import make_connection
from tests.fuzz.hostile import SMALL_KEY_INFO
from tests.imports.conftest import make_import

EXPLORE = bool(os.environ.get("FUZZ_EXPLORE"))

settings.register_profile(
    "fuzz",
    derandomize=not EXPLORE,
    database=None,
    deadline=None,
    print_blob=True,
    # Client-driven tests reuse one signed-in client and one database transaction for all
    # their examples; that is the point (nothing may be saved), not an accident.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

BASE = "/w/acme/settings/partners/bigquery"

# A source schema as the server would have fetched it (the browser never supplies one).
SCHEMA = [
    {"name": "user_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "email", "type": "STRING", "mode": "NULLABLE"},
    {"name": "event", "type": "STRING", "mode": "NULLABLE"},
    {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "visits", "type": "INT64", "mode": "NULLABLE"},
    {"name": "score", "type": "FLOAT64", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "day", "type": "DATE", "mode": "NULLABLE"},
]
COLUMNS = [c["name"] for c in SCHEMA]


@pytest.fixture
def connection(workspace_a, alice):
    return make_connection(workspace_a, alice, info=SMALL_KEY_INFO)


@pytest.fixture
def import_obj(connection, alice):
    return make_import(connection, alice, table="users", name="Nightly users")


def target_data(**fields) -> dict[str, str]:
    """A valid Target step for SCHEMA (profiles keyed by user_id), with `fields` over it."""
    data = {"target": "profiles", "identity_column": "user_id", "event_name_source": "column"}
    for index, column in enumerate(COLUMNS):
        data[f"property_{index}"] = column
        data[f"include_{index}"] = "on"
    data.update(fields)
    return data


STEP_DATA = {
    "target": target_data(),
    "sync": {"sync_mode": "full", "cursor_column": ""},
    "schedule": {"schedule_kind": "none"},
}


def seed_draft(client, connection, *, upto: str) -> str:
    """Put a draft in the client's session whose steps before `upto` are done.

    The source step is what the server fetched from BigQuery (tests of that step use the
    stand-ins); the later steps only read the draft, so they need no Google at all.
    """
    draft_id = str(uuid.uuid4())
    draft = {
        "connection": str(connection.pk),
        "touched": "2026-01-01T00:00:00+00:00",
        "source": {
            "kind": "table",
            "table": "users",
            "schema": SCHEMA,
            "info": {
                "name": "users",
                "kind": "TABLE",
                "num_rows": 3,
                "num_bytes": 10,
                "modified": None,
            },
            "data": {"source_kind": "table", "table": "users"},
        },
    }
    for step in ("target", "sync", "schedule"):
        if step == upto:
            break
        draft[step] = {"data": dict(STEP_DATA[step])}
    session = client.session
    session["import_drafts"] = {draft_id: draft}
    session.save()
    return draft_id


def step_url(connection, draft_id: str, step: str) -> str:
    return f"{BASE}/{connection.pk}/imports/new/{draft_id}/{step}/"


def draft_step(client, draft_id: str, step: str):
    return client.session["import_drafts"][draft_id].get(step)


@pytest.fixture
def forget_signin_failures():
    """Sign-in failures are counted in the cache, which outlives a test; start and end clean."""
    from workspaces.signin import PER_ACCOUNT, PER_ACCOUNT_AND_ADDRESS, PER_ADDRESS, Brake

    request = type("Request", (), {"META": {"REMOTE_ADDR": "127.0.0.1"}})()  # the test client's
    used: list[str] = []

    def clear(username: str) -> None:
        brake = Brake(request, username)
        PER_ACCOUNT_AND_ADDRESS.clear(brake.pair)
        PER_ADDRESS.clear(brake.address)
        PER_ACCOUNT.clear(brake.account)

    def forget(username: str) -> None:
        used.append(username)
        clear(username)

    yield forget
    for username in used:
        clear(username)
