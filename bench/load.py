"""Benchmark: signed-in admins browsing the app while a large events import runs.

The load test of the hardening issue, in one command. It creates a scratch PostgreSQL
database, seeds one workspace with N admins, 10,000 connections and 100,000 import runs
(50 per import, so 2,000 imports), loads a 1,000,000-row events table into the local
BigQuery stand-in and creates an import of it (bench/import_runner.py's stand-ins and
import). Then it starts gunicorn with 4 workers and a Celery worker on loopback, and:

1. runs the import with nothing else going on: its idle throughput (rows/s);
2. starts the virtual users, locust's FastHttpUser in a child process
   (bench/_load_client.py). Each signs in once: the sign-in page, then the form POSTed
   with its CSRF token. When all have, one more admin browses alone for a few rounds
   without pauses (what each page costs with the machine to itself); then the import runs
   again (the events table emptied first, so both runs write the same rows into an empty
   table) while the users browse for S seconds. A round is the Import Connections
   dashboard (first page, a deeper page, or filtered by Connected By, Connected On,
   search, sort or status), a connection's page, the imports list, an import's page (half
   the time the running one, whose progress fragment the user then polls every 2 s three
   times, as htmx does) and a run's page, with 1-5 s of think time between pages (each
   user starts at a random point of a pause): a brisk admin, so 50 of them ask for about
   15 pages a second when the app keeps up.

It prints requests, errors (by page kind and status or exception), p50/p95/p99 overall and
per page kind, for the whole window and for the requests sent while the import ran, the
import's rows/s idle and under load, where the CPU went, and verdicts against the targets:
p95 under 300 ms while the import runs, zero errors, and the import under load within 20 %
of its idle throughput. Sign-in is reported apart and is outside the window: it checks a
PBKDF2 hash, slow by design. No figure is asserted; the script fails only when something
does not run.

    .venv/bin/pip install 'locust==2.47.0'   # once: pyproject.toml's `bench` extra
    .venv/bin/python bench/load.py           # the issue's figures; ~10 minutes on 2 CPUs
    .venv/bin/python bench/load.py --users 10 --seconds 15 --connections 1000 \\
        --runs 10000 --rows 50000            # a quick try
    .venv/bin/python bench/load.py --skip-page 'imports list'   # the other pages alone

The app runs with the production settings (APP_ENV=production, DEBUG off, secrets made up
for the run, the manifest static storage, Secure cookies, the PBKDF2 hasher) and the
environment docker-compose.yml gives its web service: TLS ends at a proxy in front of
gunicorn, which says so with X-Forwarded-Proto (TRUST_X_FORWARDED_PROTO=true,
SECURE_SSL_REDIRECT=false). The virtual users play browser and proxy: they send that
header over the loopback hop, and their cookie jar sends the Secure cookies over it. The
one departure from production, bench/_load_settings.py, points STATIC_ROOT at a scratch
folder for collectstatic. PostgreSQL is DATABASE_URL's server (default 127.0.0.1:5432,
user postgres); Redis db 14 is the broker and the cache, emptied before and after. The
emulator has to be installed (bin/install-emulator). Everything shares the machine with
the load generator, so on a small machine the figures say as much about the CPUs as about
the app: the CPU table shows who used them, other programs included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
SCRATCH_DB = "bench_load"
RUNS_PER_IMPORT = 50
SUCCEEDED = ("succeeded", "succeeded_with_rejections")
FINISHED = (*SUCCEEDED, "failed", "cancelled")
PAGE_KINDS = (
    "dashboard",
    "dashboard: page N",
    "dashboard: filtered",
    "connection detail",
    "imports list",
    "import detail",
    "progress fragment",
    "run page",
)

# The web and worker processes get the same broker and keys as this one, which seeds the
# connection (its key is encrypted with FERNET_KEYS) and enqueues the runs.
os.environ["REDIS_URL"] = REDIS_URL
os.environ["FERNET_KEYS"] = Fernet.generate_key().decode()
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)

import connections_list  # noqa: E402 - sets up Django (config.settings_test)
import import_runner  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

# -- seeding ---------------------------------------------------------------------------------------


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(workspace: Any, n_users: int, n_connections: int, n_runs: int) -> dict[str, Any]:
    """Admins, connections, imports and runs in the workspace of the import under test."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from connections.models import Connection
    from imports.models import Import, ImportRun, RejectedRow
    from workspaces.models import Membership

    # One hash for every admin: hashing is slow by design, and the web processes check it
    # with the production hasher, not the test settings' MD5.
    password = secrets.token_urlsafe(16)
    hasher = PBKDF2PasswordHasher()
    encoded = hasher.encode(password, hasher.salt())
    users = get_user_model().objects.bulk_create(
        get_user_model()(
            username=f"admin{i:03d}@load.bench", email=f"admin{i:03d}@load.bench", password=encoded
        )
        for i in range(n_users)
    )
    Membership.objects.bulk_create(
        Membership(workspace=workspace, user=user, role="admin") for user in users
    )
    connections_list.seed_connections(workspace, users, n_connections)
    connection_ids = list(
        Connection.objects.filter(workspace=workspace, name__startswith="connection-")
        .order_by("created_at")
        .values_list("pk", flat=True)
    )

    now = timezone.now()
    schema = [{"name": name, "type": kind} for name, kind in import_runner.SCHEMA]
    mapping = [
        {"column": name, "property": name, "include": True}
        for name in import_runner.PROPERTY_COLUMNS
    ]
    n_imports = max(1, n_runs // RUNS_PER_IMPORT)
    imports = []
    for k in range(n_imports):
        events = k % 3 != 0
        kind = (
            "completed",
            "completed",
            "completed",
            "completed",
            "scheduled",
            "scheduled",
            "scheduled",
            "scheduled",
            "paused",
            "failed",
        )[k % 10]
        imports.append(
            Import(
                workspace=workspace,
                connection_id=connection_ids[(k * 5) % len(connection_ids)],
                name=f"{'Events' if events else 'Profiles'} {k:05d}",
                source_kind="table",
                source_table=f"events_{k % 40}",
                source_schema=schema,
                target="events" if events else "profiles",
                identity_column="user_id",
                event_name_column="event" if events else "",
                timestamp_column="ts" if events else "",
                column_mapping=mapping,
                schedule_kind="none" if kind == "completed" else "daily",
                schedule_time=None if kind == "completed" else dt.time(3, k % 60),
                status=kind,
                next_run_at=now + dt.timedelta(days=1) if kind == "scheduled" else None,
                last_error="Google rejected the key (bench)." if kind == "failed" else "",
                created_by=users[k % len(users)],
            )
        )
    Import.objects.bulk_create(imports, batch_size=1000)

    def runs() -> Iterator[ImportRun]:
        for i in range(n_runs):
            k, j = i % n_imports, i // n_imports
            import_obj = imports[k]
            scheduled = now - dt.timedelta(hours=6 * (j + 1), seconds=k)
            rows = 10_000 + (k * 7919 + j * 104_729) % 90_000
            status = "succeeded"
            if (k + j) % 20 == 0:
                status = "failed"
            elif (k + j) % 50 == 7:
                status = "cancelled"
            rejected = rows % 7 if (k + j) % 10 == 3 else 0
            if status == "succeeded" and rejected:
                status = "succeeded_with_rejections"
            written = rows if status in SUCCEEDED else rows // 3
            started = scheduled + dt.timedelta(seconds=2)
            yield ImportRun(
                import_obj=import_obj,
                workspace=workspace,
                scheduled_for=scheduled,
                trigger="schedule",
                status=status,
                started_at=started,
                finished_at=started + dt.timedelta(seconds=1 + rows / 20_000),
                attempts=1,
                enqueued_at=scheduled,
                rows_expected=rows,
                rows_read=written,
                rows_written=written - rejected,
                rows_rejected=rejected,
                bytes_scanned=rows * 120,
                committed_offset=written,
                job_id=f"bench-job-{k}-{j}",
                result_table=f"bench-analytics._anon.result_{k}_{j}",
                read_path="storage",
                error_message="The dataset was not found (bench)." if status == "failed" else "",
            )

    run_ids: list[str] = []
    for batch in chunks(runs(), 10_000):
        ImportRun.objects.bulk_create(batch)
        run_ids.extend(str(run.pk) for run in batch)
        rejected = [
            RejectedRow(
                run=run,
                row_number=n * 1000 + 17,
                reason="no identity (user_id is empty)",
                data={"user_id": None, "event": "page_view", "ts": "2026-01-01T00:00:00Z"},
            )
            for run in batch
            if run.rows_rejected
            for n in range(3)
        ]
        RejectedRow.objects.bulk_create(rejected, batch_size=5000)
    with connection.cursor() as cursor:
        # auto_now_add stamped every seeded row with this minute; spread them as in real life
        cursor.execute(
            "UPDATE imports_importrun SET created_at = scheduled_for "
            "WHERE workspace_id = %s AND job_id LIKE 'bench-job-%%'",
            [workspace.pk],
        )
        cursor.execute(
            "UPDATE imports_import i SET created_at = c.created_at + interval '1 minute' "
            "FROM connections_connection c "
            "WHERE i.connection_id = c.id AND c.name LIKE 'connection-%%' "
            "AND i.workspace_id = %s",
            [workspace.pk],
        )
        cursor.execute("ANALYZE")
    today = timezone.localdate()
    return {
        "accounts": [{"username": user.username, "password": password} for user in users],
        "slug": workspace.slug,
        "connection_ids": [str(pk) for pk in connection_ids],
        "connected_by": [user.pk for user in users],
        "dashboard_pages": max(2, math.ceil((n_connections + 1) / 25)),
        "import_ids": [str(import_obj.pk) for import_obj in imports],
        "imports_pages": max(2, math.ceil((n_imports + 1) / 25)),
        "run_ids": run_ids[:: max(1, len(run_ids) // 5000)],
        "today": today.isoformat(),
        "month_ago": (today - dt.timedelta(days=30)).isoformat(),
    }


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(stack: Any, static_root: Path) -> dict[str, str]:
    db = connection.settings_dict
    credentials = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    database_url = (
        f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench._load_settings",
        "BENCH_STATIC_ROOT": str(static_root),
        "APP_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "FERNET_KEYS": os.environ["FERNET_KEYS"],
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # as docker-compose.yml's web service: TLS ends at the proxy in front
        "TRUST_X_FORWARDED_PROTO": "true",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "GOOGLE_TOKEN_URI": stack.token_uri,
        "BIGQUERY_API_ENDPOINT": stack.bigquery_endpoint,
        "RESOURCE_MANAGER_ENDPOINT": stack.resource_manager_endpoint,
        "BIGQUERY_STORAGE_TARGET": stack.grpc_target,
    }


class Processes:
    """The child processes, each in its own process group so that stopping one stops its
    workers too; stopped by their own ids, never by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str], **kwargs: Any):
        with open(self.folder / f"{name}.log", "wb") as log:  # the child keeps its copy
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stderr=log,
                start_new_session=True,
                **({"stdout": log} | kwargs),
            )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, sig: int = signal.SIGTERM, wait: float = 15.0) -> None:
        process = self.started.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.started):
            self.stop(name)


def wait_for(check, what: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {process.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what}: not ready after {timeout:.0f} s")


def healthy(base_url: str) -> bool:
    url = f"{base_url}/healthz"
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.status == 200


# -- CPU accounting --------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (gunicorn's workers, the Celery pool, the emulator's)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def machine_busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


MACHINE = "machine (all processes)"
POSTGRES = "PostgreSQL (sessions on the scratch database)"


class ScratchSessions:
    """CPU of the PostgreSQL backends serving the scratch database, polled every half
    second: Celery closes its session after each task, so a snapshot at the end would miss
    the import's. The server's shared processes (WAL writer, checkpointer) are not counted."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sessions(self) -> dict[int, float]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [SCRATCH_DB])
            return {pid: import_runner.proc_cpu_seconds(pid) for (pid,) in cursor.fetchall()}

    def begin(self) -> None:
        self.first = self.sessions()
        self.last = dict(self.first)

    def poll(self) -> None:
        self.last.update({pid: cpu for pid, cpu in self.sessions().items() if cpu})

    def spent(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


SESSIONS = ScratchSessions()


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        name: sum(import_runner.proc_cpu_seconds(pid) for pid in pids)
        for name, pids in groups.items()
    }
    snapshot["this process (stand-in gate, token endpoint)"] = import_runner.self_cpu_seconds()
    snapshot[MACHINE] = machine_busy_seconds()
    snapshot["wall"] = time.time()
    return snapshot


def cpu_spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    spent = {name: after[name] - before[name] for name in after}
    spent[POSTGRES] = SESSIONS.spent()
    return spent


# -- the import ------------------------------------------------------------------------------------


class RunWatch:
    """Progress samples of one run: (unix time, rows written), every half second."""

    def __init__(self, run_id: Any) -> None:
        self.run_id = run_id
        self.samples: list[tuple[float, int]] = []
        self.row: dict[str, Any] = {}

    def sample(self) -> dict[str, Any]:
        from imports.models import ImportRun

        self.row = ImportRun.objects.values(
            "status",
            "rows_written",
            "rows_expected",
            "started_at",
            "finished_at",
            "read_path",
            "error_message",
        ).get(pk=self.run_id)
        self.samples.append((time.time(), self.row["rows_written"]))
        SESSIONS.poll()
        return self.row

    @property
    def finished(self) -> bool:
        return self.row.get("status") in FINISHED

    def wait(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.finished and time.monotonic() < deadline:
            self.sample()
            time.sleep(0.5)
        if not self.finished:
            raise SystemExit(f"the run did not finish within {timeout:.0f} s")
        if self.row["status"] not in SUCCEEDED:
            raise SystemExit(f"the run ended {self.row['status']}: {self.row['error_message']}")
        return self.row

    @property
    def started(self) -> float:
        return self.row["started_at"].timestamp()

    @property
    def seconds(self) -> float:
        return (self.row["finished_at"] - self.row["started_at"]).total_seconds()

    def rows_at(self, moment: float) -> float:
        """Rows written by `moment`, interpolated between samples."""
        if self.finished and moment >= self.row["finished_at"].timestamp():
            return self.row["rows_written"]
        previous = (self.started, 0)
        for sample in self.samples:
            if sample[0] >= moment:
                (t0, r0), (t1, r1) = previous, sample
                return r0 + (r1 - r0) * (moment - t0) / (t1 - t0) if t1 > t0 else r1
            if sample[0] >= self.started:
                previous = sample
        return previous[1]


def run_import(import_obj: Any, actor: Any) -> RunWatch:
    from imports import services

    run = services.import_run_now(import_obj=import_obj, actor=actor)  # enqueued on commit
    watch = RunWatch(run.pk)
    watch.sample()
    return watch


def empty_events_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audience_event")
    import_runner.checkpoint()


def drop_scratch_db(old_name: str) -> None:
    """Drop the scratch database, ending any session the stopped processes left behind."""
    assert connection.settings_dict["NAME"] == SCRATCH_DB
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [SCRATCH_DB],
        )
    connection.creation.destroy_test_db(old_name, verbosity=0)


# -- the report ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latencies(
    stamped: dict[str, list[list[float]]], span: tuple[float, float] | None = None
) -> dict[str, list[float]]:
    """Milliseconds by page kind, of the requests sent within `span` (unix times) if given."""
    return {
        name: [ms for sent, ms in pairs if span is None or span[0] <= sent <= span[1]]
        for name, pairs in stamped.items()
    }


def print_latencies(times: dict[str, list[float]], errors: dict[str, int]) -> list[float]:
    every = [value for values in times.values() for value in values]
    print(
        f"{'page kind':22} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    rows = sorted(times.items()) + [("all", every)]
    for name, values in rows:
        failed = sum(
            count for key, count in errors.items() if name == "all" or key.startswith(f"{name}: ")
        )
        if not values:
            continue
        print(
            f"{name:22} {len(values):>9,} {failed:>7,} {percentile(values, 50):>8.0f} "
            f"{percentile(values, 95):>8.0f} {percentile(values, 99):>8.0f} "
            f"{max(values):>8.0f}"
        )
    return every


def compare_import(idle: RunWatch, loaded: RunWatch, window: tuple[float, float]):
    """Loaded and idle rows/s over the same stretch of the run.

    When the loaded run finished inside the window, both whole runs are compared. When it
    outlasted the window, the rows it wrote from its start to the window's end are compared
    with the rows the idle run had written the same number of seconds after its start.
    """
    rows = loaded.row["rows_written"]
    if loaded.row["finished_at"].timestamp() <= window[1] + 1:
        return (
            "whole runs",
            rows / loaded.seconds,
            idle.row["rows_written"] / idle.seconds,
        )
    elapsed = window[1] - loaded.started
    return (
        f"first {elapsed:.0f} s of each run (the loaded one outlasted the window)",
        loaded.rows_at(window[1]) / elapsed,
        idle.rows_at(idle.started + elapsed) / elapsed,
    )


def print_cpu(idle: dict[str, float], window: dict[str, float]) -> None:
    cpus = os.cpu_count() or 1
    print(f"\nCPU seconds ({cpus} CPUs){'idle import':>40} {'load window':>12}")
    for name in window:
        if name not in (MACHINE, "wall"):
            print(f"  {name:48} {idle.get(name, float('nan')):>7.1f} {window[name]:>12.1f}")
    rest = [
        spent[MACHINE] - sum(v for k, v in spent.items() if k not in (MACHINE, "wall"))
        for spent in (idle, window)
    ]
    print(f"  {'everything else (other programs)':48} {rest[0]:>7.1f} {rest[1]:>12.1f}")
    print(f"  {MACHINE:48} {idle[MACHINE]:>7.1f} {window[MACHINE]:>12.1f}")
    print(
        f"  {'available (wall seconds × CPUs)':48} {idle['wall'] * cpus:>7.1f} "
        f"{window['wall'] * cpus:>12.1f}"
    )


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="virtual users (one admin each)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the load window")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument(
        "--runs",
        type=int,
        default=100_000,
        help=f"seeded import runs, {RUNS_PER_IMPORT} per import",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the import")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=[1.0, 5.0],
        metavar=("MIN", "MAX"),
        help="seconds between a user's pages",
    )
    parser.add_argument(
        "--skip-page",
        action="append",
        default=[],
        metavar="KIND",
        choices=PAGE_KINDS,
        help="leave out a page kind (repeatable)",
    )
    parser.add_argument(
        "--solo-rounds", type=int, default=3, help="rounds one admin browses alone before the load"
    )
    parser.add_argument(
        "--load-chunk", type=int, default=200_000, help="rows per load job into the emulator"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("set DATABASE_URL to a PostgreSQL server")
    if importlib.util.find_spec("locust") is None:  # not imported here: it patches threading
        raise SystemExit(
            "locust is missing: .venv/bin/pip install 'locust==2.47.0' (pyproject's bench extra)"
        )

    import redis
    from django.test.utils import setup_test_environment

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the start; "
        f"{args.users} users for {args.seconds} s, {args.connections:,} connections, "
        f"{args.runs:,} runs, {args.rows:,}-row import, {args.workers} gunicorn workers",
        flush=True,
    )
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    processes = Processes(folder)
    connection.settings_dict["TEST"]["NAME"] = SCRATCH_DB
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    stack = None
    ok = False
    try:
        started = time.perf_counter()
        stack, key = import_runner.start_stack()
        table = f"events_{args.rows}"
        import_runner.load_source(stack, table, args.rows, args.load_chunk)
        print(
            f"stand-ins started and {args.rows:,} rows loaded into the emulator in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )

        started = time.perf_counter()
        workspace, owner, import_obj = import_runner.create_import(key, args.rows, table)
        plan = seed(workspace, args.users, args.connections, args.runs)
        print(
            f"seeded {args.users} admins, {args.connections:,} connections, "
            f"{len(plan['import_ids']):,} imports and {args.runs:,} runs in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )

        env = app_env(stack, folder / "static")
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        gunicorn = processes.start(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--access-logfile",
                str(folder / "access.log"),
            ],
            env,
        )
        worker = processes.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "prefork",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "-n",
                f"loadbench-{port}@%h",
            ],
            env,
        )
        wait_for(lambda: healthy(base_url), "gunicorn", 60, gunicorn)
        wait_for(lambda: "ready." in processes.log("worker"), "celery worker", 60, worker)
        groups = {
            f"gunicorn (master + {args.workers} workers)": process_tree(gunicorn.pid),
            "celery worker (main + pool)": process_tree(worker.pid),
            "BigQuery emulator": process_tree(stack.emulator._process.pid),
        }
        print(f"gunicorn on {base_url}, celery worker ready", flush=True)

        # 1. the import alone
        cpu_before = cpu_snapshot(groups)
        SESSIONS.begin()
        idle = run_import(import_obj, owner)
        idle.wait(timeout=max(600, args.rows / 500))
        idle_cpu = cpu_spent(cpu_before, cpu_snapshot(groups))
        print(
            f"idle import: {idle.row['rows_written']:,} rows in {idle.seconds:.1f} s, "
            f"{idle.row['rows_written'] / idle.seconds:,.0f} rows/s "
            f"(read path {idle.row['read_path']})",
            flush=True,
        )
        empty_events_table()

        # 2. the same import again, under load
        plan.update(
            host=base_url,
            origin=f"https://127.0.0.1:{port}",
            users=args.users,
            seconds=args.seconds,
            think=args.think,
            skip=args.skip_page,
            solo_rounds=args.solo_rounds,
            watched_import=str(import_obj.pk),
            sign_in_timeout=300,
            drain_timeout=90,
        )
        plan_path, result_path = folder / "plan.json", folder / "result.json"
        plan_path.write_text(json.dumps(plan))
        client = processes.start(
            "locust",
            [sys.executable, str(BENCH / "_load_client.py"), str(plan_path), str(result_path)],
            {**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
        )
        lines: list[tuple[float, str]] = []
        said = threading.Condition()

        def read_lines() -> None:
            for raw in client.stdout:
                with said:
                    lines.append((time.time(), raw.decode(errors="replace").strip()))
                    said.notify_all()
            with said:
                lines.append((time.time(), "eof"))
                said.notify_all()

        threading.Thread(target=read_lines, daemon=True).start()

        def wait_line(word: str, timeout: float) -> float:
            with said:
                said.wait_for(
                    lambda: any(line.startswith((word, "eof")) for _, line in lines), timeout
                )
                found = [moment for moment, line in lines if line.startswith(word)]
            if not found:
                raise SystemExit(
                    f"the load client did not say '{word}':\n{processes.log('locust')[-3000:]}"
                )
            return found[0]

        sign_in_started = time.time()
        go = wait_line("go", plan["sign_in_timeout"] + 60)
        loaded = run_import(import_obj, owner)
        groups["load generator (locust)"] = [client.pid]
        window_cpu_before = cpu_snapshot(groups)
        SESSIONS.begin()

        def sample_until(word: str) -> float:
            while not any(line.startswith((word, "eof")) for _, line in lines):
                if not loaded.finished:
                    loaded.sample()
                else:
                    SESSIONS.poll()
                time.sleep(0.5)
            return wait_line(word, 1)

        stop = sample_until("stop")
        window_cpu = cpu_spent(window_cpu_before, cpu_snapshot(groups))
        done = sample_until("done")
        client.wait(timeout=60)
        result = json.loads(result_path.read_text())
        loaded.wait(timeout=max(600, args.rows / 200))

        # -- report
        print(
            f"\none admin alone, no pauses, before the load ({args.solo_rounds} rounds; "
            "no import running, so no progress polls)"
        )
        print_latencies(latencies(result["solo_times"]), result["solo_errors"])
        print(
            f"\nsign-in: {result['signed_in']} of {args.users} users signed in in "
            f"{go - sign_in_started:.1f} s (outside the window)"
        )
        if result["sign_in_errors"]:
            print(f"  sign-in errors: {result['sign_in_errors']}")
        print_latencies(latencies(result["sign_in_times"]), result["sign_in_errors"])
        times, errors = latencies(result["times"]), result["errors"]
        requests = sum(len(v) for v in times.values())
        print(
            f"\nload window: {stop - go:.1f} s and {done - stop:.1f} s for the last answers, "
            f"{requests:,} requests ({requests / (done - go):.1f}/s), "
            f"{args.users} users, think time {args.think[0]:g}–{args.think[1]:g} s"
        )
        every = print_latencies(times, errors)
        print(f"errors: {sum(errors.values())}" + (f" {dict(errors)}" if errors else ""))
        if result["users_cut_off"]:
            print(f"  {result['users_cut_off']} users were still waiting on an answer at the end")
        # The target holds while the import runs: when it ends inside the window, the pages
        # asked for after it ended had the machine to themselves and do not count for it.
        import_span = (loaded.started, loaded.row["finished_at"].timestamp())
        during = latencies(result["times"], import_span)
        overlap = min(stop, import_span[1]) - max(go, import_span[0])
        print(
            f"\nwhile the import ran ({overlap:.1f} s of the window), "
            f"{sum(len(v) for v in during.values()):,} requests sent:"
        )
        every_during = print_latencies({k: v for k, v in during.items() if v}, {})

        how, loaded_rate, idle_rate = compare_import(idle, loaded, (go, stop))
        print(
            f"\nimport under load: {loaded.row['rows_written']:,} rows in "
            f"{loaded.seconds:.1f} s ({loaded.row['rows_written'] / loaded.seconds:,.0f} rows/s "
            f"over the whole run; idle {idle.row['rows_written'] / idle.seconds:,.0f} rows/s)"
        )
        print(
            f"  compared over the {how}: {loaded_rate:,.0f} rows/s under load vs "
            f"{idle_rate:,.0f} rows/s idle, ratio {loaded_rate / idle_rate:.2f}"
        )

        print_cpu(idle_cpu, window_cpu)

        p95 = percentile(every_during, 95) if every_during else float("nan")
        slow = [name for name, values in during.items() if values and percentile(values, 95) >= 300]
        verdicts = [
            (
                "p95 under 300 ms while the import runs",
                p95 < 300,
                f"p95 {p95:.0f} ms"
                + (f"; over 300 ms: {', '.join(sorted(slow))}" if slow else "")
                + f" (the whole window: {percentile(every, 95):.0f} ms)",
            ),
            (
                "zero errors",
                not errors and not result["sign_in_errors"],
                f"{sum(errors.values())} in the window, "
                f"{sum(result['sign_in_errors'].values())} at sign-in",
            ),
            (
                "import under load within 20 % of idle",
                loaded_rate >= 0.8 * idle_rate,
                f"ratio {loaded_rate / idle_rate:.2f}",
            ),
        ]
        print("\ntargets:")
        for label, passed, detail in verdicts:
            print(f"  {'PASS' if passed else 'MISS'}  {label}: {detail}")
        ok = not errors and not result["sign_in_errors"]  # otherwise keep the servers' logs
    finally:
        processes.stop_all()
        if stack is not None:
            stack.stop()
        drop_scratch_db(old_name)
        broker.flushdb()
        if ok:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"logs kept in {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
