"""Fail fast, with a clear message, when PostgreSQL or Redis is not reachable."""

import os
import sys
import time

import psycopg
import redis

DEADLINE = time.monotonic() + 20


def wait(name: str, probe) -> None:
    while True:
        try:
            probe()
            return
        except Exception as exc:
            if time.monotonic() > DEADLINE:
                sys.exit(f"{name} is not reachable: {exc.__class__.__name__}: {exc}")
            time.sleep(0.5)


database_url = os.environ["DATABASE_URL"]
admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
wait("PostgreSQL", lambda: psycopg.connect(admin_url, connect_timeout=2).close())
wait("Redis", lambda: redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2).ping())
