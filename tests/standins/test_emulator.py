"""The emulator process and the stack's data helpers."""

from __future__ import annotations

import datetime

import requests
from google.cloud import bigquery

from standins import StandinStack
from standins.emulator import DEFAULT_DATASET


def test_emulator_answers_and_serves_any_project(standin_stack: StandinStack) -> None:
    emulator = standin_stack.emulator
    assert emulator.running
    response = requests.get(
        f"{emulator.rest_url}/bigquery/v2/projects/anything/datasets", timeout=5
    )
    assert response.status_code == 200 and response.json()["datasets"] == []
    assert ":" in emulator.grpc_target


def test_create_table_loads_rows_and_reset_drops_them(stack: StandinStack) -> None:
    project = "load-test-project"
    stack.create_dataset(project, "bulk", location="US")
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    rows = [
        {"id": i, "at": start + datetime.timedelta(minutes=i), "day": start.date(), "name": f"n{i}"}
        for i in range(1200)  # above the insertAll limit: goes through a load job
    ]
    stack.create_table(
        project,
        "bulk",
        "events",
        [
            bigquery.SchemaField("id", "INT64", mode="REQUIRED"),
            ("at", "TIMESTAMP"),
            {"name": "day", "type": "DATE"},
            ("name", "STRING"),
        ],
        rows,
    )
    key = stack.register_service_account(
        f"reader@{project}.iam.gserviceaccount.com", project_id=project
    )
    stack.grant(key.email, ["roles/bigquery.jobUser", "roles/bigquery.dataViewer"], project=project)
    client = stack.bigquery_client(key, project)
    [row] = client.query_and_wait(
        "SELECT COUNT(*) AS n, MAX(at) AS last FROM bulk.events", api_timeout=10
    )
    assert row["n"] == 1200
    assert row["last"] == start + datetime.timedelta(minutes=1199)

    stack.emulator.reset(projects=[project])
    assert stack.emulator.datasets(project) == []
    assert DEFAULT_DATASET in stack.emulator.datasets(stack.emulator.project)
