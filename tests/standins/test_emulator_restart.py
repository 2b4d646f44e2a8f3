"""Starting the emulator afresh behind the same gates (what the suite does between modules
once the emulator has grown): its data is gone, and the REST gate and the Storage Read
gate answer from the new one at once, on the same addresses."""

from __future__ import annotations

import os
import signal

import pytest

from standins import StandinStack
from standins.emulator import DEFAULT_DATASET, free_port
from tests.fixtures.google import _EmulatorRenewal
from tests.fixtures.standin_world import DATASET as SEEDED
from tests.fixtures.standin_world import PROJECT, USERS, seed
from tests.fixtures.waiting import wait_for
from tests.standins.test_storage_gate import open_stream, read_ids

DATASET = "kept_until_restart"
TABLE = f"projects/{PROJECT}/datasets/{DATASET}/tables/t"


@pytest.fixture
def own_stack() -> StandinStack:
    """A stack of its own: restarting the session's would drop every module's tables."""
    with StandinStack() as stack:
        stack.create_project(PROJECT)
        yield stack


def storage_ids(stack: StandinStack, key) -> list[int]:
    client = stack.storage_client(key)
    return read_ids(client, open_stream(client, TABLE))


def load(stack: StandinStack, ids: range) -> None:
    stack.create_dataset(PROJECT, DATASET, location="US")
    stack.create_table(PROJECT, DATASET, "t", [("id", "INT64")], [{"id": i} for i in ids])


def test_a_restart_drops_the_data_and_both_gates_read_the_new_emulator(
    own_stack: StandinStack,
) -> None:
    stack = own_stack
    key = stack.register_service_account(
        f"reader@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project=PROJECT)
    stack.grant(key.email, "roles/bigquery.dataViewer", project=PROJECT)
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    load(stack, range(3))
    assert storage_ids(stack, key) == [0, 1, 2]
    addresses = (stack.bigquery_endpoint, stack.grpc_target, stack.emulator.rest_url)
    memory = stack.emulator.rss_bytes()
    assert memory is not None and memory > 10 * 1024 * 1024

    stack.restart_emulator()

    assert (stack.bigquery_endpoint, stack.grpc_target, stack.emulator.rest_url) == addresses
    assert stack.emulator.datasets(PROJECT) == []
    assert stack.emulator.datasets(stack.emulator.project) == [DEFAULT_DATASET]
    load(stack, range(10, 15))
    # Straight after the restart, through the gates, as the app reads.
    assert storage_ids(stack, key) == [10, 11, 12, 13, 14]
    client = stack.bigquery_client(key, project=PROJECT)
    rows = client.list_rows(f"{PROJECT}.{DATASET}.t")
    assert sorted(row["id"] for row in rows) == [10, 11, 12, 13, 14]


def test_an_emulator_that_died_is_started_again_before_the_next_test(
    own_stack: StandinStack,
) -> None:
    """A crash of the stand-in fails at most the test it happened in: the next test finds
    it answering and seeded, the tables its module keeps are made again, and the summary
    names the crash."""
    stack = own_stack
    seed(stack)
    renewal = _EmulatorRenewal()
    renewal.started(stack)
    made: list[str] = []

    def make_table(stack: StandinStack) -> str:
        stack.create_table(PROJECT, SEEDED, "kept", [("id", "INT64")], [{"id": 1}])
        made.append("kept")
        return "kept"

    assert renewal.kept("kept", make_table, stack) == "kept"
    assert renewal.kept("kept", make_table, stack) == "kept"
    assert made == ["kept"]  # made once while the emulator lives
    renewal.before_test("tests/first.py::test_one")
    assert renewal.crashes == []
    # A process that runs but takes no connections (a shutdown stuck on a request closes
    # the REST port and keeps the Storage Read one) does not answer either.
    port, stack.emulator.port = stack.emulator.port, free_port()
    assert stack.emulator.running and not stack.emulator.answering()
    stack.emulator.port = port

    pid = stack.emulator.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not stack.emulator.answering(), timeout=10, database=False)
    renewal.before_test("tests/second.py::test_two")

    assert stack.emulator.answering()
    [crash] = renewal.crashes
    assert crash.startswith(f"before tests/second.py::test_two: exit code {-signal.SIGKILL}")
    users = stack.emulator.api("GET", f"/projects/{PROJECT}/datasets/{SEEDED}/tables/users")
    assert int(users["numRows"]) == len(USERS)
    # Made again at once, before the test asks (outside its database transaction).
    assert made == ["kept", "kept"]
    assert stack.emulator.api("GET", f"/projects/{PROJECT}/datasets/{SEEDED}/tables/kept")
    assert renewal.kept("kept", make_table, stack) == "kept"
    assert made == ["kept", "kept"]
    assert renewal.renewals == 0  # counts only the restarts for growth

    # Started afresh for growth between modules: made again when a module next asks.
    renewal.GROWTH = -(2**40)
    renewal.between_modules()
    assert renewal.renewals == 1 and made == ["kept", "kept"]
    assert renewal.kept("kept", make_table, stack) == "kept"
    assert made == ["kept", "kept", "kept"]
