import contextlib
import datetime as dt
import gc
import uuid

import pytest

from imports import services
from tests.fixtures.standin_world import DATASET, PROJECT

USER_SCHEMA = [
    ("user_id", "STRING"),
    ("email", "STRING"),
    ("plan", "STRING"),
    ("updated_at", "TIMESTAMP"),
]
EVENT_SCHEMA = [
    ("user_id", "STRING"),
    ("event", "STRING"),
    ("ts", "TIMESTAMP"),
    ("amount", "INT64"),
]
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def user_rows(start: int, count: int, *, updated_at: dt.datetime = START) -> list[dict]:
    return [
        {
            "user_id": f"u{i}",
            "email": f"user{i}@example.com",
            "plan": "pro" if i % 3 == 0 else "free",
            "updated_at": (updated_at + dt.timedelta(minutes=i)).isoformat(),
        }
        for i in range(start, start + count)
    ]


def event_rows(start: int, count: int, *, day: int = 0) -> list[dict]:
    return [
        {
            "user_id": f"u{i % 50}",
            "event": "purchase" if i % 2 else "view",
            "ts": (START + dt.timedelta(days=day, seconds=i)).isoformat(),
            "amount": i,
        }
        for i in range(start, start + count)
    ]


def new_table(stack, schema, rows) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    stack.create_table(PROJECT, DATASET, name, schema, rows)
    return name


def make_import(connection, user, *, table: str, target: str = "profiles", **fields):
    definition = {
        "name": fields.pop("name", f"Import {table}"),
        "source_kind": "table",
        "source_table": table,
        "target": target,
        "identity_column": "user_id",
        "schedule_kind": "none",
    }
    if target == "profiles":
        definition["column_mapping"] = [
            {"column": "email", "property": "email", "include": True},
            {"column": "plan", "property": "plan", "include": True},
            {"column": "updated_at", "property": "updated_at", "include": False},
        ]
    else:
        definition.update(
            event_name_column="event",
            timestamp_column="ts",
            column_mapping=[{"column": "amount", "property": "amount", "include": True}],
        )
    definition.update(fields)
    return services.import_create(
        workspace=connection.workspace,
        connection=connection,
        created_by=user,
        definition=definition,
    )


@contextlib.contextmanager
def full_collections():
    """The full (generation 2) garbage collections asked for inside the block while automatic
    collection is off (the runner's own), as a list. An automatic one, which the interpreter
    may start before or after a run's pages as allocations (more under load) add up, is not
    counted."""
    collections: list[dict] = []

    def count(phase, info):
        if phase == "stop" and info["generation"] == 2 and not gc.isenabled():
            collections.append(info)

    gc.callbacks.append(count)  # the collector's own list: it cannot be swapped
    try:
        yield collections
    finally:
        gc.callbacks.remove(count)


@pytest.fixture
def customers_table(flow_tables):
    return flow_tables


@pytest.fixture
def connection(google, workspace_a, alice, customers_table):
    """A connection to Create Import's dataset; a module with another `connection` fixture
    overrides this one."""
    from tests.imports.test_create_flow import flow_connection

    return flow_connection(google, workspace_a, alice)
