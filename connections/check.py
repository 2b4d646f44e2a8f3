"""Test Connection: the checklist of DESIGN.md §4, each check pass / fail / skipped / unconfirmed.

Offline checks come from the form (the same rules as Save). The results are
plain dicts so they can be stored on the connection as JSON.
"""

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from connections import bigquery

logger = logging.getLogger(__name__)

PASS, FAIL, SKIPPED, UNCONFIRMED = "pass", "fail", "skipped", "unconfirmed"

CHECKS = (
    ("key", "Service account key"),
    ("auth", "Authentication"),
    ("dataset", "Project and dataset"),
    ("job_user", "BigQuery Job User"),
    ("data_editor", "BigQuery Data Editor"),
)
LABELS = dict(CHECKS)


@dataclass
class CheckResult:
    id: str
    status: str
    detail: str
    fix: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or LABELS[self.id]


@dataclass
class TestResult:
    checks: list[CheckResult] = field(default_factory=list)
    location: str = ""
    reference: str = ""

    @property
    def ok(self) -> bool:
        return all(c.status == PASS for c in self.checks)

    @property
    def summary(self) -> str:
        for check in self.checks:
            if check.status == FAIL:
                return f"{check.label}: {check.detail}"
        for check in self.checks:
            if check.status == UNCONFIRMED:
                return f"{check.label}: {check.detail}"
        return "All checks passed."

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary,
            "location": self.location,
            "reference": self.reference,
            "checks": [asdict(c) for c in self.checks],
        }


def has_failure(result: dict[str, Any]) -> bool:
    """Whether a stored result has a check that failed (not merely unconfirmed)."""
    return any(check["status"] == FAIL for check in result["checks"])


def skipped_after(failed_label: str, ids: list[str]) -> list[CheckResult]:
    return [CheckResult(i, SKIPPED, f"Not run because “{failed_label}” did not pass.") for i in ids]


def offline_failure(errors: dict[str, list[str]]) -> dict[str, Any]:
    """A checklist for a form that failed validation: nothing was sent to Google."""
    key_errors = errors.get("key_file", []) + errors.get("key_text", []) + errors.get("__all__", [])
    id_errors = errors.get("project_id", []) + errors.get("dataset_id", [])
    checks: list[CheckResult] = []
    if key_errors:
        checks.append(
            CheckResult("key", FAIL, " ".join(key_errors), fix="Upload the JSON key file exactly "
                        "as Google Cloud gave it (IAM & Admin > Service Accounts > Keys).")
        )  # fmt: skip
    else:
        checks.append(CheckResult("key", PASS, "The key file is a valid service account key."))
    if id_errors:
        checks.append(
            CheckResult("dataset", FAIL, " ".join(id_errors), fix="Correct the Project ID and "
                        "Dataset ID as shown in the BigQuery console.")
        )  # fmt: skip
    first_fail = next(c for c in checks if c.status == FAIL)
    done = {c.id for c in checks}
    checks += skipped_after(first_fail.label, [i for i, _ in CHECKS if i not in done])
    order = [i for i, _ in CHECKS]
    checks.sort(key=lambda c: order.index(c.id))
    return TestResult(checks=checks).as_dict()


@sensitive_variables("key_info")
def run_connection_test(
    *, key_info: dict[str, Any], project_id: str, dataset_id: str
) -> dict[str, Any]:
    """Run every check for values that passed the offline validation, all of them within
    CONNECTION_TEST_DEADLINE_SECONDS (each call also has its own shorter timeout)."""
    deadline = settings.CONNECTION_TEST_DEADLINE_SECONDS
    runner = _Runner(key_info, project_id, dataset_id)
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="connection-test")
    started = time.monotonic()
    future = pool.submit(runner.run)
    try:
        future.result(timeout=deadline)
    except FutureTimeout:
        runner.give_up(f"No answer from Google within {deadline:g} seconds.")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    result = runner.result()
    logger.info(
        "connection test for %s on %s:%s: %s in %.1f s",
        key_info.get("client_email"), project_id, dataset_id,
        "ok" if result["ok"] else result["summary"], time.monotonic() - started,
    )  # fmt: skip
    return result


DATA_EDITOR_PERMISSIONS = [
    "bigquery.datasets.get",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
]


class _Runner:
    """Runs the online checks in order; independent ones concurrently."""

    @sensitive_variables("key_info")
    def __init__(self, key_info: dict[str, Any], project_id: str, dataset_id: str) -> None:
        self.key_info = key_info
        self.email = key_info.get("client_email", "the service account")
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.checks: dict[str, CheckResult] = {
            "key": CheckResult("key", PASS, "The key file is a valid service account key.")
        }
        self.location = ""
        self.reference = ""
        self._lock = threading.Lock()

    def result(self) -> dict[str, Any]:
        with self._lock:
            checks = [self.checks.get(i) or CheckResult(i, SKIPPED, "Not run.") for i, _ in CHECKS]
            return TestResult(
                checks=checks, location=self.location, reference=self.reference
            ).as_dict()

    def set(self, check: CheckResult) -> None:
        with self._lock:
            self.checks.setdefault(check.id, check)

    def give_up(self, detail: str) -> None:
        for check_id, _ in CHECKS:
            self.set(CheckResult(check_id, UNCONFIRMED, detail, fix=RETRY_FIX))

    def run(self) -> None:
        try:
            session = bigquery.BigQuerySession(self.key_info, self.project_id)
        except bigquery.GoogleCallError as exc:
            self.set(self.failure("auth", exc))
            self._skip_after("auth")
            return
        with session:
            self._run(session)

    def _run(self, session: bigquery.BigQuerySession) -> None:
        try:
            session.authenticate()
        except bigquery.GoogleCallError as exc:
            self.set(self.failure("auth", exc))
            self._skip_after("auth")
            return
        self.set(CheckResult("auth", PASS, f"Signed in to Google as {self.email}."))

        try:
            dataset = session.get_dataset(self.dataset_id)
        except bigquery.GoogleCallError as exc:
            self.set(self.failure("dataset", exc))
            self._skip_after("dataset")
            return
        self.location = dataset.location or ""
        self.set(
            CheckResult(
                "dataset",
                PASS,
                f"Dataset {self.project_id}:{self.dataset_id} found"
                + (f" in location {self.location}." if self.location else "."),
            )
        )
        with ThreadPoolExecutor(max_workers=2) as pool:
            job_user = pool.submit(self._check_job_user, session)
            data_editor = pool.submit(self._check_data_editor, session, dataset)
            for future in (job_user, data_editor):
                self.set(future.result())

    def _skip_after(self, failed: str) -> None:
        ids = [i for i, _ in CHECKS]
        for check in skipped_after(LABELS[failed], ids[ids.index(failed) + 1 :]):
            self.set(check)

    def _check_job_user(self, session: bigquery.BigQuerySession) -> CheckResult:
        try:
            session.dry_run("SELECT 1", location=self.location)
        except bigquery.GoogleCallError as exc:
            return self.failure("job_user", exc)
        return CheckResult(
            "job_user", PASS, f"{self.email} can run query jobs in project {self.project_id}."
        )

    def _check_data_editor(self, session: bigquery.BigQuerySession, dataset: Any) -> CheckResult:
        """Permissions, not role names: Admin, Owner or a custom role may grant the same."""
        try:
            held = session.project_permissions(DATA_EDITOR_PERMISSIONS)
            if held >= set(DATA_EDITOR_PERMISSIONS):
                return CheckResult(
                    "data_editor", PASS,
                    f"{self.email} can read and write tables in project {self.project_id}.",
                )  # fmt: skip
        except bigquery.GoogleCallError as exc:
            logger.info("project testIamPermissions unavailable: %s", exc)
        for entry in dataset.access_entries or []:
            if _is_writer_entry(entry, self.email):
                return CheckResult(
                    "data_editor", PASS,
                    f"{self.email} has write access ({entry.role}) on dataset {self.dataset_id}.",
                )  # fmt: skip
        try:
            table = session.first_table(self.dataset_id)
            if table is not None:
                held = session.table_permissions(table, DATA_EDITOR_PERMISSIONS[1:])
                if held >= set(DATA_EDITOR_PERMISSIONS[1:]):
                    return CheckResult(
                        "data_editor", PASS,
                        f"{self.email} can read and write table {table.table_id} in "
                        f"dataset {self.dataset_id}.",
                    )  # fmt: skip
        except bigquery.GoogleCallError as exc:
            logger.info("table testIamPermissions unavailable: %s", exc)
        return CheckResult(
            "data_editor",
            UNCONFIRMED,
            f"Could not confirm that {self.email} can write to dataset {self.dataset_id}.",
            fix=f"Grant {self.email} the BigQuery Data Editor role on dataset "
            f"{self.dataset_id} (BigQuery > dataset > Sharing > Permissions) or on project "
            f"{self.project_id} (IAM & Admin > IAM). If it is already granted through a group "
            "or a custom role, you can ignore this.",
        )

    def failure(self, check_id: str, error: bigquery.GoogleCallError) -> CheckResult:
        """Our own words for a failed call; Google's text goes to the log only."""
        detail, fix, status = explain(
            error, email=self.email, project_id=self.project_id, dataset_id=self.dataset_id,
            check_id=check_id,
        )  # fmt: skip
        if error.kind == "unknown":
            self.reference = uuid.uuid4().hex[:12]
            logger.error(
                "connection test %s: unexpected error in %s: %s %s",
                self.reference, check_id, error, error.internal_message,
            )  # fmt: skip
            detail = f"{detail} Reference: {self.reference}."
        else:
            logger.info("connection test %s failed: %s", check_id, error)
        return CheckResult(check_id, status, detail, fix=fix)


# Failures where no request reached Google at all: nothing is known about the connection.
NO_ROUTE = {"connection_refused": "connection refused", "host_not_found": "host not found"}
NETWORK_FIX = (
    "Check this server's network or proxy: it must reach Google's APIs "
    "(oauth2.googleapis.com and bigquery.googleapis.com) over HTTPS."
)
RETRY_FIX = "Try again in a minute. If it keeps happening, check that this server can reach Google."


def _is_writer_entry(entry: Any, email: str) -> bool:
    role = (entry.role or "").upper()
    writer = role in {"WRITER", "OWNER", "ROLES/BIGQUERY.DATAEDITOR", "ROLES/BIGQUERY.DATAOWNER",
                      "ROLES/BIGQUERY.ADMIN"}  # fmt: skip
    entity = (entry.entity_id or "") if isinstance(entry.entity_id, str) else ""
    return writer and entity.lower() in {email.lower(), f"serviceaccount:{email.lower()}"}


def explain(
    error: bigquery.GoogleCallError,
    *,
    email: str,
    project_id: str,
    dataset_id: str,
    check_id: str = "",
) -> tuple[str, str, str]:
    """(detail, fix, status) for a classified Google error; shared with the import runner."""
    kind = error.kind
    new_key = (
        f"Create a new JSON key for {email} (IAM & Admin > Service Accounts > {email} > Keys > "
        "Add key) and put it in this connection with Edit."
    )
    if kind == "invalid_signature":
        return (
            "Google rejected the key: it was deleted or replaced in Google Cloud.",
            new_key,
            FAIL,
        )
    if kind == "account_missing":
        return (
            f"The service account {email} is deleted or disabled.",
            f"Enable {email} (IAM & Admin > Service Accounts), or create a new service account "
            "and key and put the key in this connection.",
            FAIL,
        )
    if kind == "clock_skew":
        return (
            "Google refused the sign-in because this server's clock is wrong.",
            "Synchronise the server's clock (NTP) and try again.",
            FAIL,
        )
    if kind in {"auth_refused", "unauthorized"}:
        return ("Google refused to sign in with this key.", new_key, FAIL)
    if kind == "api_disabled":
        where = f"project {error.project_number}" if error.project_number else "the project"
        return (
            f"The BigQuery API is not enabled in {where}.",
            f"Enable the BigQuery API in {where} (APIs & Services > Library > BigQuery API > "
            "Enable), wait a few minutes, and test again.",
            FAIL,
        )
    if kind == "project_missing":
        return (
            f"Project {project_id} does not exist, or {email} cannot see it.",
            "Check the Project ID in the Google Cloud console (it is the ID, not the name).",
            FAIL,
        )
    if kind == "dataset_missing":
        return (
            f"Dataset {dataset_id} was not found in project {project_id}.",
            "Check the Dataset ID (it is case-sensitive) or create the dataset in BigQuery.",
            FAIL,
        )
    if kind == "access_denied":
        if check_id == "job_user" or error.permission == "bigquery.jobs.create":
            return (
                f"{email} may not run query jobs in project {project_id} "
                "(bigquery.jobs.create is missing).",
                f"Grant {email} the BigQuery Job User role on project {project_id} "
                "(IAM & Admin > IAM > Grant access).",
                FAIL,
            )
        # Google gives the same 403 for a dataset that does not exist (see google-api-facts).
        return (
            f"{email} has no access to dataset {project_id}:{dataset_id}, or the dataset does "
            "not exist" + (f" ({error.permission} is missing)." if error.permission else "."),
            f"Check the Dataset ID, and grant {email} the BigQuery Data Editor role on dataset "
            f"{dataset_id} (BigQuery > dataset > Sharing > Permissions) or on project "
            f"{project_id}.",
            FAIL,
        )
    if kind == "rate_limited":
        return ("BigQuery is limiting the rate of requests right now.", RETRY_FIX, UNCONFIRMED)
    if kind == "quota_exceeded":
        return (
            f"A BigQuery quota of project {project_id} is used up.",
            "Wait for the quota to reset (usually within the day) or raise it in "
            "IAM & Admin > Quotas.",
            UNCONFIRMED,
        )
    if kind == "unreachable" and error.reason in NO_ROUTE:
        return (f"Could not reach Google ({NO_ROUTE[error.reason]}).", NETWORK_FIX, UNCONFIRMED)
    if kind in {"backend_error", "unreachable"}:
        return ("Google did not answer in time, or answered with a temporary error.", RETRY_FIX,
                UNCONFIRMED)  # fmt: skip
    if kind == "table_missing":
        return ("A table was not found.", "Check the table name.", FAIL)
    if kind == "bad_request":
        return ("BigQuery refused the request as invalid.", "Check the Project ID and Dataset ID.",
                FAIL)  # fmt: skip
    return ("Google answered with an unexpected error.", RETRY_FIX, FAIL)
