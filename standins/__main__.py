"""``python -m standins serve``: run the whole stand-in stack in the foreground.

Starts the BigQuery emulator, the token endpoint and the two gates (REST, and the Storage Read
API over gRPC), creates a demo project with a dataset of sample data and a service account
allowed to use it, writes that account's key to a file, prints the addresses, and runs until
interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from standins.emulator import Emulator
from standins.stack import StandinStack
from standins.token_server import GOOGLE_TOKEN_URI

PLANS = ("free", "starter", "pro", "enterprise")
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "IN", "JP")
EVENTS = ("signed_up", "logged_in", "viewed_page", "added_to_cart", "purchased")


def sample_users(count: int, rng: random.Random) -> list[dict[str, Any]]:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return [
        {
            "user_id": f"user_{i:06d}",
            "email": f"user{i}@example.com",
            "name": f"User {i}",
            "plan": rng.choice(PLANS),
            "country": rng.choice(COUNTRIES),
            "created_at": start + datetime.timedelta(minutes=rng.randrange(525_600)),
            "updated_at": start + datetime.timedelta(minutes=525_600 + i),
        }
        for i in range(count)
    ]


def sample_events(users: list[dict[str, Any]], count: int, rng: random.Random) -> list[dict]:
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    return [
        {
            "event_id": f"evt_{i:08d}",
            "user_id": rng.choice(users)["user_id"],
            "event": rng.choice(EVENTS),
            "ts": start + datetime.timedelta(seconds=i * 37),
            "amount": round(rng.uniform(1, 500), 2) if rng.random() < 0.2 else None,
        }
        for i in range(count)
    ]


USER_SCHEMA = [
    ("user_id", "STRING", "REQUIRED"),
    ("email", "STRING"),
    ("name", "STRING"),
    ("plan", "STRING"),
    ("country", "STRING"),
    ("created_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
]
EVENT_SCHEMA = [
    ("event_id", "STRING", "REQUIRED"),
    ("user_id", "STRING"),
    ("event", "STRING"),
    ("ts", "TIMESTAMP"),
    ("amount", "FLOAT64"),
]


def serve(args: argparse.Namespace) -> int:
    emulator = Emulator(
        host=args.host, port=args.emulator_port, grpc_port=args.grpc_port, data_dir=args.data_dir
    )
    stack = StandinStack(
        host=args.host,
        gate_port=args.port,
        token_port=args.token_port,
        storage_port=args.storage_port,
        emulator=emulator,
    )
    print("Starting the BigQuery emulator...", flush=True)
    stack.start()
    try:
        stack.create_project(args.project)
        key = _service_account(stack, args)
        if args.dataset not in stack.emulator.datasets(args.project):
            rng = random.Random(args.seed)  # noqa: S311 - sample data, not security
            users = sample_users(args.users, rng)
            stack.create_dataset(args.project, args.dataset, location=args.location)
            stack.create_table(args.project, args.dataset, "users", USER_SCHEMA, users)
            stack.create_table(
                args.project,
                args.dataset,
                "events",
                EVENT_SCHEMA,
                sample_events(users, args.events, rng),
            )
        stack.grant(key.email, "roles/bigquery.jobUser", project=args.project)
        stack.grant(key.email, "roles/bigquery.dataViewer", project=args.project)
        stack.grant(key.email, "WRITER", project=args.project, dataset=args.dataset)
        # The connection's default scratch dataset (each run's result table), made here as
        # an admin would: the account may not create datasets.
        scratch = f"{args.dataset}_imports_tmp"
        if scratch not in stack.emulator.datasets(args.project):
            stack.create_dataset(args.project, scratch, location=args.location)
        stack.grant(key.email, "WRITER", project=args.project, dataset=scratch)
        # Without it the Storage Read API is denied and imports read with REST paging.
        stack.grant(key.email, "roles/bigquery.readSessionUser", project=args.project)

        print(
            f"""
Google stand-ins are running (Ctrl-C to stop):
  token endpoint         {stack.token_uri}
  BigQuery (gated)       {stack.bigquery_endpoint}
  Resource Manager       {stack.resource_manager_endpoint}
  Storage Read API       {stack.grpc_target} (gRPC, gated)
  BigQuery emulator      {stack.emulator.rest_url} (ungated)
  emulator Storage API   {stack.emulator_grpc_target} (gRPC, ungated)
  project / dataset      {args.project} / {args.dataset} ({args.location}): tables users, events
  service-account key    {args.key_file} ({key.email})

Point the app at them:
  GOOGLE_TOKEN_URI={stack.token_uri}
  BIGQUERY_API_ENDPOINT={stack.bigquery_endpoint}
  RESOURCE_MANAGER_ENDPOINT={stack.resource_manager_endpoint}
  BIGQUERY_STORAGE_TARGET={stack.grpc_target}
""",
            flush=True,
        )
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
    finally:
        stack.stop()
    return 0


def _service_account(stack: StandinStack, args: argparse.Namespace) -> Any:
    """Reuse the key file from an earlier run (so a saved connection keeps working)."""
    path = Path(args.key_file)
    if path.exists():
        info = json.loads(path.read_text())
        if info.get("client_email") == args.service_account:
            return stack.token_server.import_key(info)
    key = stack.register_service_account(
        args.service_account, project_id=args.project, token_uri=GOOGLE_TOKEN_URI
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key.to_json())
    path.chmod(0o600)
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m standins", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the stand-in stack in the foreground")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=9050, help="gate (BigQuery + CRM) port")
    run.add_argument("--token-port", type=int, default=9051, help="token endpoint port")
    run.add_argument(
        "--storage-port", type=int, default=9052, help="Storage Read API gate (gRPC) port"
    )
    run.add_argument("--emulator-port", type=int, default=0, help="emulator REST (0: any)")
    run.add_argument("--grpc-port", type=int, default=0, help="emulator gRPC (0: any)")
    run.add_argument("--data-dir", help="keep emulator data here (default: temporary)")
    run.add_argument("--project", default="demo-project")
    run.add_argument("--dataset", default="demo")
    run.add_argument("--location", default="US")
    run.add_argument("--users", type=int, default=1000, help="sample users to create")
    run.add_argument("--events", type=int, default=5000, help="sample events to create")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument(
        "--service-account", default="demo-importer@demo-project.iam.gserviceaccount.com"
    )
    run.add_argument("--key-file", default="demo-service-account.json")
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
