"""Settings for the test suite: the real PostgreSQL and Redis on loopback."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bqimports")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("FERNET_KEYS", "dGVzdC1mZXJuZXQta2V5LWZvci10aGUtc3VpdGUtMDE=")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789-abcdefghij")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 30,
    "socket_connect_timeout": 2,
    "socket_timeout": 2,
}

# Lets several checkouts run the suite against one server at once.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}  # noqa: F405
