"""Settings for the test suite: the real PostgreSQL and Redis on loopback, or a SQLite file
and the filesystem broker when DATABASE_URL is a SQLite one and REDIS_URL is empty (bin/test's
run-control pass over the one-command set-up)."""

import os
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bqimports")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("FERNET_KEYS", "dGVzdC1mZXJuZXQta2V5LWZvci10aGUtc3VpdGUtMDE=")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789-abcdefghij")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if REDIS_URL:  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 30,
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
    }

if SQLITE:  # noqa: F405
    # bin/test's second pass (the one-command set-up). Worker subprocesses open the same
    # file, so the test database is a file next to it, not pytest-django's in-memory one.
    _db = Path(DATABASES["default"]["NAME"])  # noqa: F405
    _test_name = os.environ.get("TEST_DATABASE_NAME", "test")
    DATABASES["default"]["TEST"] = {"NAME": str(_db.with_name(f"{_test_name}.sqlite3"))}  # noqa: F405
elif os.environ.get("TEST_DATABASE_NAME"):
    # Lets several checkouts run the suite against one server at once.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}  # noqa: F405
