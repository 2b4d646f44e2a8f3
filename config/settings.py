"""Settings, all read from the environment (see .env.example).

APP_ENV=production makes every secret mandatory and turns on the deploy
hardening; the default (local) generates secrets once into .local-secrets.json
so the one-command run works on a fresh clone.
"""

import ipaddress
import json
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from common.byte_sizes import parse_bytes

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

APP_ENV = env.str("APP_ENV", default="local")
if APP_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("APP_ENV must be 'local' or 'production'.")
PRODUCTION = APP_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)


def _local_secrets() -> dict[str, str]:
    """Secrets for a local run, made once and kept so stored keys stay readable."""
    path = BASE_DIR / ".local-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FERNET_KEY": Fernet.generate_key().decode(),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when APP_ENV=production (see .env.example)."
        )
    return value


if PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
    FERNET_KEYS = [k.strip() for k in _required("FERNET_KEYS").split(",") if k.strip()]
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secrets()["SECRET_KEY"]
    FERNET_KEYS = env.list("FERNET_KEYS", default=[]) or [_local_secrets()["FERNET_KEY"]]

for _fernet_key in FERNET_KEYS:
    try:
        Fernet(_fernet_key)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FERNET_KEYS holds a value that is not a Fernet key; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`."
        ) from exc

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "common",
    "workspaces.admin_config.BrakedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "workspaces",
    "connections",
    "imports",
    "audience",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CsrfViewMiddleware: that one reads the body, this one refuses it unread.
    "common.middleware.RequestSizeMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "common.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Request bodies larger than this are refused unread (413), unless a view allows another size
# (common.middleware.limit_body: the connection forms take 80 KiB, a key is at most 64 KiB).
# The longest SQL query Create Import takes (100,000 characters) fits with room to spare.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=1024 * 1024)
# Django's own checks, behind that: no form data above it, and no upload ever spooled to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A process frozen inside a transaction (a stopped worker) loses its session, and with it
    # the locks it holds on a run another worker is taking over, after this long.
    idle_seconds = env.int("DATABASE_IDLE_IN_TRANSACTION_SECONDS", default=60)
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = (
        f"{options.get('options', '')} -c idle_in_transaction_session_timeout={idle_seconds}s"
    ).strip()
SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if SQLITE:
    # The one-command run: web, worker and beat share one file. WAL lets pages read while a
    # worker writes; IMMEDIATE takes the write lock when a transaction begins, waiting up to
    # the timeout, because a transaction that reads and then writes cannot wait for the lock
    # and fails at once with "database is locked". The runner keeps its writes short.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("transaction_mode", "IMMEDIATE")
    options.setdefault("timeout", env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=30))
    options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "common.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": BASE_DIR / ".cache",
            # This backend's incr rewrites an entry with the default timeout: it must outlast
            # the longest rate-limit window (common.ratelimit). Past MAX_ENTRIES it drops a
            # third of the entries at random, counters included.
            "TIMEOUT": 2 * 60 * 60,
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Locally whitenoise serves straight from the finders, so no collectstatic is needed;
# the container image runs collectstatic and gets hashed, compressed files.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Security. Cookies and HSTS follow the mode; the CSP is always on so that
# tests see what production sends.
SESSION_COOKIE_HTTPONLY = True
# A session expires SESSION_COOKIE_AGE after it was last saved (sign-in, Create Import steps);
# by default its cookie also goes when the browser closes: these pages can replace Google keys.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Proxies in front of the app that append the client's address to X-Forwarded-For. The
# sign-in brake counts failures per address; with 0 the header is ignored (a client can
# write anything there) and every user behind one proxy would share one address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The REST API (README "Use the API"): personal tokens only, JSON in and out, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.TokenWorkspaceAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.error_response",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# Requests per token; over it the API answers 429 with Retry-After.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="120/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "BigQuery Imports API",
    "DESCRIPTION": (
        "Read connections, imports, runs and the audit log of a workspace, and trigger, pause, "
        "resume or stop imports. Authenticate with a personal API token: "
        "`Authorization: Bearer <token>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1/workspaces/[^/]+",
    "COMPONENT_SPLIT_REQUEST": True,
    # The UI's files come from drf-spectacular-sidecar, served by the app: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ConnectionStatusEnum": "connections.models.Connection.Status",
        "ImportStatusEnum": "imports.models.Import.Status",
        "RunStatusEnum": "imports.models.ImportRun.Status",
        "TokenScopeEnum": "api.models.ApiToken.Scope",
        "CheckStatusEnum": ["pass", "fail", "skipped", "unconfirmed"],
    },
}

# Celery. Redis when REDIS_URL is set; otherwise kombu's filesystem transport so
# the local run needs no broker. Values follow DESIGN.md §5.
BROKER_DATA_DIR = BASE_DIR / env.str("BROKER_DATA_DIR", default=".broker")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=60 * 60),
        "socket_connect_timeout": 5,
        # Without it a send to a Redis that stopped answering (hung, failover, a dropped NAT
        # entry) waits forever: Run now and /healthz would hang instead of failing over to
        # the reaper and answering 503.
        "socket_timeout": 5,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "common.broker:FilesystemTransport"
    for _folder in ("queue", "processed", "control"):
        (BROKER_DATA_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DATA_DIR / "queue"),
        "data_folder_out": str(BROKER_DATA_DIR / "queue"),
        "processed_folder": str(BROKER_DATA_DIR / "processed"),
        "control_folder": str(BROKER_DATA_DIR / "control"),
        "store_processed": False,
    }
# A send tries twice (the second on a fresh connection, after a Redis restart) and then gives
# up: the run is queued in the database and the reaper sends it once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# When the broker connection drops, a run in progress keeps going: it needs only PostgreSQL
# and Google, and a redelivered copy is fenced out by the run's lease. (Celery 6 will cancel
# such tasks by default; that would interrupt every running import on any Redis blip.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-imports": {
        "task": "imports.tasks.dispatch_due_imports",
        "schedule": env.float("DISPATCH_INTERVAL_SECONDS", default=30.0),
    },
    "reap-import-runs": {
        "task": "imports.tasks.reap_runs",
        "schedule": env.float("REAPER_INTERVAL_SECONDS", default=60.0),
    },
    "record-worker-heartbeat": {
        "task": "imports.tasks.record_worker_heartbeat",
        "schedule": 60.0,
    },
    "notifications-sweep": {
        "task": "notifications.tasks.sweep",
        "schedule": env.float("NOTIFICATIONS_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
    "check-connections-daily": {
        "task": "notifications.tasks.check_connections",
        "schedule": env.float("CONNECTION_CHECK_INTERVAL_SECONDS", default=300.0),
    },
    "check-key-ages": {
        "task": "notifications.tasks.check_key_ages",
        "schedule": 3600.0,
    },
}

# Imports. A worker renews its lease on a run with every page; a run whose lease
# expired is re-sent by the reaper. Queued runs not picked up are re-sent too.
IMPORT_LEASE_SECONDS = env.int("IMPORT_LEASE_SECONDS", default=300)
IMPORT_REQUEUE_AFTER_SECONDS = env.int("IMPORT_REQUEUE_AFTER_SECONDS", default=120)
# A run read with the Storage Read API asks for this many streams; the streams BigQuery
# returns become parts any worker can take (imports.run.parts). 1: one worker per run.
IMPORT_RUN_PARTS = env.int("IMPORT_RUN_PARTS", default=1)
# Each page is one write transaction; on SQLite it holds the whole file's write lock, so
# pages are smaller there and the web and the heartbeat never wait long for it. On
# PostgreSQL, 20,000 rows per page made a 1M-event run about 10 % faster than 10,000, for
# about 35 MB more worker memory at its peak (bench/import_runner.py).
IMPORT_PAGE_SIZE = env.int("IMPORT_PAGE_SIZE", default=2_000 if SQLITE else 20_000)
# A transient BigQuery error while reading (503, rate limit) is retried this many times, after
# pauses of base × 1, 2, 4… seconds (at most 30), on top of the client's own 8 s retry.
IMPORT_TRANSIENT_RETRIES = env.int("IMPORT_TRANSIENT_RETRIES", default=5)
IMPORT_RETRY_BASE_SECONDS = env.float("IMPORT_RETRY_BASE_SECONDS", default=2.0)

# Google. Tests and the demo point these at the local stand-ins.
GOOGLE_TOKEN_URI = env.str("GOOGLE_TOKEN_URI", default="https://oauth2.googleapis.com/token")
BIGQUERY_API_ENDPOINT = env.str("BIGQUERY_API_ENDPOINT", default="https://bigquery.googleapis.com")
# Storage Read API (gRPC, Arrow) for reading import results; REST paging when unavailable.
# Empty: Google's endpoint over TLS. "host:port": an insecure local channel (stand-ins, demo).
BIGQUERY_STORAGE_TARGET = env.str("BIGQUERY_STORAGE_TARGET", default="")
BIGQUERY_STORAGE_ENABLED = env.bool("BIGQUERY_STORAGE_ENABLED", default=True)
# Cost guard: every query job carries maximumBytesBilled (a connection or import may set
# its own); a run whose dry-run estimate is higher fails before it spends. 1 TB by default,
# read as the forms read it ("500 GB" or a number of bytes).
try:
    BIGQUERY_MAXIMUM_BYTES_BILLED = parse_bytes(
        env.str("BIGQUERY_MAXIMUM_BYTES_BILLED", default="1 TB")
    )
except ValueError as error:
    raise ImproperlyConfigured(f"BIGQUERY_MAXIMUM_BYTES_BILLED: {error}") from error
# On-demand price, for the import page's monthly projection (US multi-region list price).
BIGQUERY_PRICE_PER_TIB = env.float("BIGQUERY_PRICE_PER_TIB", default=6.25)
# A run's result table in the scratch dataset expires after this, even if the run never ends.
BIGQUERY_SCRATCH_EXPIRATION_HOURS = env.int("BIGQUERY_SCRATCH_EXPIRATION_HOURS", default=24)
RESOURCE_MANAGER_ENDPOINT = env.str(
    "RESOURCE_MANAGER_ENDPOINT", default="https://cloudresourcemanager.googleapis.com"
)
# Test Connection: every check within this many seconds (each call has its own 5 s timeout).
CONNECTION_TEST_DEADLINE_SECONDS = env.float("CONNECTION_TEST_DEADLINE_SECONDS", default=20.0)
# token_uri values a key may carry; anything else is refused before any network call.
KEY_TOKEN_URI_ALLOWLIST = env.list(
    "KEY_TOKEN_URI_ALLOWLIST",
    default=["https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"],
)


def _ip_ranges(values: list[str]) -> list[str]:
    ranges = []
    for value in values:
        try:
            ranges.append(str(ipaddress.ip_network(value.strip())))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"EGRESS_IP_RANGES: {value.strip()!r} is not an IP address or a CIDR range "
                "such as 203.0.113.0/28."
            ) from exc
    return ranges


# The addresses this installation reaches Google from, listed for customers whose Google
# Cloud organisation allows access by IP address only (IP addresses to allow-list page).
EGRESS_IP_RANGES = _ip_ranges(env.list("EGRESS_IP_RANGES", default=[]))

# Alerts (README "Alerts"). Links in emails and webhooks start with SITE_URL.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Mail goes through Django's mail framework; bin/run prints it (console backend).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="BigQuery Imports <alerts@localhost>")
# Webhooks may reach only public addresses unless this is true (private networks, tests).
NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = env.bool(
    "NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS", default=False
)
NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT = env.float(
    "NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT", default=5.0
)
# A webhook's answer is awaited this long per attempt (mail: EMAIL_TIMEOUT).
NOTIFICATIONS_WEBHOOK_READ_TIMEOUT = env.float("NOTIFICATIONS_WEBHOOK_READ_TIMEOUT", default=10.0)
# A failed delivery is tried again after base × 1, 2, 4… seconds, this many attempts in all.
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=6)
NOTIFICATIONS_RETRY_BASE_SECONDS = env.float("NOTIFICATIONS_RETRY_BASE_SECONDS", default=30.0)
NOTIFICATIONS_KEEP_DAYS = env.int("NOTIFICATIONS_KEEP_DAYS", default=90)
# The daily Test Connection of every connection: at most this many per tick, spread over it.
CONNECTION_CHECKS_PER_TICK = env.int("CONNECTION_CHECKS_PER_TICK", default=10)
CONNECTION_CHECK_INTERVAL_SECONDS = env.float("CONNECTION_CHECK_INTERVAL_SECONDS", default=300.0)
KEY_MAX_AGE_DAYS = env.int("KEY_MAX_AGE_DAYS", default=90)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"forbidden_in_one_line": {"()": "common.middleware.ForbiddenInOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"filters": ["forbidden_in_one_line"]},
        # google-auth and urllib3 can log request bodies at DEBUG; keep them quiet.
        "google": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
