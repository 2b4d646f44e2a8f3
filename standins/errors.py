"""Google API error bodies, in the JSON shape the Python client libraries parse."""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
}


class GoogleError(Exception):
    """An error answered as ``{"error": {"code", "message", "errors": [...], "status"}}``."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None,
        *,
        domain: str = "global",
        item_message: str | None = None,
        item_extra: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.item_message = item_message or message
        self.item_extra = item_extra or {}
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.reason is not None:
            error["errors"] = [
                {
                    "message": self.item_message,
                    "domain": self.domain,
                    "reason": self.reason,
                    **self.item_extra,
                }
            ]
        error["status"] = STATUS_BY_CODE.get(self.code, "UNKNOWN")
        if self.details:
            error["details"] = self.details
        return {"error": error}


def missing_credentials() -> GoogleError:
    return GoogleError(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "required",
        item_message="Login Required.",
        item_extra={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def invalid_credentials() -> GoogleError:
    return GoogleError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        item_message="Invalid Credentials",
        item_extra={"location": "Authorization", "locationType": "header"},
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        },
    )


def insufficient_scopes(service: str, method: str) -> GoogleError:
    return GoogleError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        item_message="Insufficient Permission",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": service, "method": method},
            }
        ],
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope"'
        },
    )


def service_disabled(service: str, title: str, project_number: str) -> GoogleError:
    url = (
        f"https://console.developers.google.com/apis/api/{service}/overview"
        f"?project={project_number}"
    )
    message = (
        f"{title} has not been used in project {project_number} before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a few "
        "minutes for the action to propagate to our systems and retry."
    )
    return GoogleError(
        403,
        message,
        "accessNotConfigured",
        domain="usageLimits",
        item_extra={"extendedHelp": "https://console.developers.google.com"},
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "consumer": f"projects/{project_number}",
                    "service": service,
                    "serviceTitle": title,
                    "containerInfo": project_number,
                    "activationUrl": url,
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": url}],
            },
        ],
    )


def not_found(message: str) -> GoogleError:
    return GoogleError(404, message, "notFound")


def access_denied(message: str) -> GoogleError:
    return GoogleError(403, message, "accessDenied")


def dataset_denied(permission: str, project: str, dataset: str) -> GoogleError:
    ref = f"{project}:{dataset}"
    return access_denied(
        f"Access Denied: Dataset {ref}: Permission {permission} denied on dataset {ref} "
        "(or it may not exist)."
    )


def table_denied(permission: str, project: str, dataset: str, table: str) -> GoogleError:
    ref = f"{project}:{dataset}.{table}"
    return access_denied(
        f"Access Denied: Table {ref}: Permission {permission} denied on table {ref} "
        "(or it may not exist)."
    )


def project_denied(permission: str, project: str) -> GoogleError:
    return access_denied(
        f"Access Denied: Project {project}: User does not have {permission} permission in "
        f"project {project}."
    )


def query_table_denied(project: str, dataset: str, table: str, location: str) -> GoogleError:
    ref = f"{project}:{dataset}.{table}"
    return access_denied(
        f"Access Denied: Table {ref}: User does not have permission to query table {ref}, or "
        f"perhaps it does not exist in location {location}."
    )


def backend_error() -> GoogleError:
    return GoogleError(
        503, "Error encountered during execution. Retrying may solve the problem.", "backendError"
    )


def rate_limited() -> GoogleError:
    return GoogleError(
        403,
        "Exceeded rate limits: too many api requests per user per method for this user_method. "
        "For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
        "rateLimitExceeded",
        domain="usageLimits",
    )


def caller_lacks_permission() -> GoogleError:
    """Cloud Resource Manager's answer for a project that is missing or not visible."""
    return GoogleError(403, "The caller does not have permission", None)


# -- documented failures, injected as gate faults --------------------------------------------
# Each answers as BigQuery does; the source of its shape is in its docstring. ``detail``
# replaces the example's names (a table, a column, a limit) where the fault has any.


def invalid_query(detail: str | None = None) -> GoogleError:
    """400 ``invalidQuery``: the SQL cannot run (https://cloud.google.com/bigquery/docs/
    error-messages, "invalidQuery"; the message is BigQuery's, e.g. a failed cast)."""
    message = detail or 'Could not cast literal "abc" to type INT64 at [1:13]'
    return GoogleError(400, message, "invalidQuery")


def partition_filter_required(detail: str | None = None) -> GoogleError:
    """400 ``invalidQuery`` for a table with require_partition_filter
    (https://cloud.google.com/bigquery/docs/querying-partitioned-tables#require_a_partition_filter_in_queries).
    ``detail``: "project.dataset.table column"."""
    table, _, column = (detail or "acme-analytics.events.page_views event_date").partition(" ")
    return GoogleError(
        400,
        f"Cannot query over table '{table}' without a filter over column(s) '{column}' that "
        "can be used for partition elimination",
        "invalidQuery",
    )


def table_not_found(detail: str | None = None) -> GoogleError:
    """404 ``notFound`` for a table a query names (error-messages, "notFound"); ``detail``:
    "project:dataset.table"."""
    ref = detail or "acme-analytics:other_dataset.missing_table"
    return GoogleError(404, f"Not found: Table {ref} was not found in location US", "notFound")


def location_mismatch(detail: str | None = None) -> GoogleError:
    """404 ``notFound`` when a job runs in one location and reads a dataset of another
    (https://cloud.google.com/bigquery/docs/locations; spark-bigquery-connector#374);
    ``detail``: "project:dataset LOCATION"."""
    ref, _, location = (detail or "acme-analytics:eu_events EU").partition(" ")
    return GoogleError(404, f"Not found: Dataset {ref} was not found in location {location}",
                       "notFound")  # fmt: skip


def response_too_large(detail: str | None = None) -> GoogleError:
    """403 ``responseTooLarge``: an anonymous result over the limit (error-messages,
    "responseTooLarge")."""
    return GoogleError(
        403,
        "Response too large to return. Consider specifying a destination table in your job "
        "configuration. For more details, see "
        "https://cloud.google.com/bigquery/troubleshooting-errors",
        "responseTooLarge",
    )


def bytes_billed_limit(detail: str | None = None) -> GoogleError:
    """400 ``bytesBilledLimitExceeded``: the job's maximumBytesBilled is too low
    (error-messages, "bytesBilledLimitExceeded"); ``detail``: "limit required"."""
    limit, _, required = (detail or "1000000 10485760").partition(" ")
    return GoogleError(
        400,
        f"Query exceeded limit for bytes billed: {limit}. {required} or higher required.",
        "bytesBilledLimitExceeded",
    )


def billing_not_enabled(detail: str | None = None) -> GoogleError:
    """403 ``billingNotEnabled`` (error-messages, "billingNotEnabled")."""
    return GoogleError(
        403,
        "Billing has not been enabled for this project. Enable billing at "
        "https://console.cloud.google.com/billing. Queries are not allowed in the free tier "
        "beyond its limits. Set up a billing account to remove this restriction.",
        "billingNotEnabled",
    )


def quota_exceeded(detail: str | None = None) -> GoogleError:
    """403 ``quotaExceeded``, a long-term quota (https://cloud.google.com/bigquery/docs/
    troubleshoot-quotas: "wait at least 10 minutes"; not rateLimitExceeded)."""
    return GoogleError(
        403,
        "Quota exceeded: Your project exceeded quota for free query bytes scanned. For more "
        "information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
        "quotaExceeded",
        domain="usageLimits",
    )


def vpc_service_controls(detail: str | None = None) -> GoogleError:
    """403 from VPC Service Controls (https://cloud.google.com/vpc-service-controls/docs/
    troubleshooting: "VPC Service Controls: Request is prohibited by organization's
    policy", with the unique identifier in a PreconditionFailure)."""
    uid = detail or "XlFLBBM_Wstu6u3Qn5s1K-u9iaDLZTwFIULqFOU_n_uPOdTr"
    return GoogleError(
        403,
        "VPC Service Controls: Request is prohibited by organization's policy. "
        f"vpcServiceControlsUniqueIdentifier: {uid}",
        "accessDenied",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{"type": "VPC_SERVICE_CONTROLS", "description": uid}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SECURITY_POLICY_VIOLATED",
                "domain": "googleapis.com",
                "metadata": {"service": "bigquery.googleapis.com", "uid": uid},
            },
        ],
    )


def cmek_required(detail: str | None = None) -> GoogleError:
    """400 when the organisation policy constraints/gcp.restrictNonCmekServices covers
    BigQuery and a query has no key (https://cloud.google.com/bigquery/docs/
    customer-managed-encryption#services_constraint; dataform#1793)."""
    project = detail or "acme-analytics"
    return GoogleError(
        400,
        "Your administrator requires that you specify an encryption key for queries in "
        f"project {project}. See https://cloud.google.com/bigquery/docs/"
        "customer-managed-encryption#services_constraint for more info.",
        "invalid",
    )


DOCUMENTED = {
    "invalid_query": invalid_query,
    "partition_filter_required": partition_filter_required,
    "table_not_found": table_not_found,
    "location_mismatch": location_mismatch,
    "response_too_large": response_too_large,
    "bytes_billed_limit": bytes_billed_limit,
    "billing_not_enabled": billing_not_enabled,
    "quota_exceeded": quota_exceeded,
    "vpc_service_controls": vpc_service_controls,
    "cmek_required": cmek_required,
}
