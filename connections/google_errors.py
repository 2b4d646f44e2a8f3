"""Google's failures, in our words: the kinds, how an exception becomes one, what we tell the user.

Part of the seam to Google (with connections/bigquery.py): every exception google-auth,
google-cloud-bigquery or the network raises leaves the seam as a GoogleCallError of one
GoogleErrorKind (`google_call()` does that around each call). Callers choose on the kind,
never on Google's text: `explained()` logs that text for the operator and returns our
detail and fix from MESSAGES, with a reference id when the failure was unexpected. Google's
text never reaches a page: it can carry a response body from elsewhere.
"""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

import google.auth.exceptions
import requests
import urllib3
from google.api_core import exceptions as api_exceptions

try:  # optional, as in connections/bigquery.py: the Storage Read API's transport
    import grpc
except ImportError:  # pragma: no cover - depends on the installation
    grpc = None

logger = logging.getLogger(__name__)


class GoogleErrorKind(StrEnum):
    """What went wrong with a call to Google, as far as our messages care."""

    # The token request (OAuth) was refused.
    INVALID_SIGNATURE = "invalid_signature"  # key deleted or replaced
    ACCOUNT_MISSING = "account_missing"  # service account deleted or disabled
    CLOCK_SKEW = "clock_skew"
    AUTH_REFUSED = "auth_refused"
    # An API call was refused.
    UNAUTHORIZED = "unauthorized"
    API_DISABLED = "api_disabled"
    PROJECT_MISSING = "project_missing"
    DATASET_MISSING = "dataset_missing"
    TABLE_MISSING = "table_missing"
    ACCESS_DENIED = "access_denied"
    BAD_REQUEST = "bad_request"
    # Try again later.
    UNREACHABLE = "unreachable"  # no answer; `reason` says why when the network told us
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    BACKEND_ERROR = "backend_error"
    # The Storage Read API: the run falls back to REST paging or re-reads.
    READ_STREAM_GONE = "read_stream_gone"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    UNKNOWN = "unknown"


Kind = GoogleErrorKind


@dataclass
class GoogleCallError(Exception):
    """A failed call to Google, classified; `internal_message` is Google's text (log only)."""

    kind: GoogleErrorKind
    permanent: bool
    status: int | None = None
    reason: str = ""
    permission: str = ""
    project_number: str = ""
    internal_message: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.kind = GoogleErrorKind(self.kind)  # a misspelt kind fails here, not in a message

    def __str__(self) -> str:
        return f"{self.kind} (status={self.status}, reason={self.reason or '-'})"


# -- classification ------------------------------------------------------------------------------


@contextmanager
def google_call() -> Iterator[None]:
    """Around a call to Google: whatever it raises comes out as a GoogleCallError."""
    try:
        yield
    except GoogleCallError:
        raise
    except Exception as exc:
        raise classify(exc) from exc


_PERMISSION_RE = re.compile(r"(bigquery\.[a-zA-Z]+\.[a-zA-Z]+)")
_PROJECT_NUMBER_RE = re.compile(r"project (\d+)")


def classify(exc: BaseException) -> GoogleCallError:
    """Map any exception from google-auth / google-cloud-bigquery / requests to a kind."""
    if isinstance(exc, GoogleCallError):
        return exc
    if isinstance(exc, api_exceptions.RetryError) and exc.cause is not None:
        inner = classify(exc.cause)
        inner.permanent = False
        return inner
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return _classify_refresh(exc)
    if isinstance(
        exc,
        google.auth.exceptions.TransportError
        | requests.RequestException
        | api_exceptions.RetryError
        | TimeoutError
        | ConnectionError,
    ):
        return GoogleCallError(
            Kind.UNREACHABLE,
            permanent=False,
            reason=network_failure(exc),
            internal_message=str(exc),
        )
    if grpc is not None and isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return classify(api_exceptions.from_grpc_error(exc))
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        from_grpc = grpc is not None and isinstance(exc.response, grpc.RpcError)
        if from_grpc and isinstance(
            exc, api_exceptions.ServiceUnavailable | api_exceptions.DeadlineExceeded
        ):
            # gRPC UNAVAILABLE / DEADLINE_EXCEEDED: no answer from the server (Storage Read API).
            return GoogleCallError(
                Kind.UNREACHABLE, permanent=False, status=exc.code, internal_message=str(exc)
            )
        return _classify_api(exc)
    return GoogleCallError(Kind.UNKNOWN, permanent=True, internal_message=repr(exc))


def network_failure(exc: BaseException) -> str:
    """Why no answer came: "connection_refused", "host_not_found", "timeout", or "".

    The cause sits a few wrappers deep (google-auth's TransportError around requests'
    ConnectionError around urllib3's MaxRetryError around NewConnectionError around the
    socket's error), linked by __cause__, __context__, args and urllib3's `reason`.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    found = ""
    while pending and len(seen) < 50:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return "host_not_found"
        if isinstance(current, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(current, TimeoutError | requests.Timeout | urllib3.exceptions.TimeoutError):
            found = "timeout"
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        pending += [e for e in linked if isinstance(e, BaseException)]
    return found


def _classify_refresh(exc: google.auth.exceptions.RefreshError) -> GoogleCallError:
    body = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    error = str(body.get("error", ""))
    description = str(body.get("error_description", ""))
    text = f"{error} {description}".lower()
    message = str(exc.args[0]) if exc.args else ""
    if "invalid jwt signature" in text:
        kind = Kind.INVALID_SIGNATURE
    elif "account not found" in text or "disabled" in text or "robot" in text:
        kind = Kind.ACCOUNT_MISSING
    elif "timeframe" in text or "iat" in text or "exp" in text:
        kind = Kind.CLOCK_SKEW
    elif error:
        kind = Kind.AUTH_REFUSED
    else:
        # No OAuth error body: the endpoint answered with something else (5xx, HTML).
        return GoogleCallError(Kind.UNREACHABLE, permanent=False, internal_message=message)
    return GoogleCallError(kind, permanent=True, reason=error, internal_message=message)


def _classify_api(exc: api_exceptions.GoogleAPICallError) -> GoogleCallError:
    errors = getattr(exc, "errors", None) or []
    reason = str(errors[0].get("reason", "")) if errors and isinstance(errors[0], dict) else ""
    message = getattr(exc, "message", "") or str(exc)
    status = getattr(exc, "code", None)
    permission_match = _PERMISSION_RE.search(message)
    permission = permission_match.group(1) if permission_match else ""
    number = ""
    # BigQuery reports rate and quota limits as 403 with a reason, not as 429.
    if reason == "rateLimitExceeded" or status == 429:
        kind = Kind.RATE_LIMITED
    elif reason == "quotaExceeded":
        kind = Kind.QUOTA_EXCEEDED
    elif reason == "accessNotConfigured" or "has not been used in project" in message:
        kind, permission = Kind.API_DISABLED, ""
        found = _PROJECT_NUMBER_RE.search(message)
        number = found.group(1) if found else ""
    elif status == 401:
        kind = Kind.UNAUTHORIZED
    elif status == 404 and "Not found: Project" in message:
        kind = Kind.PROJECT_MISSING
    elif status == 404 and "Not found: Dataset" in message:
        kind = Kind.DATASET_MISSING
    elif status == 404 and "Not found: Table" in message:
        kind = Kind.TABLE_MISSING
    elif status == 403:
        kind = Kind.ACCESS_DENIED
    elif status is not None and status >= 500:
        kind = Kind.BACKEND_ERROR
    elif status == 400:
        kind = Kind.BAD_REQUEST
    else:
        kind = Kind.UNKNOWN
    return GoogleCallError(
        kind,
        permanent=kind not in TRANSIENT,
        status=status,
        reason=reason,
        permission=permission,
        project_number=number,
        internal_message=message,
    )


# Answers that may change by themselves: an import run retries them.
TRANSIENT = frozenset({Kind.RATE_LIMITED, Kind.QUOTA_EXCEEDED, Kind.BACKEND_ERROR})


# -- our words -----------------------------------------------------------------------------------

FAIL, UNCONFIRMED = "fail", "unconfirmed"

RETRY_FIX = "Try again in a minute. If it keeps happening, check that this server can reach Google."
NETWORK_FIX = (
    "Check this server's network or proxy: it must reach Google's APIs "
    "(oauth2.googleapis.com and bigquery.googleapis.com) over HTTPS."
)
# Failures where no request reached Google at all: nothing is known about the connection.
NO_ROUTE = {"connection_refused": "connection refused", "host_not_found": "host not found"}


@dataclass(frozen=True)
class Message:
    """Our words for a kind: templates over {email}, {project_id}, {dataset_id}, {where},
    {missing} and {route}. `status` is the check's: fail, or unconfirmed when the failure
    says nothing about the connection."""

    detail: str
    fix: str
    status: str = FAIL


NEW_KEY = (
    "Create a new JSON key for {email} (IAM & Admin > Service Accounts > {email} > Keys > "
    "Add key) and put it in this connection with Edit."
)
UNEXPECTED = Message("Google answered with an unexpected error.", RETRY_FIX)
TEMPORARY = Message(
    "Google did not answer in time, or answered with a temporary error.", RETRY_FIX, UNCONFIRMED
)

# fmt: off
MESSAGES: dict[GoogleErrorKind, Message] = {
    Kind.INVALID_SIGNATURE: Message(
        "Google rejected the key: it was deleted or replaced in Google Cloud.", NEW_KEY),
    Kind.ACCOUNT_MISSING: Message(
        "The service account {email} is deleted or disabled.",
        "Enable {email} (IAM & Admin > Service Accounts), or create a new service account "
        "and key and put the key in this connection."),
    Kind.CLOCK_SKEW: Message(
        "Google refused the sign-in because this server's clock is wrong.",
        "Synchronise the server's clock (NTP) and try again."),
    Kind.AUTH_REFUSED: Message("Google refused to sign in with this key.", NEW_KEY),
    Kind.UNAUTHORIZED: Message("Google refused to sign in with this key.", NEW_KEY),
    Kind.API_DISABLED: Message(
        "The BigQuery API is not enabled in {where}.",
        "Enable the BigQuery API in {where} (APIs & Services > Library > BigQuery API > "
        "Enable), wait a few minutes, and test again."),
    Kind.PROJECT_MISSING: Message(
        "Project {project_id} does not exist, or {email} cannot see it.",
        "Check the Project ID in the Google Cloud console (it is the ID, not the name)."),
    Kind.DATASET_MISSING: Message(
        "Dataset {dataset_id} was not found in project {project_id}.",
        "Check the Dataset ID (it is case-sensitive) or create the dataset in BigQuery."),
    Kind.TABLE_MISSING: Message("A table was not found.", "Check the table name."),
    # Google gives the same 403 for a dataset that does not exist (see google-api-facts).
    Kind.ACCESS_DENIED: Message(
        "{email} has no access to dataset {project_id}:{dataset_id}, or the dataset does "
        "not exist{missing}.",
        "Check the Dataset ID, and grant {email} the BigQuery Data Editor role on dataset "
        "{dataset_id} (BigQuery > dataset > Sharing > Permissions) or on project {project_id}."),
    Kind.BAD_REQUEST: Message(
        "BigQuery refused the request as invalid.", "Check the Project ID and Dataset ID."),
    Kind.UNREACHABLE: TEMPORARY,
    Kind.RATE_LIMITED: Message(
        "BigQuery is limiting the rate of requests right now.", RETRY_FIX, UNCONFIRMED),
    Kind.QUOTA_EXCEEDED: Message(
        "A BigQuery quota of project {project_id} is used up.",
        "Wait for the quota to reset (usually within the day) or raise it in "
        "IAM & Admin > Quotas.", UNCONFIRMED),
    Kind.BACKEND_ERROR: TEMPORARY,
    Kind.READ_STREAM_GONE: UNEXPECTED,
    Kind.STORAGE_UNAVAILABLE: UNEXPECTED,
    Kind.UNKNOWN: UNEXPECTED,
}
# Two kinds say more when we know more: which permission is missing, why nothing answered.
JOBS_DENIED = Message(
    "{email} may not run query jobs in project {project_id} (bigquery.jobs.create is missing).",
    "Grant {email} the BigQuery Job User role on project {project_id} "
    "(IAM & Admin > IAM > Grant access).")
NOT_REACHED = Message("Could not reach Google ({route}).", NETWORK_FIX, UNCONFIRMED)
# fmt: on


@dataclass(frozen=True)
class Explanation:
    """What the user reads about a failed call; `reference` finds it in the server log."""

    detail: str
    fix: str
    status: str
    reference: str = ""


def message_for(error: GoogleCallError, *, check_id: str = "") -> Message:
    if error.kind is Kind.ACCESS_DENIED and (
        check_id == "job_user" or error.permission == "bigquery.jobs.create"
    ):
        return JOBS_DENIED
    if error.kind is Kind.UNREACHABLE and error.reason in NO_ROUTE:
        return NOT_REACHED
    return MESSAGES[error.kind]


def explain(
    error: GoogleCallError, *, email: str, project_id: str, dataset_id: str, check_id: str = ""
) -> Explanation:
    """Our detail, fix and check status for a classified error (nothing logged)."""
    message = message_for(error, check_id=check_id)
    values = {
        "email": email,
        "project_id": project_id,
        "dataset_id": dataset_id,
        "where": f"project {error.project_number}" if error.project_number else "the project",
        "missing": f" ({error.permission} is missing)" if error.permission else "",
        "route": NO_ROUTE.get(error.reason, ""),
    }
    return Explanation(
        message.detail.format(**values), message.fix.format(**values), message.status
    )


def explained(
    error: GoogleCallError,
    what: str,
    *,
    email: str,
    project_id: str,
    dataset_id: str,
    check_id: str = "",
    level: int = logging.INFO,
) -> Explanation:
    """Log Google's own text for `what` (e.g. "run 42") and return our words for the user.

    An unexpected error is logged as an error under a short reference id, which the detail
    ends with so the operator can find it.
    """
    explanation = explain(
        error, email=email, project_id=project_id, dataset_id=dataset_id, check_id=check_id
    )
    if error.kind is not Kind.UNKNOWN:
        logger.log(level, "%s failed: %s %s", what, error, error.internal_message)
        return explanation
    reference = uuid.uuid4().hex[:12]
    logger.error(
        "%s: unexpected error (reference %s): %s %s", what, reference, error, error.internal_message
    )
    return Explanation(
        f"{explanation.detail} Reference: {reference}.",
        explanation.fix,
        explanation.status,
        reference,
    )
