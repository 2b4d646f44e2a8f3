"""Google's failures in our words: every kind has them, the variants choose right, and
Google's own text goes to the server log only (with a reference id when unexpected)."""

import logging
import re
import socket

import google.auth.exceptions
import grpc
import pytest
import requests
import urllib3
from google.api_core import exceptions as api_exceptions

from connections.google_errors import (
    MESSAGES,
    NETWORK_FIX,
    RETRY_FIX,
    GoogleCallError,
    GoogleErrorKind,
    classify,
    connection_explained,
    explain,
    explained,
)
from connections.models import Connection

EMAIL = "loader@acme-analytics.iam.gserviceaccount.com"
WHERE = {"email": EMAIL, "project_id": "acme-analytics", "dataset_id": "crm"}
GOOGLES_TEXT = "Access Denied: Dataset acme-analytics:crm: Permission bigquery.datasets.get denied"


def error(kind, **fields):
    return GoogleCallError(kind, permanent=True, internal_message=GOOGLES_TEXT, **fields)


@pytest.mark.parametrize("kind", list(GoogleErrorKind))
def test_every_kind_has_our_words_with_every_blank_filled(kind):
    assert kind in MESSAGES
    said = explain(error(kind), **WHERE)
    assert said.detail and said.fix and said.status in {"fail", "unconfirmed"}
    assert "{" not in said.detail + said.fix
    assert GOOGLES_TEXT not in said.detail + said.fix


def test_a_kind_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="acces_denied"):
        GoogleCallError("acces_denied", permanent=True)
    # A stored or logged value reads as before: the plain string.
    assert GoogleCallError("rate_limited", permanent=False).kind is GoogleErrorKind.RATE_LIMITED
    assert str(GoogleErrorKind.RATE_LIMITED) == "rate_limited"


@pytest.mark.parametrize(
    ("fields", "check_id", "detail", "fix_starts"),
    [
        (
            {"kind": GoogleErrorKind.ACCESS_DENIED, "permission": "bigquery.datasets.get"},
            "dataset",
            f"{EMAIL} has no access to dataset acme-analytics:crm, or the dataset does not exist "
            "(bigquery.datasets.get is missing).",
            "Check the Dataset ID, and grant",
        ),
        (
            {"kind": GoogleErrorKind.ACCESS_DENIED},
            "",
            f"{EMAIL} has no access to dataset acme-analytics:crm, or the dataset does not exist.",
            "Check the Dataset ID, and grant",
        ),
        (
            {"kind": GoogleErrorKind.ACCESS_DENIED},
            "job_user",
            f"{EMAIL} may not run query jobs in project acme-analytics "
            "(bigquery.jobs.create is missing).",
            f"Grant {EMAIL} the BigQuery Job User role on project acme-analytics ",
        ),
        (
            {"kind": GoogleErrorKind.ACCESS_DENIED, "permission": "bigquery.jobs.create"},
            "",
            f"{EMAIL} may not run query jobs in project acme-analytics "
            "(bigquery.jobs.create is missing).",
            f"Grant {EMAIL} the BigQuery Job User role on project acme-analytics ",
        ),
        (
            {"kind": GoogleErrorKind.UNREACHABLE, "reason": "host_not_found"},
            "auth",
            "Could not reach Google (host not found).",
            NETWORK_FIX,
        ),
        (
            {"kind": GoogleErrorKind.UNREACHABLE, "reason": "timeout"},
            "auth",
            "Google did not answer in time, or answered with a temporary error.",
            RETRY_FIX,
        ),
        (
            {"kind": GoogleErrorKind.API_DISABLED, "project_number": "123456789012"},
            "dataset",
            "The BigQuery API is not enabled in project 123456789012.",
            "Enable the BigQuery API in project 123456789012 ",
        ),
        (
            {"kind": GoogleErrorKind.API_DISABLED},
            "dataset",
            "The BigQuery API is not enabled in the project.",
            "Enable the BigQuery API in the project ",
        ),
    ],
)
def test_what_we_know_chooses_the_words(fields, check_id, detail, fix_starts):
    said = explain(error(**fields), check_id=check_id, **WHERE)
    assert said.detail == detail
    assert said.fix.startswith(fix_starts)


def test_a_known_failure_logs_googles_text_and_needs_no_reference(caplog):
    with caplog.at_level(logging.INFO, logger="connections.google_errors"):
        said = explained(error(GoogleErrorKind.ACCESS_DENIED), "browse of connection 7", **WHERE)
    assert not said.reference and "Reference" not in said.detail
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"browse of connection 7 failed: access_denied (status=None, reason=-) {GOOGLES_TEXT}"
    )


def test_a_passing_failure_is_no_unexpected_one_and_needs_no_reference(caplog):
    passing = GoogleCallError(GoogleErrorKind.RATE_LIMITED, permanent=False)

    with caplog.at_level(logging.INFO, logger="connections.google_errors"):
        said = explained(passing, "run 42", **WHERE)

    assert not said.reference
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_a_saved_connections_failure_names_its_account_project_and_dataset_and_logs_at_its_level(
    caplog,
):
    connection = Connection(
        client_email=EMAIL,
        project_id="acme-analytics",
        dataset_id="crm",
        billing_project_id="acme-billing",
        scratch_dataset_id="crm_scratch",
    )

    with caplog.at_level(logging.INFO, logger="connections.google_errors"):
        said = connection_explained(
            error(GoogleErrorKind.ACCESS_DENIED), "run 42", connection, level=logging.WARNING
        )

    assert said.detail == (
        f"{EMAIL} has no access to dataset acme-analytics:crm, or the dataset does not exist."
    )
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_an_unexpected_failure_is_found_in_the_log_by_its_reference(caplog):
    with caplog.at_level(logging.INFO, logger="connections.google_errors"):
        said = explained(error(GoogleErrorKind.UNKNOWN), "run 42", level=logging.WARNING, **WHERE)
    assert re.fullmatch(r"[0-9a-f]{12}", said.reference)
    assert said.detail == f"Google answered with an unexpected error. Reference: {said.reference}."
    assert said.fix == RETRY_FIX
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert f"run 42: unexpected error (reference {said.reference})" in record.getMessage()
    assert GOOGLES_TEXT in record.getMessage()


def test_a_rate_limit_is_transient_even_when_no_retry_wrapped_it():
    """A query job that ends with rateLimitExceeded raises it directly (job_retry=None): the
    run must retry it, not fail for good."""
    error = classify(
        api_exceptions.Forbidden(
            "Exceeded rate limits: too many concurrent queries for this project_and_region.",
            errors=[{"reason": "rateLimitExceeded", "domain": "usageLimits"}],
        )
    )

    assert (error.kind, error.permanent) == (GoogleErrorKind.RATE_LIMITED, False)


def test_a_token_endpoint_answer_without_an_oauth_error_is_transient():
    """A 5xx or an HTML page from the token endpoint carries no OAuth error: nothing about
    the key is known, so it is "try again", not a refused key."""
    error = classify(
        # as google.oauth2._client raises it for a body that is not JSON
        google.auth.exceptions.RefreshError("<html>502 Bad Gateway</html>", retryable=True)
    )

    assert (error.kind, error.permanent) == (GoogleErrorKind.UNREACHABLE, False)


def _refused_key(description: str) -> google.auth.exceptions.RefreshError:
    """As google.oauth2._client raises a token endpoint's OAuth error."""
    body = {"error": "invalid_grant", "error_description": description}
    return google.auth.exceptions.RefreshError(f"invalid_grant: {description}", body)


def _linked(outer: BaseException, *, cause=None, context=None) -> BaseException:
    outer.__cause__, outer.__context__ = cause, context
    return outer


def _dns_failure_met_after_a_timeout() -> BaseException:
    outer = google.auth.exceptions.TransportError(requests.exceptions.ConnectTimeout("timed out"))
    outer.__cause__ = socket.gaierror(-2, "Name or service not known")
    return outer


@pytest.mark.parametrize(
    ("raised", "kind", "permanent", "reason"),
    [
        (_refused_key("Invalid JWT Signature."), "invalid_signature", True, "invalid_grant"),
        (_refused_key("Robot is disabled."), "account_missing", True, "invalid_grant"),
        (_refused_key("Service account has been disabled."), "account_missing", True,
         "invalid_grant"),
        (_refused_key("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                      "reasonable timeframe. Check your iat and exp values in the JWT claim."),
         "clock_skew", True, "invalid_grant"),
        (api_exceptions.TooManyRequests("Too many requests"), "rate_limited", False, ""),
        (api_exceptions.InternalServerError("Internal error", errors=[{"reason": "internalError"}]),
         "backend_error", False, "internalError"),
        (api_exceptions.ServiceUnavailable("Backend unavailable"), "backend_error", False, ""),
        # A table named like a project is a missing table, not a missing project.
        (api_exceptions.NotFound("Not found: Table acme-analytics:crm.Projects"), "table_missing",
         True, ""),
        (api_exceptions.NotFound("Not found: Project acme-analytic"), "project_missing", True, ""),
        # Out of retries: whatever the last answer was, trying again later may work.
        (api_exceptions.RetryError(
            "Timeout of 10.0s exceeded",
            cause=api_exceptions.BadRequest("Job exceeded rate limits",
                                            errors=[{"reason": "jobRateLimitExceeded"}])),
         "bad_request", False, "jobRateLimitExceeded"),
        (_dns_failure_met_after_a_timeout(), "unreachable", False, "host_not_found"),
        # Where the network's answer sits: a cause, a context, urllib3's reason, an argument.
        (_linked(google.auth.exceptions.TransportError("x"),
                 cause=ConnectionRefusedError(111, "Connection refused")),
         "unreachable", False, "connection_refused"),
        (_linked(google.auth.exceptions.TransportError("x"),
                 context=socket.gaierror(-2, "Name or service not known")),
         "unreachable", False, "host_not_found"),
        (requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
            None, "/token", reason=socket.gaierror(-2, "Name or service not known"))),
         "unreachable", False, "host_not_found"),
        (google.auth.exceptions.TransportError(requests.exceptions.ReadTimeout("Read timed out")),
         "unreachable", False, "timeout"),
        (TimeoutError("timed out"), "unreachable", False, "timeout"),
        (api_exceptions.RetryError("Timeout of 600.0s exceeded", cause=None), "unreachable",
         False, ""),
        # The Storage Read API's gRPC answers: no server answered.
        (api_exceptions.ServiceUnavailable("unavailable", response=grpc.RpcError()),
         "unreachable", False, ""),
        (api_exceptions.DeadlineExceeded("deadline", response=grpc.RpcError()), "unreachable",
         False, ""),
        # A token endpoint's error without a description, or an answer that is no OAuth error.
        (google.auth.exceptions.RefreshError("invalid_client", {"error": "invalid_client"}),
         "auth_refused", True, "invalid_client"),
        (google.auth.exceptions.RefreshError("<html>502</html>", "<html>502</html>"),
         "unreachable", False, ""),
        (_refused_key("Invalid grant: account not found"), "account_missing", True,
         "invalid_grant"),
        # A table named like a dataset is a missing table too.
        (api_exceptions.NotFound("Not found: Table acme-analytics:crm.Dataset_copies"),
         "table_missing", True, ""),
        # A 404 about anything else (a job) is nothing we expect.
        (api_exceptions.NotFound("Not found: Job acme-analytics:EU.job_123"), "unknown", True,
         ""),
        # The first of several error items decides.
        (api_exceptions.Forbidden("Exceeded rate limits", errors=[
            {"reason": "rateLimitExceeded"}, {"reason": "accessDenied"}]),
         "rate_limited", False, "rateLimitExceeded"),
        # Google's own VPC Service Controls text names only the identifier; and CMEK's policy.
        (api_exceptions.Forbidden("Request is prohibited by organization's policy. "
                                  "vpcServiceControlsUniqueIdentifier: Ab-1_c"),
         "vpc_service_controls", True, ""),
        (api_exceptions.Forbidden("VPC Service Controls: Request is prohibited by organization's "
                                  "policy."),
         "vpc_service_controls", True, ""),
        (api_exceptions.BadRequest("Constraint constraints/gcp.restrictNonCmekServices violated "
                                   "for projects/acme-analytics."),
         "cmek_required", True, ""),
        # Anything else is a failure nobody expected: retrying it would only repeat it.
        (ValueError("not a Google answer"), "unknown", True, ""),
        # An API answering 401 refused the token: the key, not the dataset's permissions.
        (api_exceptions.Unauthorized("Request had invalid authentication credentials."),
         "unauthorized", True, ""),
    ],
)  # fmt: skip
def test_google_failures_are_told_apart_and_only_passing_ones_are_retried(
    raised, kind, permanent, reason
):
    error = classify(raised)

    assert (error.kind, error.permanent, error.reason) == (kind, permanent, reason)


@pytest.mark.parametrize(
    ("kind", "detail", "fix", "status"),
    [
        (GoogleErrorKind.ACCESS_DENIED,
         f"{EMAIL} has no access to dataset acme-analytics:crm, or the dataset does not exist.",
         f"Check the Dataset ID, and grant {EMAIL} the BigQuery Data Editor role on dataset crm "
         "(BigQuery > dataset > Sharing > Permissions) or on project acme-analytics.", "fail"),
        (GoogleErrorKind.PROJECT_MISSING,
         f"Project acme-analytics does not exist, or {EMAIL} cannot see it.",
         "Check the Project ID in the Google Cloud console (it is the ID, not the name).", "fail"),
        (GoogleErrorKind.DATASET_MISSING, "Dataset crm was not found in project acme-analytics.",
         "Check the Dataset ID (it is case-sensitive) or create the dataset in BigQuery.", "fail"),
        (GoogleErrorKind.BILLING_NOT_ENABLED, "Billing is not enabled for project acme-analytics.",
         "Link a billing account to project acme-analytics (Billing > Account management > "
         "Link a billing account), then run the import again.", "fail"),
        # Limits and outages say nothing about the connection: "could not confirm", not "fail".
        (GoogleErrorKind.RATE_LIMITED,
         "BigQuery is limiting the rate of requests right now (a short-term limit, retried a few "
         "times).", RETRY_FIX, "unconfirmed"),
        (GoogleErrorKind.QUOTA_EXCEEDED,
         "A BigQuery quota of project acme-analytics is used up; retrying now would not help.",
         "Wait for the quota to reset (usually within the day) or raise it in IAM & Admin > "
         "Quotas, then run the import again.", "unconfirmed"),
        (GoogleErrorKind.BACKEND_ERROR,
         "Google did not answer in time, or answered with a temporary error.", RETRY_FIX,
         "unconfirmed"),
        # A refused key: make a new one.
        (GoogleErrorKind.AUTH_REFUSED, "Google refused to sign in with this key.",
         f"Create a new JSON key for {EMAIL} (IAM & Admin > Service Accounts > {EMAIL} > Keys > "
         "Add key) and put it in this connection with Edit.", "fail"),
        (GoogleErrorKind.UNAUTHORIZED, "Google refused to sign in with this key.",
         f"Create a new JSON key for {EMAIL} (IAM & Admin > Service Accounts > {EMAIL} > Keys > "
         "Add key) and put it in this connection with Edit.", "fail"),
        (GoogleErrorKind.BAD_REQUEST, "BigQuery refused the request as invalid.",
         "Check the Project ID and Dataset ID.", "fail"),
        (GoogleErrorKind.RESPONSE_TOO_LARGE,
         "The query's result is larger than BigQuery returns without a destination table.",
         "Make each run read less: map only the columns you need, or make the import "
         "incremental so that each run reads one window.", "fail"),
        # Google's answer did not say which table.
        (GoogleErrorKind.TABLE_MISSING, "A table was not found.", "Check the table name.", "fail"),
        (GoogleErrorKind.VPC_SERVICE_CONTROLS,
         "VPC Service Controls blocked the request: project acme-analytics is inside a service "
         "perimeter that this server's requests come from outside of.",
         f"Ask your Google Cloud administrator to allow {EMAIL} from this server's network in "
         "the perimeter (an ingress rule or access level in Security > VPC Service Controls).",
         "fail"),
        # The Storage Read API's own failures reach a page only if its fallback failed too.
        (GoogleErrorKind.READ_STREAM_GONE, "Google answered with an unexpected error.",
         RETRY_FIX, "fail"),
        (GoogleErrorKind.STORAGE_UNAVAILABLE, "Google answered with an unexpected error.",
         RETRY_FIX, "fail"),
    ],
)  # fmt: skip
def test_each_failure_names_the_right_project_dataset_and_fix(kind, detail, fix, status):
    said = explain(error(kind), **WHERE)

    assert (said.detail, said.fix, said.status) == (detail, fix, status)


def test_a_disabled_storage_api_is_named_from_googles_text_alone():
    """The Storage Read API's gRPC answer carries no error reason, only the text."""
    error = classify(
        api_exceptions.PermissionDenied(
            "BigQuery Storage API has not been used in project 123456789 before or it is "
            "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
            "bigquerystorage.googleapis.com/overview?project=123456789 then retry."
        )
    )

    assert (error.kind, error.project_number) == (GoogleErrorKind.API_DISABLED, "123456789")
    assert explain(error, **WHERE).detail == (
        "The BigQuery Storage API is not enabled in project 123456789."
    )


def test_a_disabled_cloud_resource_manager_api_is_named_not_taken_for_bigquerys():
    """Project permissions are asked of Cloud Resource Manager: with its API off, telling the
    user to enable the BigQuery API (already on) would send them the wrong way."""
    error = classify(
        api_exceptions.Forbidden(
            "Cloud Resource Manager API has not been used in project 123456789 before or it "
            "is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
            "cloudresourcemanager.googleapis.com/overview?project=123456789 then retry.",
            errors=[{"reason": "accessNotConfigured"}],
        )
    )

    said = explain(error, **WHERE)
    assert said.detail == "The Cloud Resource Manager API is not enabled in project 123456789."
    assert said.fix.startswith(
        "Enable the Cloud Resource Manager API in project 123456789 (APIs & Services > Library "
        "> Cloud Resource Manager API > Enable)"
    )


def test_no_route_to_google_is_could_not_confirm_not_a_failure():
    said = explain(error(GoogleErrorKind.UNREACHABLE, reason="connection_refused"), **WHERE)

    assert (said.detail, said.status) == (
        "Could not reach Google (connection refused).",
        "unconfirmed",
    )


def test_a_missing_permission_is_named_as_google_spells_it():
    error = classify(
        api_exceptions.Forbidden(
            "Access Denied: Table acme-analytics:crm.users: Permission bigquery.tables.getData "
            "denied on table acme-analytics:crm.users (or it may not exist)."
        )
    )

    assert error.permission == "bigquery.tables.getData"
    assert explain(error, **WHERE).detail.endswith("(bigquery.tables.getData is missing).")


def test_an_api_disabled_in_googles_older_words_is_the_bigquery_api():
    error = classify(
        api_exceptions.Forbidden(
            "Access Not Configured. BigQuery has not been enabled for your project.",
            errors=[{"reason": "accessNotConfigured"}],
        )
    )

    assert explain(error, **WHERE).detail == "The BigQuery API is not enabled in the project."


def test_a_missing_dataset_is_named_with_a_regional_location():
    error = classify(
        api_exceptions.NotFound(
            "Not found: Dataset acme-analytics:eu_events was not found in location europe-west2"
        )
    )

    assert error.facts == {"dataset": "acme-analytics:eu_events", "location": "europe-west2"}


def test_a_bytes_billed_limit_is_known_by_its_text_without_a_reason():
    error = classify(
        api_exceptions.BadRequest(
            "Query exceeded limit for bytes billed: 10485760. 20971520 or higher required."
        )
    )

    assert error.kind is GoogleErrorKind.BYTES_BILLED_LIMIT
    assert error.facts == {
        "limit": "10.0 MB (10,485,760 bytes)",
        "required": "20.0 MB (20,971,520 bytes)",
    }


def test_a_missing_table_is_named_without_the_sentences_full_stop():
    error = classify(api_exceptions.NotFound("Not found: Table acme-analytics:crm.orders."))

    assert error.facts == {"table": "acme-analytics:crm.orders"}
    assert explain(error, **WHERE).detail == "Table acme-analytics:crm.orders was not found."


def _invalid_query(message: str) -> GoogleCallError:
    return classify(
        api_exceptions.BadRequest(message, errors=[{"reason": "invalidQuery", "message": message}])
    )


def test_bigquerys_words_on_a_query_are_kept_on_one_line_up_to_400_characters():
    assert _invalid_query("Syntax error:\n  Unexpected\tkeyword  FROM").facts == {
        "google_message": "Syntax error: Unexpected keyword FROM"
    }
    exactly = "x" * 400
    assert _invalid_query(exactly).facts["google_message"] == exactly
    longer = _invalid_query(exactly + "y").facts["google_message"]
    assert longer == "x" * 399 + "…"


def test_only_bigquerys_words_on_the_query_are_shown_not_the_whole_answer():
    said = "Unrecognized name: emial at [1:8]"
    error = classify(
        api_exceptions.BadRequest(
            f"POST https://bigquery.googleapis.com/bigquery/v2/projects/p/jobs: {said}",
            errors=[{"reason": "invalidQuery", "message": said}],
        )
    )

    assert error.facts == {"google_message": said}
