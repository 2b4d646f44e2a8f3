"""Benchmark: the Import Connections list with many connections in one workspace.

Seeds N connections (10,000 by default) into a scratch PostgreSQL database,
then requests the list page through Django's test client and prints the median
and p95 time and the number of SQL queries, for a few filter combinations.

    .venv/bin/python bench/connections_list.py  # uses DATABASE_URL, PostgreSQL
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402


def seed(rows: int):
    from workspaces.models import Membership, Workspace

    workspace = Workspace.objects.create(name="Bench", slug="bench")
    users = [get_user_model().objects.create_user(f"user{i}@bench.test") for i in range(20)]
    for user in users:
        Membership.objects.create(workspace=workspace, user=user, role="admin")
    seed_connections(workspace, users, rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connections_connection")
    return workspace, users


def seed_connections(workspace, users, rows: int) -> None:
    """N connections in `workspace`, one every 144 minutes up to now, spread over `users`."""
    from connections.models import Connection

    start = timezone.now() - dt.timedelta(days=rows // 10)
    Connection.objects.bulk_create(
        (
            Connection(
                workspace=workspace,
                name=f"connection-{i:06d}",
                project_id=f"project-{i % 97:04d}",
                dataset_id=f"dataset_{i}",
                encrypted_key="gAAAAA-bench",
                client_email=f"sa{i % 13}@project.iam.gserviceaccount.com",
                private_key_id=f"{i:040d}",
                created_at=start + dt.timedelta(minutes=144 * i),
                created_by=users[i % len(users)],
            )
            for i in range(rows)
        ),
        batch_size=2000,
    )


def measure(client: Client, url: str, params: dict, repeat: int) -> tuple[float, float, int]:
    client.get(url, params)  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    connection.settings_dict["TEST"]["NAME"] = "bench_bqimports"
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        workspace, users = seed(args.rows)
        print(f"seeded {args.rows:,} connections in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(users[0])
        url = f"/w/{workspace.slug}/settings/partners/bigquery/"
        today = timezone.localdate()
        scenarios = {
            "first page": {},
            "page 200": {"page": 200},
            "connected by one user": {"connected_by": users[3].pk},
            "connected on, last 30 days": {
                "connected_on_after": (today - dt.timedelta(days=30)).isoformat(),
                "connected_on_before": today.isoformat(),
            },
            "search + sort by connected by": {"q": "project-0042", "sort": "connected_by"},
        }
        print(f"{'scenario':32} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for name, params in scenarios.items():
            median, p95, queries = measure(client, url, params, args.repeat)
            print(f"{name:32} {median:10.1f} {p95:8.1f} {queries:8d}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
