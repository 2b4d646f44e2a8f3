"""Google's documented failures, answered by the gate as Google does and read by the real
google-cloud-bigquery client: each becomes its own kind, with a cause and a fix of its own
(not "check the Project ID" or "grant Data Editor")."""

from __future__ import annotations

import pytest

from connections.google_errors import GoogleErrorKind as Kind
from connections.google_errors import classify, explain
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT

EMAIL = "importer@acme-analytics.iam.gserviceaccount.com"


def failed_query(world, fault: str, detail: str | None = None):
    """Google's answer to a query job, as our seam classifies it."""
    world.stack.gate.inject(fault, times=None, match="jobs.insert", detail=detail)
    client = world.client()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any of the client's exceptions
        client.query("SELECT 1", location=LOCATION, timeout=5, job_retry=None).result(timeout=5)
    return classify(caught.value)


def said(error):
    return explain(error, email=EMAIL, project_id=PROJECT, dataset_id=DATASET)


# fault, detail, kind, permanent, words in the detail, words in the fix
CASES = [
    (
        "invalid_query", None, Kind.INVALID_QUERY, True,
        'BigQuery could not run the query: Could not cast literal "abc" to type INT64 at [1:13]',
        "Fix the query",
    ),
    (
        "partition_filter_required", f"{PROJECT}.{DATASET}.page_views event_date",
        Kind.PARTITION_FILTER_REQUIRED, True,
        f"Table {PROJECT}.{DATASET}.page_views can only be queried with a filter on its "
        "partitioning column event_date.",
        "add a WHERE condition on event_date",
    ),
    (
        "table_not_found", "other-project:sales.orders_2024", Kind.TABLE_MISSING, True,
        "Table other-project:sales.orders_2024 was not found.", "Check the table the import reads",
    ),
    (
        "location_mismatch", f"{PROJECT}:eu_events EU", Kind.LOCATION_MISMATCH, True,
        f"Dataset {PROJECT}:eu_events was not found in location EU, where the query runs: it "
        "does not exist, or it is in another location.",
        f"same location as dataset {DATASET}",
    ),
    (
        "response_too_large", None, Kind.RESPONSE_TOO_LARGE, True,
        "larger than BigQuery returns", "map only the columns you need",
    ),
    (
        "bytes_billed_limit", "1000000 10485760", Kind.BYTES_BILLED_LIMIT, True,
        "(976.6 KB (1,000,000 bytes); it needs 10.0 MB (10,485,760 bytes))",
        "Raise the maximum bytes billed",
    ),
    (
        "billing_not_enabled", None, Kind.BILLING_NOT_ENABLED, True,
        f"Billing is not enabled for project {PROJECT}.", "Link a billing account",
    ),
    (
        "quota_exceeded", None, Kind.QUOTA_EXCEEDED, True,
        "quota of project", "Wait for the quota to reset",
    ),
    (
        "vpc_service_controls", "Xl-Uid_42", Kind.VPC_SERVICE_CONTROLS, True,
        f"VPC Service Controls blocked the request: project {PROJECT} is inside a service "
        "perimeter that this server's requests come from outside of (VPC Service Controls "
        "reference Xl-Uid_42).", "quoting reference Xl-Uid_42",
    ),
    (
        "cmek_required", PROJECT, Kind.CMEK_REQUIRED, True,
        "customer-managed encryption key (CMEK)", "default Cloud KMS key",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "detail", "kind", "permanent", "detail_words", "fix_words"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_each_documented_failure_has_its_own_cause_and_fix(
    world, fault, detail, kind, permanent, detail_words, fix_words
):
    error = failed_query(world, fault, detail)

    assert error.kind is kind
    assert error.permanent is permanent
    explanation = said(error)
    assert detail_words in explanation.detail
    assert fix_words in explanation.fix
    assert "Project ID" not in explanation.fix and "Data Editor" not in explanation.fix


def test_a_rate_limit_is_retried_but_a_used_up_quota_is_not(world):
    world.stack.gate.inject("rate_limit", times=1, match="jobs.insert")
    world.client().query("SELECT 1", location=LOCATION, timeout=5).result(timeout=5)
    assert [r.fault for r in world.stack.gate.requests if r.operation == "jobs.insert"] == [
        "rate_limit",
        None,
    ]  # the client's own retry; our seam calls it transient too

    world.stack.gate.reset()
    error = failed_query(world, "quota_exceeded")
    assert [r.fault for r in world.stack.gate.requests if r.operation == "jobs.insert"] == [
        "quota_exceeded"
    ]
    assert error.kind is Kind.QUOTA_EXCEEDED and error.permanent


def test_a_disabled_bigquery_api_is_named(world):
    world.stack.policy.set_api_enabled(PROJECT, False)
    with pytest.raises(Exception) as caught:  # noqa: PT011
        world.client().get_dataset(f"{PROJECT}.{DATASET}", retry=None, timeout=5)
    explanation = said(classify(caught.value))
    assert explanation.detail.startswith("The BigQuery API is not enabled in project ")
    assert "Enable the BigQuery API" in explanation.fix
