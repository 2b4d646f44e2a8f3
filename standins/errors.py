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
