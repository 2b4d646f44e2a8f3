"""The connection check (Test Connection): the checklist of DESIGN.md §4, each check pass /
fail / skipped / unconfirmed, or warning: the connection works, but not as well as it could
(no Storage Read API sessions: imports read with the slower REST path).

Offline checks come from the form (the same rules as Save). The results are
plain dicts so they can be stored on the connection as JSON.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from connections import bigquery, crypto, keys
from connections.cost import label_value
from connections.google_errors import (
    FAIL,
    RETRY_FIX,
    UNCONFIRMED,
    GoogleCallError,
    GoogleErrorKind,
    explain,
    explained,
)
from connections.models import Connection

logger = logging.getLogger(__name__)

PASS, SKIPPED, WARNING = "pass", "skipped", "warning"
STATUSES = (PASS, FAIL, WARNING, UNCONFIRMED, SKIPPED)

CHECKS = (
    ("key", "Service account key"),
    ("auth", "Authentication"),
    ("dataset", "Project and dataset"),
    ("job_user", "BigQuery Job User"),
    ("data_editor", "BigQuery Data Editor"),
    ("scratch", "Scratch dataset"),
    ("read_session", "BigQuery Read Session User"),
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
        """Passed: every check passed, or passed with a warning (the connection works)."""
        return all(c.status in (PASS, WARNING) for c in self.checks)

    @property
    def summary(self) -> str:
        for status in (FAIL, UNCONFIRMED):
            for check in self.checks:
                if check.status == status:
                    return f"{check.label}: {check.detail}"
        for check in self.checks:
            if check.status == WARNING:
                return f"Passed with a warning. {check.label}: {check.detail}"
        return "All checks passed."

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "warnings": sum(c.status == WARNING for c in self.checks),
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


# The form's fields other than the key, each group failing the check that would have used it.
FIELD_CHECKS = (
    (
        ("project_id", "dataset_id"),
        "dataset",
        "Correct the Project ID and Dataset ID as shown in the BigQuery console.",
    ),
    (
        ("billing_project_id",),
        "job_user",
        "Correct the Billing project (Advanced), or leave it blank to run jobs in the "
        "Project ID's project.",
    ),
    (
        ("scratch_dataset_id",),
        "scratch",
        "Correct the Scratch dataset (Advanced), or leave it blank to use "
        "<Dataset ID>_imports_tmp.",
    ),
)


def offline_failure(errors: dict[str, list[str]]) -> dict[str, Any]:
    """A checklist for a form that failed validation: nothing was sent to Google."""
    key_errors = errors.get("key_file", []) + errors.get("key_text", []) + errors.get("__all__", [])
    checks: list[CheckResult] = []
    if key_errors:
        give = (
            "Paste the whole JSON key file" if "key_text" in errors else "Upload the JSON key file"
        )
        checks.append(
            CheckResult(
                "key",
                FAIL,
                " ".join(key_errors),
                fix=f"{give} exactly as Google Cloud gave it (IAM & Admin > Service Accounts > "
                "Keys).",
            )
        )
    else:
        checks.append(CheckResult("key", PASS, "The key file is a valid service account key."))
    for fields, check_id, fix in FIELD_CHECKS:
        messages = [message for name in fields for message in errors.get(name, [])]
        if messages:
            checks.append(CheckResult(check_id, FAIL, " ".join(messages), fix=fix))
    first_fail = next(c for c in checks if c.status == FAIL)
    done = {c.id for c in checks}
    checks += skipped_after(first_fail.label, [i for i, _ in CHECKS if i not in done])
    order = [i for i, _ in CHECKS]
    checks.sort(key=lambda c: order.index(c.id))
    return TestResult(checks=checks).as_dict()


def run_saved_connection_test(connection: Connection) -> dict[str, Any]:
    """Test Connection on a saved connection with its stored key (its page, the API and the
    daily check), its jobs labelled with its workspace and bound by its limit. A stored key
    that no FERNET_KEYS entry opens fails the key check with the fix; nothing is sent."""
    try:
        key_info = keys.connection_key_info(connection)
    except crypto.KeyDecryptionError as error:
        return stored_key_failure(error)
    return run_connection_test(
        key_info=key_info,
        project_id=connection.project_id,
        dataset_id=connection.dataset_id,
        workspace_id=connection.workspace_id,
        maximum_bytes_billed=connection.maximum_bytes_billed,
        billing_project_id=connection.billing_project_id,
        scratch_dataset_id=connection.scratch_dataset_id,
    )


def stored_key_failure(error: crypto.KeyDecryptionError) -> dict[str, Any]:
    """The checklist of a saved connection whose stored key cannot be decrypted."""
    checks = [CheckResult("key", FAIL, str(error), fix=crypto.KEY_DECRYPTION_FIX)]
    checks += skipped_after(LABELS["key"], [i for i, _ in CHECKS if i != "key"])
    return TestResult(checks=checks).as_dict()


@sensitive_variables("key_info")
def run_connection_test(
    *,
    key_info: dict[str, Any],
    project_id: str,
    dataset_id: str,
    workspace_id: object = None,
    maximum_bytes_billed: int | None = None,
    billing_project_id: str = "",
    scratch_dataset_id: str = "",
) -> dict[str, Any]:
    """Run every check for values that passed the offline validation, all of them within
    CONNECTION_TEST_DEADLINE_SECONDS (each call also has its own shorter timeout). Its
    query job carries the workspace's label and the connection's limit (DESIGN.md "Cost").

    Query jobs and read sessions are checked in the billing project (the data project when
    blank), read/write access in the data project, and the scratch dataset (blank:
    <dataset_id>_imports_tmp) as something that exists and can be written, or can be made."""
    deadline = settings.CONNECTION_TEST_DEADLINE_SECONDS
    runner = _Runner(
        key_info,
        project_id,
        dataset_id,
        billing_project_id=billing_project_id,
        scratch_dataset_id=scratch_dataset_id,
    )
    runner.job_options = bigquery.JobOptions(
        purpose="test",
        maximum_bytes_billed=maximum_bytes_billed or settings.BIGQUERY_MAXIMUM_BYTES_BILLED,
        labels=() if workspace_id is None else (("workspace", label_value(workspace_id)),),
    )
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
        key_info.get("client_email"),
        project_id,
        dataset_id,
        "ok" if result["ok"] else result["summary"],
        time.monotonic() - started,
    )
    return result


READ_SESSION_PERMISSION = "bigquery.readsessions.create"
DATA_EDITOR_PERMISSIONS = [
    "bigquery.datasets.get",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
]
SCRATCH_WRITE_PERMISSIONS = [
    "bigquery.tables.create",
    "bigquery.tables.updateData",
    "bigquery.tables.getData",
    "bigquery.tables.delete",
]
DATASET_CREATE_PERMISSION = "bigquery.datasets.create"
SCRATCH_SUFFIX = "_imports_tmp"  # as imports.run.scratch names the default


class _Runner:
    """Runs the online checks in order; independent ones concurrently."""

    @sensitive_variables("key_info")
    def __init__(
        self,
        key_info: dict[str, Any],
        project_id: str,
        dataset_id: str,
        *,
        billing_project_id: str = "",
        scratch_dataset_id: str = "",
    ) -> None:
        self.key_info = key_info
        self.email = key_info.get("client_email", "the service account")
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.job_project_id = billing_project_id or project_id
        self.scratch_dataset_id = scratch_dataset_id or f"{dataset_id}{SCRATCH_SUFFIX}"
        self.scratch_named = bool(scratch_dataset_id)
        self.checks: dict[str, CheckResult] = {
            "key": CheckResult("key", PASS, "The key file is a valid service account key.")
        }
        self.location = ""
        self.reference = ""
        self.job_options = bigquery.JobOptions(
            purpose="test", maximum_bytes_billed=settings.BIGQUERY_MAXIMUM_BYTES_BILLED
        )
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
            session = bigquery.BigQuerySession(
                self.key_info, self.project_id, billing_project_id=self.job_project_id
            )
        except GoogleCallError as exc:
            self.set(self.failure("auth", exc))
            self._skip_after("auth")
            return
        with session:
            self._run(session)

    def _run(self, session: bigquery.BigQuerySession) -> None:
        try:
            session.authenticate()
        except GoogleCallError as exc:
            self.set(self.failure("auth", exc))
            self._skip_after("auth")
            return
        self.set(CheckResult("auth", PASS, f"Signed in to Google as {self.email}."))

        try:
            dataset = session.get_dataset(self.dataset_id)
        except GoogleCallError as exc:
            self.set(self.failure("dataset", exc))
            self._skip_after("dataset")
            return
        self.location = dataset.location or ""
        self.set(
            CheckResult(
                "dataset",
                PASS,
                f"Dataset {self.project_id}:{self.dataset_id} found"
                + (f" in location {self.location}." if self.location else ".")
                + self._projects_note(),
            )
        )
        with ThreadPoolExecutor(max_workers=4) as pool:
            job_user = pool.submit(self._check_job_user, session)
            data_editor = pool.submit(self._check_data_editor, session, dataset)
            scratch = pool.submit(self._check_scratch, session)
            read_session = pool.submit(self._check_read_session, session)
            for future in (job_user, data_editor, scratch, read_session):
                self.set(future.result())

    def _projects_note(self) -> str:
        if self.job_project_id == self.project_id:
            return ""
        return (
            f" Data is read from project {self.project_id}; query jobs and read sessions run "
            f"in billing project {self.job_project_id}."
        )

    def _skip_after(self, failed: str) -> None:
        ids = [i for i, _ in CHECKS]
        for check in skipped_after(LABELS[failed], ids[ids.index(failed) + 1 :]):
            self.set(check)

    def _check_job_user(self, session: bigquery.BigQuerySession) -> CheckResult:
        try:
            session.dry_run("SELECT 1", location=self.location, options=self.job_options)
        except GoogleCallError as exc:
            return self.failure("job_user", exc, project_id=self.job_project_id)
        billing = " (the billing project)" if self.job_project_id != self.project_id else ""
        return CheckResult(
            "job_user",
            PASS,
            f"{self.email} can run query jobs in project {self.job_project_id}{billing}.",
        )

    def _check_data_editor(
        self, session: bigquery.BigQuerySession, dataset: bigquery.Dataset
    ) -> CheckResult:
        """Permissions, not role names: Admin, Owner or a custom role may grant the same."""
        try:
            held = session.project_permissions(DATA_EDITOR_PERMISSIONS)
            if held >= set(DATA_EDITOR_PERMISSIONS):
                return CheckResult(
                    "data_editor",
                    PASS,
                    f"{self.email} can read and write tables in project {self.project_id}.",
                )
        except GoogleCallError as exc:
            logger.info("project testIamPermissions unavailable: %s", exc)
        for entry in dataset.access_entries:
            if _is_writer_entry(entry, self.email):
                return CheckResult(
                    "data_editor",
                    PASS,
                    f"{self.email} has write access ({entry.role}) on dataset {self.dataset_id}.",
                )
        try:
            table_id = session.first_table(self.dataset_id)
            if table_id is not None:
                wanted = DATA_EDITOR_PERMISSIONS[1:]
                held = session.table_permissions(self.dataset_id, table_id, wanted)
                if held >= set(wanted):
                    return CheckResult(
                        "data_editor",
                        PASS,
                        f"{self.email} can read and write table {table_id} in "
                        f"dataset {self.dataset_id}.",
                    )
        except GoogleCallError as exc:
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

    def _check_scratch(self, session: bigquery.BigQuerySession) -> CheckResult:
        """Runs write their results into the scratch dataset (imports.run.scratch): it must
        exist and be writable, or the account must be allowed to create it."""
        scratch = f"{self.project_id}:{self.scratch_dataset_id}"
        other = (
            "or name an existing dataset it can write to as Scratch dataset (Advanced), in "
            f"the dataset's location{f' ({self.location})' if self.location else ''}."
        )
        try:
            dataset = session.get_dataset(self.scratch_dataset_id)
        except GoogleCallError as exc:
            # Google answers datasets.get on a missing dataset the caller could not read
            # anyway with 403 ("or it may not exist"), so a denial is treated as missing.
            logger.info("connection test scratch: %s %s", exc, exc.internal_message)
            if exc.kind not in (GoogleErrorKind.DATASET_MISSING, GoogleErrorKind.ACCESS_DENIED):
                return self.failure("scratch", exc)  # transient, or a cause of its own
            return self._scratch_creatable(session, scratch, other)
        if dataset.location and self.location and dataset.location != self.location:
            return CheckResult(
                "scratch",
                FAIL,
                f"The scratch dataset {scratch} is in {dataset.location}, the dataset in "
                f"{self.location}: a query cannot write its result to another location.",
                fix=f"Name a dataset in {self.location} as Scratch dataset (Advanced), or "
                "leave it blank to have one created.",
            )
        if any(_is_writer_entry(entry, self.email) for entry in dataset.access_entries):
            return CheckResult(
                "scratch", PASS, f"{self.email} can write run results into {scratch}."
            )
        try:
            held = session.project_permissions(SCRATCH_WRITE_PERMISSIONS)
        except GoogleCallError as exc:
            logger.info("connection test scratch: %s", exc)
            held = set()
        if held >= set(SCRATCH_WRITE_PERMISSIONS):
            return CheckResult(
                "scratch", PASS, f"{self.email} can write run results into {scratch}."
            )
        return CheckResult(
            "scratch",
            UNCONFIRMED,
            f"Could not confirm that {self.email} can write run results into {scratch}.",
            fix=f"Grant {self.email} BigQuery Data Editor on dataset {self.scratch_dataset_id}. "
            "If it is already granted through a group or a custom role, you can ignore this.",
        )

    def _scratch_creatable(
        self, session: bigquery.BigQuerySession, scratch: str, other: str
    ) -> CheckResult:
        try:
            held = session.project_permissions([DATASET_CREATE_PERMISSION])
        except GoogleCallError as exc:
            logger.info("connection test scratch: %s", exc)
            held = set()
        if DATASET_CREATE_PERMISSION in held:
            return CheckResult(
                "scratch",
                PASS,
                f"The scratch dataset {scratch} does not exist yet; the first run creates it"
                + (f" in {self.location}." if self.location else "."),
            )
        if not self.scratch_named:
            # As imports.run.scratch does: the run's result goes into the dataset itself.
            return CheckResult(
                "scratch",
                WARNING,
                f"Runs will write their results into dataset {self.project_id}:"
                f"{self.dataset_id} itself (a table per run, deleted when it ends): the "
                f"scratch dataset {scratch} does not exist and {self.email} may not create "
                "it.",
                fix=f"To keep them apart, grant {self.email} BigQuery Data Editor on project "
                f"{self.project_id}, or create {self.scratch_dataset_id} in the dataset's "
                f"location and grant it Data Editor there, {other}",
            )
        return CheckResult(
            "scratch",
            FAIL,
            f"The scratch dataset {scratch}, which holds each run's result, does not exist "
            f"(or {self.email} may not read it) and {self.email} may not create it "
            f"({DATASET_CREATE_PERMISSION} is missing).",
            fix=f"Grant {self.email} BigQuery Data Editor on project {self.project_id} "
            f"(IAM & Admin > IAM), or on dataset {self.scratch_dataset_id} if it exists, {other}",
        )

    def _check_read_session(self, session: bigquery.BigQuerySession) -> CheckResult:
        """The Storage Read API's permission: without it imports still work, with REST
        paging, so a missing grant is a warning, not a failure."""
        fix = (
            f"Grant {self.email} the BigQuery Read Session User role "
            f"(roles/bigquery.readSessionUser) on project {self.job_project_id} (IAM & Admin > IAM "
            "> Grant access), and make sure the BigQuery Storage API is enabled."
        )
        try:
            held = session.project_permissions(
                [READ_SESSION_PERMISSION], project=self.job_project_id
            )
        except GoogleCallError as exc:
            said = explained(
                exc,
                "connection test read_session",
                email=self.email,
                project_id=self.project_id,
                dataset_id=self.dataset_id,
            )
            return CheckResult(
                "read_session",
                WARNING,
                f"Could not confirm that {self.email} may read with the Storage Read API "
                f"({said.detail}) If it may not, imports will use the slower REST path.",
                fix=fix,
            )
        if READ_SESSION_PERMISSION in held:
            disabled = self._storage_api_disabled(session)
            if disabled is not None:
                said = explain(
                    disabled,
                    email=self.email,
                    project_id=self.project_id,
                    dataset_id=self.dataset_id,
                )
                return CheckResult(
                    "read_session",
                    WARNING,
                    f"{said.detail} Imports will use the slower REST path.",
                    fix=said.fix,
                )
            return CheckResult(
                "read_session",
                PASS,
                f"{self.email} can read import results with the Storage Read API.",
            )
        return CheckResult(
            "read_session",
            WARNING,
            f"{self.email} may not create Storage Read API sessions in project "
            f"{self.job_project_id} ({READ_SESSION_PERMISSION} is missing): imports will use the "
            "slower REST path.",
            fix=fix,
        )

    def _storage_api_disabled(self, session: bigquery.BigQuerySession) -> GoogleCallError | None:
        """The answer when the BigQuery Storage API is disabled, found by opening a read
        session on one of the dataset's tables (a session reads nothing by itself); None
        when it opened, or when nothing could be learned (no table, another error)."""
        if not (bigquery.STORAGE_INSTALLED and settings.BIGQUERY_STORAGE_ENABLED):
            return None
        try:
            table_id = session.first_table(self.dataset_id)
            if table_id is None:
                return None
            with bigquery.StorageReader(session) as reader:
                reader.open_stream(f"{self.project_id}.{self.dataset_id}.{table_id}")
        except GoogleCallError as exc:
            if exc.kind is GoogleErrorKind.API_DISABLED:
                return exc
            logger.info("connection test read session: %s %s", exc, exc.internal_message)
        return None

    def failure(
        self, check_id: str, error: GoogleCallError, *, project_id: str = ""
    ) -> CheckResult:
        """Our own words for a failed call; Google's text goes to the log only."""
        said = explained(
            error,
            f"connection test {check_id}",
            email=self.email,
            project_id=project_id or self.project_id,
            dataset_id=self.dataset_id,
            check_id=check_id,
        )
        if said.reference:
            self.reference = said.reference
        return CheckResult(check_id, said.status, said.detail, fix=said.fix)


WRITER_ROLES = frozenset(
    {
        "WRITER",
        "OWNER",
        "ROLES/BIGQUERY.DATAEDITOR",
        "ROLES/BIGQUERY.DATAOWNER",
        "ROLES/BIGQUERY.ADMIN",
    }
)


def _is_writer_entry(entry: bigquery.AccessEntry, email: str) -> bool:
    account = {email.lower(), f"serviceaccount:{email.lower()}"}
    return entry.role.upper() in WRITER_ROLES and entry.entity_id.lower() in account
