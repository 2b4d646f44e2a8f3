"""Real-process fault helpers: a private redis-server that a test may kill and restart (the
machine's Redis on 6379 is shared with other suites), workers pointed at it and tagged with a
PostgreSQL application_name, and lookups of their database backends."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from kombu import pools as kombu_pools

from audience.models import Event
from config.celery import app as celery_app
from imports.models import ImportRun
from tests.fixtures.processes import start_worker, subprocess_database_url
from tests.fixtures.waiting import wait_for
from tests.imports.test_worker import finished

__all__ = ["finished", "wait_for"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server without persistence on its own port: a restart loses every message."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: whatever was queued is gone, as after a crash without persistence."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server, a partition)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def queued(self, queue: str = "celery") -> int:
        return self.client().llen(queue)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def _drop_broker_connections() -> None:
    """Forget pooled broker connections so that the next send uses the current broker_url.

    kombu also keeps process-wide pools keyed by broker address; left alone, they would
    hand later tests a producer over the connections closed here ("Acquire on closed pool").
    """
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    kombu_pools.reset()


@pytest.fixture
def fault_broker(private_redis, settings):
    """This process (its Celery app, cache and REDIS_URL for workers) on the private Redis,
    as one REDIS_URL serves all three in production."""
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = private_redis.url
    _drop_broker_connections()
    settings.REDIS_URL = private_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    yield private_redis
    celery_app.conf.broker_url = original
    _drop_broker_connections()


@pytest.fixture
def worker_env(google_worker_env, fault_broker):
    """Workers reach the stand-ins and the private Redis, and read small pages, so a run of a
    few thousand rows lasts long enough to be hit mid-run (lease 4 s, as google_worker_env)."""
    return {**google_worker_env, "REDIS_URL": fault_broker.url, "IMPORT_PAGE_SIZE": "250"}


def start_tagged_worker(env: dict[str, str], tmp_path: Path, name: str):
    """start_worker, with the worker's database sessions named faults-<name> in
    pg_stat_activity so that a test can find (and terminate) exactly them."""
    url = f"{subprocess_database_url()}?application_name=faults-{name}"
    return start_worker({**env, "DATABASE_URL": url}, tmp_path / f"{name}.log", name=name)


def worker_backends(name: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s"
            " AND pid <> pg_backend_pid()",
            [f"faults-{name}"],
        )
        return [{"pid": pid, "state": state} for pid, state in cursor.fetchall()]


def terminate_backends(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            [f"faults-{name}"],
        )
        return cursor.fetchone()[0]


def freeze(worker) -> None:
    os.killpg(worker.pid, signal.SIGSTOP)


def thaw(worker) -> None:
    os.killpg(worker.pid, signal.SIGCONT)


def amounts_of(run) -> list[int]:
    """The source rows a run wrote (event_rows numbers them with `amount`)."""
    return sorted(
        Event.objects.filter(imported_by_run=run).values_list("properties__amount", flat=True)
    )


def run_of(run_pk) -> ImportRun:
    return ImportRun.objects.get(pk=run_pk)
