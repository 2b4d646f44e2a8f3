"""Production mode: refuses to start without secrets; passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROD = {
    "APP_ENV": "production",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
    "FERNET_KEYS": "dGVzdC1mZXJuZXQta2V5LWZvci10aGUtc3VpdGUtMDE=",
    "ALLOWED_HOSTS": "imports.example.com",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bqimports"),
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if k not in PROD and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_reports_nothing_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PROD)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PROD, "SECRET_KEY": ""}
    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when APP_ENV=production" in result.stderr


def test_production_refuses_to_start_without_fernet_keys():
    env = {**PROD, "FERNET_KEYS": ""}
    result = manage("check", **env)

    assert result.returncode != 0
    assert "FERNET_KEYS must be set when APP_ENV=production" in result.stderr


def test_a_session_idle_inside_a_transaction_is_ended_by_postgresql(transactional_db):
    """A frozen worker cannot hold a run's row lock for ever (see DATABASES OPTIONS)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        (value,) = cursor.fetchone()

    assert value == "1min"


def test_a_mistyped_egress_address_refuses_to_start_with_what_is_wrong():
    result = manage("check", EGRESS_IP_RANGES="203.0.113.7, 203.0.113.300/28")

    assert result.returncode != 0
    assert "EGRESS_IP_RANGES: '203.0.113.300/28' is not an IP address or a CIDR range" in (
        result.stderr
    )
