"""Test Connection: the checklist of DESIGN.md §4, each check pass / fail / skipped / unconfirmed.

Offline checks come from the form (the same rules as Save). The results are
plain dicts so they can be stored on the connection as JSON.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

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


def run_connection_test(
    *, key_info: dict[str, Any], project_id: str, dataset_id: str
) -> dict[str, Any]:
    """Run every check for values that passed the offline validation."""
    checks = [CheckResult("key", PASS, "The key file is a valid service account key.")]
    checks.append(
        CheckResult(
            "auth",
            UNCONFIRMED,
            "Online checks are not available in this version.",
        )
    )
    checks += skipped_after(LABELS["auth"], ["dataset", "job_user", "data_editor"])
    return TestResult(checks=checks).as_dict()
