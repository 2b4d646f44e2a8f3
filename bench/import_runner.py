"""Benchmark: one events import run, end to end, against the database alone.

For each row count N it loads N event rows into a table of the local BigQuery stand-in
(emulator + token endpoint + permission gate), creates a workspace, a connection and an
events import, and runs the real runner (`imports.run.execute.execute_run`) in a child process,
so its peak memory is its own.

The baseline is what the database alone costs: the same N rows, already encoded as binary
COPY data before the clock starts, copied into a fresh table LIKE the events table with all
its indexes. Baselines and runner runs alternate (B R B R ... B, `--repeat` runner runs), and
each runner run is compared with the mean of the baselines on either side of it, so a machine
whose load drifts moves both sides of a ratio alike.

    .venv/bin/python bench/import_runner.py --rows 100000   # uses DATABASE_URL, PostgreSQL
    .venv/bin/python bench/import_runner.py --rows 100000 --profiles      # profiles, then unchanged
    .venv/bin/python bench/import_runner.py --rows 100000 --nothing-new   # incremental, 0 new

`--nothing-new` times incremental runs that find no new rows (after one full run), in one
worker process: its first run there and the later ones, as a running worker does them.

    .venv/bin/python bench/import_runner.py --rows 200000 --parts 1 2 4

`--parts k ...` times one events run split into k parts (IMPORT_RUN_PARTS = k): the process
that runs the source query reads part 0, and each other part is read by its own child
process, started (and warm) beforehand, as separate workers would. It prints the combined
rows/s from the moment the result table is frozen to the end of the last part, per k, in
the order 1, 2, 4, 1, 2, 4, ... (`--repeat` rounds), with the CPU count and load average.
The scratch database is `bench_imports_<pid>` unless BENCH_DATABASE_NAME names one, so two
benches on one server never drop each other's. The emulator has to be installed
(bin/install-emulator).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

PROJECT = "bench-analytics"
DATASET = "events"
LOCATION = "EU"
SCRATCH_DB = os.environ.get("BENCH_DATABASE_NAME") or f"bench_imports_{os.getpid()}"
SCHEMA = [
    ("user_id", "STRING"),
    ("event", "STRING"),
    ("ts", "TIMESTAMP"),
    ("amount", "INT64"),
    ("country", "STRING"),
    ("device", "STRING"),
    ("session_id", "STRING"),
]
PROPERTY_COLUMNS = ("amount", "country", "device", "session_id")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EVENT_NAMES = (
    "page_view",
    "page_view",
    "page_view",
    "search",
    "add_to_cart",
    "checkout_started",
    "purchase",
    "app_open",
    "signup",
    "share",
)
COUNTRIES = ("US", "US", "DE", "GB", "FR", "BR", "IN", "JP", "CA", "ES", "NL", "MX")
DEVICES = ("web", "web", "ios", "android", "desktop")
USERS = 50_000


def source_rows(start: int, count: int) -> Iterator[dict[str, Any]]:
    """Deterministic event rows; every row is distinct (ts is unique), so none deduplicates."""
    for i in range(start, start + count):
        yield {
            "user_id": f"u{(i * 7919) % USERS:06d}",
            "event": EVENT_NAMES[(i * 31) % len(EVENT_NAMES)],
            "ts": START + dt.timedelta(seconds=i, microseconds=(i * 997) % 1_000_000),
            "amount": (i * 37) % 20_000 if i % 4 == 0 else 0,
            "country": COUNTRIES[(i * 13) % len(COUNTRIES)],
            "device": DEVICES[(i * 7) % len(DEVICES)],
            "session_id": f"s{i // 25:09x}",
        }


PROFILE_SCHEMA = [
    ("user_id", "STRING"),
    ("email", "STRING"),
    ("plan", "STRING"),
    ("country", "STRING"),
    ("score", "INT64"),
]
PLANS = ("free", "free", "free", "pro", "team", "enterprise")


def profile_rows(start: int, count: int) -> Iterator[dict[str, Any]]:
    """Deterministic profile rows, one per identity."""
    for i in range(start, start + count):
        yield {
            "user_id": f"p{i:08d}",
            "email": f"user{i}@example.com",
            "plan": PLANS[(i * 17) % len(PLANS)],
            "country": COUNTRIES[(i * 13) % len(COUNTRIES)],
            "score": (i * 7919) % 100_000,
        }


def mb(kilobytes: float) -> float:
    return kilobytes / 1024


def proc_status_kb(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (e.g. the emulator), from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the child: one run of the real runner, instrumented -----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first: dict[str, float] = {}  # each label's first duration
        self.first_start: dict[str, float] = {}  # perf_counter when it first began
        self.last_end: dict[str, float] = {}  # ... and when it last ended

    def add(self, label: str, seconds: float) -> None:
        ended = time.perf_counter()
        self.seconds[label] += seconds
        self.calls[label] += 1
        self.first.setdefault(label, seconds)
        self.first_start.setdefault(label, ended - seconds)
        self.last_end[label] = ended


def instrument(clock: Clock) -> None:
    """Wrap the runner's steps with timers (module attributes only; no behaviour changes)."""
    from google.cloud._http import JSONConnection

    from audience import writers
    from connections import bigquery
    from imports import mapping
    from imports.run import write

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.add(label, time.perf_counter() - started)

        setattr(owner, name, wrapper)

    timed(write, "write_page", "page transaction")
    timed(mapping, "map_page", "map_page")
    timed(writers, "write_events", "write")
    timed(writers, "write_profiles", "write")
    for method in ("dataset_location", "start_query", "wait", "table_rows", "table_schema"):
        timed(bigquery.ImportReader, method, "source query")

    # Every BigQuery REST call: HTTP round trip through the gate, and the JSON decode.
    timed(JSONConnection, "api_request", "api_request")
    original_pages = bigquery.ImportReader.pages

    def pages(self: Any, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        iterator = original_pages(self, *args, **kwargs)
        while True:
            started, api_before = time.perf_counter(), clock.seconds["api_request"]
            try:
                rows = next(iterator)
            except StopIteration:
                return
            finally:
                clock.add("fetch pages", time.perf_counter() - started)
                clock.add("fetch pages: api_request", clock.seconds["api_request"] - api_before)
            yield rows

    bigquery.ImportReader.pages = pages

    original_storage_pages = bigquery.StorageReader.pages

    def storage_pages(self: Any, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        iterator = original_storage_pages(self, *args, **kwargs)
        while True:
            started = time.perf_counter()
            try:
                rows = next(iterator)
            except StopIteration:
                return
            finally:
                clock.add("fetch pages", time.perf_counter() - started)
            yield rows

    bigquery.StorageReader.pages = storage_pages
    time_collections(clock)


def time_collections(clock: Clock) -> None:
    """Time each cyclic garbage collection by generation (it holds the GIL while it runs)."""
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            clock.add(f"gc: generation {info['generation']}", time.perf_counter() - started.pop())

    gc.callbacks.append(callback)


def sql_timer(clock: Clock):
    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            text = sql.lstrip()
            if text.startswith("INSERT INTO") and (
                "audience_event" in text[:40] or "audience_profile" in text[:40]
            ):
                label = "sql: INSERT … SELECT … ON CONFLICT"
            elif text.startswith(("CREATE TEMP", "TRUNCATE")):
                label = "sql: temp table create/truncate"
            elif text.startswith("UPDATE") and "imports_importrun" in text[:40]:
                label = "sql: run row updates"
            else:
                label = "sql: other"
            clock.add(label, time.perf_counter() - started)

    return timer


def child_main(run_id: str, database: str, result_path: str) -> None:
    from imports.run.execute import execute_run

    settings.DATABASES["default"]["NAME"] = database
    connection.settings_dict["NAME"] = database
    clock = Clock()
    instrument(clock)
    connection.ensure_connection()
    original_commit = connection.commit

    def commit() -> None:
        started = time.perf_counter()
        try:
            original_commit()
        finally:
            clock.add("commit", time.perf_counter() - started)

    connection.commit = commit  # what transaction.atomic() calls on the way out
    rss_before_kb = proc_status_kb("VmRSS")
    cpu_before = self_cpu_seconds()
    started = time.perf_counter()
    with connection.execute_wrapper(sql_timer(clock)):
        status = execute_run(run_id)
    ended = time.perf_counter()
    elapsed = ended - started
    # The stand-in's first answer waits for its first stream (up to 100,000 rows) to be out
    # of DuckDB, where BigQuery starts at once: the first page's read shows it.
    clock.seconds["before the first page"] = (
        clock.first_start.get("page transaction", ended) - started
    )
    clock.seconds["after the last page"] = ended - clock.last_end.get("page transaction", ended)
    clock.seconds["first page: read"] = clock.first.get("fetch pages", 0.0) + clock.first.get(
        "map_page", 0.0
    )
    result = {
        "status": status,
        "seconds": elapsed,
        "cpu_seconds": self_cpu_seconds() - cpu_before,
        "rss_before_kb": rss_before_kb,
        "hwm_kb": proc_status_kb("VmHWM"),
        "timings": dict(clock.seconds),
        "calls": dict(clock.calls),
    }
    Path(result_path).write_text(json.dumps(result))


def parts_child_main(kind: str, ident: str, database: str, result_path: str) -> None:
    """`kind` "run": execute the run (the source query, then part 0, or the whole run when
    it is not split); "part": wait for a part's id on stdin, then execute that part."""
    from imports import queue
    from imports.run.execute import execute_run
    from imports.run.parts import execute_part

    queue.enqueue_part = lambda part_id: True  # the parent hands the parts out
    settings.DATABASES["default"]["NAME"] = database
    connection.settings_dict["NAME"] = database
    connection.ensure_connection()
    if kind == "part":
        ident = sys.stdin.readline().strip()
    cpu_before = self_cpu_seconds()
    started = time.time()
    status = execute_run(ident) if kind == "run" else execute_part(int(ident))
    result = {
        "status": status,
        "start": started,
        "end": time.time(),
        "cpu_seconds": self_cpu_seconds() - cpu_before,
    }
    Path(result_path).write_text(json.dumps(result))


def stack_env(stack: Any, page_size: int, parts: int = 1) -> dict[str, str]:
    """The environment of a runner process: the stand-ins' endpoints, page size and parts."""
    return {
        **os.environ,
        "GOOGLE_TOKEN_URI": stack.token_uri,
        "BIGQUERY_API_ENDPOINT": stack.bigquery_endpoint,
        "RESOURCE_MANAGER_ENDPOINT": stack.resource_manager_endpoint,
        "BIGQUERY_STORAGE_TARGET": stack.grpc_target,
        "IMPORT_PAGE_SIZE": str(page_size),
        "IMPORT_RUN_PARTS": str(parts),
    }


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (every process, others too)."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def parts_run(stack: Any, import_obj: Any, user: Any, page_size: int, k: int) -> dict[str, Any]:
    """One run of the import split into k parts, each part in its own child process."""
    from imports import services
    from imports.models import ImportRun, RunPart

    run = services.import_run_now(import_obj=import_obj, actor=user)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audience_event")
    checkpoint()
    env = stack_env(stack, page_size, k)
    database = connection.settings_dict["NAME"]
    children = []

    def spawn(kind: str, ident: str) -> tuple[subprocess.Popen, str]:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            result_path = handle.name
        command = [sys.executable, str(Path(__file__).resolve()), "--parts-child", kind, ident]
        command += ["--database", database, "--result", result_path]
        process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, text=True)
        children.append((process, result_path))
        return process, result_path

    waiting = [spawn("part", "")[0] for _ in range(k - 1)]  # warm, as workers are
    emulator_pid = stack.emulator._process.pid
    emulator_cpu = proc_cpu_seconds(emulator_pid)
    spawn("run", str(run.pk))
    frozen = None
    while frozen is None:
        if ImportRun.objects.filter(pk=run.pk).exclude(result_table="").exists():
            frozen = time.time()
            busy_before, total_before = machine_cpu()
            parent_before = self_cpu_seconds()
        else:
            time.sleep(0.02)
    handed = 0
    while handed < len(waiting):
        ids = list(
            RunPart.objects.filter(run=run, number__gte=1)
            .order_by("number")
            .values_list("pk", flat=True)
        )
        if ids:
            for process, part_id in zip(waiting, ids, strict=False):
                process.stdin.write(f"{part_id}\n")
                process.stdin.flush()
            for process in waiting[len(ids) :]:
                process.stdin.write("0\n")  # fewer streams than asked: nothing to do
                process.stdin.flush()
            handed = len(waiting)
        elif ImportRun.objects.filter(pk=run.pk).exclude(status="running").exists():
            raise SystemExit(f"run {run.pk} ended before it was split")
        else:
            time.sleep(0.02)
    results = []
    for process, result_path in children:
        if process.wait() != 0:
            raise SystemExit(f"a child exited with {process.returncode}")
        results.append(json.loads(Path(result_path).read_text()))
        os.unlink(result_path)
    busy, total = machine_cpu()
    busy_share = (busy - busy_before) / max(total - total_before, 1e-9)
    parent_cpu = self_cpu_seconds() - parent_before
    run.refresh_from_db()
    if run.status not in ("succeeded", "succeeded_with_rejections"):
        raise SystemExit(f"the run ended {run.status}: {run.error_message}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audience_event")
        stored = cursor.fetchone()[0]
    if stored != run.rows_expected or run.rows_read != run.rows_expected:
        raise SystemExit(f"expected {run.rows_expected} rows, read {run.rows_read}, {stored}")
    parts = RunPart.objects.filter(run=run).count() or 1
    seconds = max(r["end"] for r in results) - frozen
    cpu = sum(r["cpu_seconds"] for r in results)
    emulator = proc_cpu_seconds(emulator_pid) - emulator_cpu
    print(
        f"k={k}: {parts} parts, {stored:,} rows in {seconds:.1f} s after the freeze = "
        f"{stored / seconds:,.0f} rows/s; CPU: runner {cpu:.1f} s, emulator {emulator:.1f} s, "
        f"gate + token endpoint {parent_cpu:.1f} s; the machine's CPUs {100 * busy_share:.0f} % "
        f"busy (every process); load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return {"k": k, "parts": parts, "rows": stored, "seconds": seconds, "busy": busy_share}


def bench_parts(
    stack: Any, key: Any, rows: int, page_size: int, chunk: int, repeat: int, ks: list[int]
) -> None:
    print(f"\n== one run in k parts, N = {rows:,}, k = {ks} ==", flush=True)
    table = f"events_parts_{rows}"
    load_source(stack, table, rows, chunk)
    _, user, import_obj = create_import(key, rows, table)
    rates: dict[int, list[float]] = defaultdict(list)
    busy: list[float] = []
    for _ in range(repeat):
        for k in ks:
            result = parts_run(stack, import_obj, user, page_size, k)
            rates[k].append(result["rows"] / result["seconds"])
            busy.append(result["busy"])
    print(f"\nmachine: {machine()}")
    print(
        f"the CPUs were {100 * min(busy):.0f}-{100 * max(busy):.0f} % busy during the runs: parts "
        "add throughput only while there are idle CPUs (or other machines) for their workers, "
        "and the database and BigQuery keep up"
    )
    base = max(rates[ks[0]])
    print(f"{'k':>3} {'best rows/s':>12} {'all rows/s':>30} {'× first k':>10}")
    for k in ks:
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[k])
        print(f"{k:>3} {max(rates[k]):>12,.0f} {runs:>30} {max(rates[k]) / base:>10.2f}")


def run_child(run_id: str, stack: Any, page_size: int) -> dict[str, Any]:
    """Run the runner in a fresh interpreter and collect what it measured.

    Peak memory is the child's own VmHWM, read just before it exits: ru_maxrss from
    wait4() is no use here, as Linux carries over the high-water mark of the address space
    the child had between fork and exec, i.e. this (much larger) process's.
    """
    env = stack_env(stack, page_size)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        run_id,
        "--database",
        connection.settings_dict["NAME"],
        "--result",
        result_path,
    ]
    emulator_pid = stack.emulator._process.pid
    emulator_cpu, parent_cpu = proc_cpu_seconds(emulator_pid), self_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, wait_status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    wall = time.perf_counter() - started
    try:
        if process.returncode != 0:
            raise SystemExit(f"the runner's process exited with {process.returncode}")
        result = json.loads(Path(result_path).read_text())
    finally:
        os.unlink(result_path)
    result.update(
        process_wall_seconds=wall,
        child_cpu_total=usage.ru_utime + usage.ru_stime,
        emulator_cpu=proc_cpu_seconds(emulator_pid) - emulator_cpu,
        gate_cpu=self_cpu_seconds() - parent_cpu,
    )
    return result


# -- the parent: set-up, the COPY baseline, the report -------------------------------------------


def start_stack():
    from standins import StandinStack

    stack = StandinStack().start()
    stack.create_project(PROJECT)
    stack.create_dataset(PROJECT, DATASET, location=LOCATION)
    key = stack.register_service_account(
        f"importer@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project=PROJECT)
    stack.grant(key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=DATASET)
    # The runner's scratch dataset (its result tables), made as an admin would.
    stack.create_dataset(PROJECT, f"{DATASET}_imports_tmp", location=LOCATION)
    stack.grant(
        key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=f"{DATASET}_imports_tmp"
    )
    # Lets the runner read results with the Storage Read API (without it: REST paging).
    stack.grant(key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    settings.GOOGLE_TOKEN_URI = stack.token_uri
    settings.BIGQUERY_API_ENDPOINT = stack.bigquery_endpoint
    settings.RESOURCE_MANAGER_ENDPOINT = stack.resource_manager_endpoint
    settings.BIGQUERY_STORAGE_TARGET = stack.grpc_target
    return stack, key


def load_source(stack: Any, table: str, rows: int, chunk: int) -> None:
    stack.create_table(PROJECT, DATASET, table, SCHEMA)
    for start in range(0, rows, chunk):
        stack.insert_rows(
            PROJECT, DATASET, table, list(source_rows(start, min(chunk, rows - start)))
        )


def events_definition(rows: int, table: str, incremental: bool) -> dict[str, Any]:
    definition = {
        "name": f"Events {rows}",
        "source_kind": "table",
        "source_table": table,
        "source_schema": [{"name": name, "type": kind} for name, kind in SCHEMA],
        "target": "events",
        "identity_column": "user_id",
        "event_name_column": "event",
        "timestamp_column": "ts",
        "column_mapping": [
            {"column": name, "property": name, "include": True} for name in PROPERTY_COLUMNS
        ],
        "schedule_kind": "none",
    }
    if incremental:
        definition.update(sync_mode="incremental", cursor_column="ts", cursor_type="TIMESTAMP")
    return definition


def profiles_definition(rows: int, table: str) -> dict[str, Any]:
    return {
        "name": f"Profiles {rows}",
        "source_kind": "table",
        "source_table": table,
        "source_schema": [{"name": name, "type": kind} for name, kind in PROFILE_SCHEMA],
        "target": "profiles",
        "identity_column": "user_id",
        "column_mapping": [
            {"column": name, "property": name, "include": True}
            for name, _ in PROFILE_SCHEMA
            if name != "user_id"
        ],
        "schedule_kind": "none",
    }


def create_import(
    key: Any, rows: int, table: str, *, incremental: bool = False, profiles: bool = False
):
    from django.contrib.auth import get_user_model

    from connections import services as connection_services
    from connections.check import run_connection_test
    from connections.keyfile import GOOGLE_TOKEN_URIS, parse_service_account_key
    from imports import services
    from workspaces.models import Membership, Workspace

    label = f"{rows}-inc" if incremental else f"{rows}-prof" if profiles else str(rows)
    workspace = Workspace.objects.create(name=f"Bench {label}", slug=f"bench-{label}")
    user = get_user_model().objects.create_user(f"admin-{label}@bench.test")
    Membership.objects.create(workspace=workspace, user=user, role="admin")
    parsed = parse_service_account_key(key.to_json(), allowed_token_uris=GOOGLE_TOKEN_URIS)
    bq_connection = connection_services.connection_create(
        workspace=workspace,
        created_by=user,
        name="Warehouse",
        project_id=PROJECT,
        dataset_id=DATASET,
        key=parsed,
    )
    # Tested as an admin would: the connection learns its dataset's location, as in use.
    result = run_connection_test(key_info=key.info, project_id=PROJECT, dataset_id=DATASET)
    connection_services.connection_record_test(connection=bq_connection, actor=user, result=result)
    import_obj = services.import_create(
        workspace=workspace,
        connection=bq_connection,
        created_by=user,
        definition=profiles_definition(rows, table)
        if profiles
        else events_definition(rows, table, incremental),
    )
    return workspace, user, import_obj


def wal_lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def wal_mb_since(lsn: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn])
        return float(cursor.fetchone()[0]) / 2**20


def checkpoint() -> None:
    with connection.cursor() as cursor:
        try:
            cursor.execute("CHECKPOINT")
        except Exception:  # noqa: S110 - needs superuser; only reduces noise
            pass


def copy_records(rows: int, workspace_id: Any, run_id: Any) -> Iterator[tuple[Any, ...]]:
    """The same rows as the source table, as the events table stores them."""
    from psycopg.types.json import Jsonb

    from imports.mapping import event_dedupe_key

    for row in source_rows(0, rows):
        properties = {name: row[name] for name in PROPERTY_COLUMNS}
        identity, name, timestamp = row["user_id"], row["event"], row["ts"]
        yield (
            workspace_id,
            identity,
            name,
            timestamp,
            Jsonb(properties),
            event_dedupe_key(identity, name, timestamp, properties),
            run_id,
        )


EVENT_COLUMNS = ("workspace", "identity", "name", "timestamp", "properties", "dedupe_key")
EVENT_TYPES = ["uuid", "text", "text", "timestamptz", "jsonb", "uuid", "uuid"]
PROFILE_COLUMNS = ("workspace", "identity", "properties", "first_seen", "last_seen")
PROFILE_TYPES = ["uuid", "text", "jsonb", "timestamptz", "timestamptz", "uuid"]


def column_list(model: Any, names: tuple[str, ...], provenance: str) -> str:
    columns = {f.name: f.column for f in model._meta.concrete_fields}
    return ", ".join(f'"{columns[n]}"' for n in [*names, provenance])


def encode_baseline(
    table: str, columns: str, types: list[str], records: Iterator[tuple[Any, ...]]
) -> bytes:
    """Rows as binary COPY data, produced by PostgreSQL itself from a staging table without
    indexes, so the timed COPY pays for nothing but the database's own work."""
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_stage")
        cursor.execute(
            f"CREATE UNLOGGED TABLE bench_stage "
            f"(LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        with cursor.copy(f"COPY bench_stage ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for record in records:
                copy.write_row(record)
        chunks = []
        with cursor.copy(f"COPY bench_stage ({columns}) TO STDOUT (FORMAT BINARY)") as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
        cursor.execute("DROP TABLE bench_stage")
    raw.commit()
    return b"".join(chunks)


def copy_baseline(table: str, columns: str, encoded: bytes, rows: int) -> float:
    """Seconds for one binary COPY of pre-encoded rows into a fresh table LIKE `table` with
    all its indexes and constraints; printed as it goes."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute(f"CREATE TABLE bench_copy (LIKE {table} INCLUDING ALL)")
    checkpoint()
    raw = connection.connection
    view = memoryview(encoded)
    started = time.perf_counter()
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            for offset in range(0, len(view), 1 << 20):
                copy.write(view[offset : offset + (1 << 20)])
    raw.commit()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_copy")
    assert copied == rows, (copied, rows)
    print(f"baseline COPY: {seconds:.2f} s ({rows / seconds:,.0f} rows/s)", flush=True)
    return seconds


def runner_run(
    stack: Any, import_obj: Any, user: Any, page_size: int, *, empty: bool = True
) -> dict[str, Any]:
    """One run of the import by the real runner in a child process, with its breakdown
    printed; `empty` starts it on an empty destination table."""
    from imports import services

    table = "audience_profile" if import_obj.target == "profiles" else "audience_event"
    run = services.import_run_now(import_obj=import_obj, actor=user)
    if empty:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")  # noqa: S608 - a fixed table name
    checkpoint()
    lsn = wal_lsn()
    child = run_child(str(run.pk), stack, page_size)
    child["wal_mb"] = wal_mb_since(lsn)
    run.refresh_from_db()
    if child["status"] not in ("succeeded", "succeeded_with_rejections"):
        raise SystemExit(f"the run ended {child['status']}: {run.error_message}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a fixed table name
        stored = cursor.fetchone()[0]
    seconds = child["seconds"]
    print(
        f"runner: {seconds:.1f} s in execute_run ({run.rows_read / seconds:,.0f} rows/s); "
        f"child process {child['process_wall_seconds']:.1f} s incl. interpreter start; "
        f"WAL {child['wal_mb']:,.0f} MB"
    )
    print(
        f"  run: rows_expected={run.rows_expected:,} read={run.rows_read:,} "
        f"written={run.rows_written:,} unchanged={run.rows_unchanged:,} "
        f"rejected={run.rows_rejected:,} stored={stored:,} read_path={run.read_path}"
    )
    print(
        f"  memory: RSS before execute_run {mb(child['rss_before_kb']):.0f} MB, "
        f"peak {mb(child['hwm_kb']):.0f} MB (VmHWM)"
    )
    print(
        f"  CPU during the run: runner process {child['cpu_seconds']:.1f} s, "
        f"emulator {child['emulator_cpu']:.1f} s, gate + token endpoint "
        f"{child['gate_cpu']:.1f} s (wall {seconds:.1f} s, {os.cpu_count()} CPUs)"
    )
    print_breakdown(child, seconds)
    return child


def bench_one(
    stack: Any, key: Any, rows: int, page_size: int, chunk: int, repeat: int
) -> list[dict[str, Any]]:
    print(f"\n== N = {rows:,} ==", flush=True)
    table = f"events_{rows}"
    started = time.perf_counter()
    load_source(stack, table, rows, chunk)
    print(
        f"loaded {rows:,} rows into the emulator in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    workspace, user, import_obj = create_import(key, rows, table)
    started = time.perf_counter()
    from audience.models import Event

    columns = column_list(Event, EVENT_COLUMNS, "imported_by_run")
    records = copy_records(rows, workspace.pk, None)
    encoded = encode_baseline("audience_event", columns, EVENT_TYPES, records)
    print(
        f"baseline data: {len(encoded) / 2**20:,.0f} MB of binary COPY, encoded in "
        f"{time.perf_counter() - started:.1f} s (not timed)"
    )

    def baseline() -> float:
        return copy_baseline("audience_event", columns, encoded, rows)

    baselines = [baseline()]
    results = []
    for number in range(1, repeat + 1):
        print(f"-- runner run {number} of {repeat}", flush=True)
        child = runner_run(stack, import_obj, user, page_size)
        baselines.append(baseline())
        results.append(
            {
                "rows": rows,
                "runner": child["seconds"],
                "copy": (baselines[-2] + baselines[-1]) / 2,
                "rss_before": mb(child["rss_before_kb"]),
                "peak": mb(child["hwm_kb"]),
            }
        )
    return results


def bench_profiles(
    stack: Any, key: Any, rows: int, page_size: int, chunk: int, repeat: int
) -> list[dict[str, Any]]:
    """A first import of N profiles against a pre-encoded COPY into a table LIKE the profiles
    table, then the same import again with nothing changed (it must write nothing)."""
    from psycopg.types.json import Jsonb

    from audience.models import Profile

    print(f"\n== profiles, N = {rows:,} ==", flush=True)
    table = f"profiles_{rows}"
    stack.create_table(PROJECT, DATASET, table, PROFILE_SCHEMA)
    for start in range(0, rows, chunk):
        stack.insert_rows(
            PROJECT, DATASET, table, list(profile_rows(start, min(chunk, rows - start)))
        )
    workspace, user, import_obj = create_import(key, rows, table, profiles=True)
    seen = dt.datetime.now(dt.UTC)
    columns = column_list(Profile, PROFILE_COLUMNS, "updated_by_run")
    records = (
        (
            workspace.pk,
            row["user_id"],
            Jsonb({k: v for k, v in row.items() if k != "user_id"}),
            seen,
            seen,
            None,
        )
        for row in profile_rows(0, rows)
    )
    encoded = encode_baseline("audience_profile", columns, PROFILE_TYPES, records)
    results = []
    baselines = [copy_baseline("audience_profile", columns, encoded, rows)]
    for number in range(1, repeat + 1):
        print(f"-- first import {number} of {repeat}", flush=True)
        first = runner_run(stack, import_obj, user, page_size)
        baselines.append(copy_baseline("audience_profile", columns, encoded, rows))
        print("-- the same import again, nothing changed", flush=True)
        again = runner_run(stack, import_obj, user, page_size, empty=False)
        results.append(
            {
                "rows": rows,
                "runner": first["seconds"],
                "again": again["seconds"],
                "copy": (baselines[-2] + baselines[-1]) / 2,
                "rss_before": mb(first["rss_before_kb"]),
                "peak": mb(max(first["hwm_kb"], again["hwm_kb"])),
            }
        )
    return results


def bench_nothing_new(
    stack: Any, key: Any, rows: int, page_size: int, chunk: int, repeat: int
) -> None:
    """An incremental import's runs that find nothing new, after one full first run, all in
    one worker process: its first run there pays the process's one-time costs (imports, the
    first broker connection), the later ones are what a running worker spends per run."""
    print(f"\n== incremental, nothing new, over N = {rows:,} ==", flush=True)
    table = f"events_inc_{rows}"
    load_source(stack, table, rows, chunk)
    _, user, import_obj = create_import(key, rows, table, incremental=True)
    first = runner_run(stack, import_obj, user, page_size)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--nothing-new-child",
        str(import_obj.pk),
        "--actor",
        str(user.pk),
        "--repeat",
        str(repeat + 1),
        "--database",
        connection.settings_dict["NAME"],
        "--result",
        result_path,
    ]
    subprocess.run(command, env=stack_env(stack, page_size), check=True)
    seconds = json.loads(Path(result_path).read_text())
    os.unlink(result_path)
    print(
        f"first run {first['seconds']:.1f} s; runs with nothing new in one worker process: "
        f"{seconds[0]:.2f} s as its first run, then " + ", ".join(f"{s:.2f} s" for s in seconds[1:])
    )


def nothing_new_child(
    import_id: str, actor_id: str, repeat: int, database: str, result_path: str
) -> None:
    """Run the import `repeat` times in this process; each run must write nothing."""
    from django.contrib.auth import get_user_model

    from imports import queue, services
    from imports.models import Import
    from imports.run.execute import execute_run

    settings.DATABASES["default"]["NAME"] = database
    connection.settings_dict["NAME"] = database
    queue.enqueue_run = lambda run_id: None  # this process executes the runs itself
    actor = get_user_model().objects.get(pk=actor_id)
    seconds = []
    for _ in range(repeat):
        import_obj = Import.objects.get(pk=import_id)
        run = services.import_run_now(import_obj=import_obj, actor=actor)
        started = time.perf_counter()
        status = execute_run(str(run.pk))
        seconds.append(time.perf_counter() - started)
        run.refresh_from_db()
        # `cursor >= watermark` reads the last row again; nothing may be written.
        if status != "succeeded" or run.rows_written:
            raise SystemExit(f"expected nothing new: {status}, {run.rows_written} written")
        print(f"nothing new: {seconds[-1]:.2f} s in execute_run", flush=True)
    Path(result_path).write_text(json.dumps(seconds))


def print_breakdown(child: dict[str, Any], total: float) -> None:
    t, calls = child["timings"], child["calls"]
    write = t.get("write", 0.0)
    page = t.get("page transaction", 0.0)
    insert = t.get("sql: INSERT … SELECT … ON CONFLICT", 0.0)
    temp = t.get("sql: temp table create/truncate", 0.0)
    source = t.get("source query", 0.0)
    writer = [
        ("source query (dataset, query job, wait, row count)", source),
        # A page of new rows is copied straight into the table; one that collides (or a
        # re-import's), into the temp table (then INSERT … ON CONFLICT).
        ("write: COPY (into the table, or the temp table)", write - insert - temp),
        ("write: INSERT … ON CONFLICT from temp", insert),
        ("write: temp table create/truncate", temp),
        ("page transaction: COMMIT", t.get("commit", 0.0)),
        ("page transaction: rest (fenced lease renew)", page - write - t.get("commit", 0.0)),
    ]
    first = t.get("before the first page", 0.0)
    first_read = t.get("first page: read", 0.0)
    last = t.get("after the last page", 0.0)
    writer += [
        ("before the first page: claim, session, read session", first - source - first_read),
        ("before the first page: read (fetch and map) the first page", first_read),
        ("after the last page (finish, result table deleted)", last),
    ]
    accounted = sum(seconds for _, seconds in writer)
    writer.append(
        ("between pages: waiting for the reader thread, cancel checks", total - accounted)
    )
    print(f"  where the runner's time went ({calls.get('page transaction', 0)} pages):")
    for label, seconds in writer:
        print(f"    {label:60} {seconds:7.2f} s {100 * seconds / total:5.1f} %")
    print("  the reader thread, overlapping the writes above:")
    api = t.get("fetch pages: api_request", 0.0)
    reader = [
        ("fetch pages (Storage: gRPC + Arrow → rows; REST: HTTP + JSON)", t.get("fetch pages", 0)),
        ("  of which REST api_request", api),
        ("map_page (mapping, canonical JSON, dedupe hash)", t.get("map_page", 0.0)),
    ]
    for label, seconds in reader:
        print(f"    {label:60} {seconds:7.2f} s {100 * seconds / total:5.1f} %")
    print("  cyclic garbage collections (either thread; each holds the GIL):")
    for generation in range(3):
        label = f"gc: generation {generation}"
        seconds, count = t.get(label, 0.0), calls.get(label, 0)
        print(
            f"    {label + f' ({count:,} collections)':60} {seconds:7.2f} s "
            f"{100 * seconds / total:5.1f} %"
        )


def machine() -> str:
    """CPU count and load average: figures from a busy machine are not comparable."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def print_summary(results: list[dict[str, Any]], page_size: int, target: str) -> None:
    goal = "0.6" if target == "profiles" else "0.8"
    print(f"\nmachine: {machine()}")
    print(
        f"\npage size {page_size:,}; baseline: pre-encoded binary COPY into a table LIKE the "
        f"{target} table with its indexes, mean of the COPYs either side of each run; "
        f"target: runner ≥ {goal} × baseline, peak < 300 MB"
    )
    again = " again s" if target == "profiles" else ""
    print(
        f"{'N':>10} {'runner s':>9} {'runner rows/s':>14} {'base s':>7} {'base rows/s':>12} "
        f"{'ratio':>6}{again} {'RSS before MB':>14} {'peak RSS MB':>12}"
    )
    for r in results:
        runner_rate, copy_rate = r["rows"] / r["runner"], r["rows"] / r["copy"]
        again_cell = f" {r['again']:>7.1f}" if "again" in r else ""
        print(
            f"{r['rows']:>10,} {r['runner']:>9.1f} {runner_rate:>14,.0f} {r['copy']:>7.1f} "
            f"{copy_rate:>12,.0f} {runner_rate / copy_rate:>6.2f}{again_cell} "
            f"{r['rss_before']:>14.0f} {r['peak']:>12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument(
        "--page-size", type=int, default=settings.IMPORT_PAGE_SIZE, help="IMPORT_PAGE_SIZE"
    )
    parser.add_argument(
        "--load-chunk", type=int, default=200_000, help="rows per load job into the emulator"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runner runs per N")
    parser.add_argument(
        "--nothing-new",
        action="store_true",
        help="time incremental runs that find no new rows instead",
    )
    parser.add_argument(
        "--profiles", action="store_true", help="a profiles import and its unchanged re-import"
    )
    parser.add_argument(
        "--parts", type=int, nargs="+", help="time one run split into k parts, for each k"
    )
    parser.add_argument("--parts-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--nothing-new-child", help=argparse.SUPPRESS)
    parser.add_argument("--actor", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.database, args.result)
        return
    if args.nothing_new_child:
        nothing_new_child(
            args.nothing_new_child, args.actor, args.repeat, args.database, args.result
        )
        return
    if args.parts_child:
        parts_child_main(*args.parts_child, args.database, args.result)
        return
    if connection.vendor != "postgresql":
        raise SystemExit("set DATABASE_URL to a PostgreSQL server")

    from django.test.utils import setup_test_environment

    from imports import queue

    # No worker takes part: the run is executed by the child process below.
    queue.enqueue_run = lambda run_id: None
    connection.settings_dict["TEST"]["NAME"] = SCRATCH_DB
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    stack = None
    results = []
    try:
        started = time.perf_counter()
        stack, key = start_stack()
        print(
            f"stand-ins started in {time.perf_counter() - started:.1f} s; "
            f"page size {args.page_size:,}; machine: {machine()}"
        )
        for rows in args.rows:
            if args.parts:
                bench_parts(
                    stack, key, rows, args.page_size, args.load_chunk, args.repeat, args.parts
                )
            elif args.nothing_new:
                bench_nothing_new(stack, key, rows, args.page_size, args.load_chunk, args.repeat)
            elif args.profiles:
                results.extend(
                    bench_profiles(stack, key, rows, args.page_size, args.load_chunk, args.repeat)
                )
            else:
                results.extend(
                    bench_one(stack, key, rows, args.page_size, args.load_chunk, args.repeat)
                )
    finally:
        if stack is not None:
            stack.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    if results:
        print_summary(results, args.page_size, "profiles" if args.profiles else "events")


if __name__ == "__main__":
    main()
