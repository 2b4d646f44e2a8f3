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
from typing import TYPE_CHECKING

import google.auth.exceptions
import requests
import urllib3
from django.template.defaultfilters import filesizeformat
from google.api_core import exceptions as api_exceptions

if TYPE_CHECKING:
    from connections.models import Connection

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
    # The query or the project's set-up, as BigQuery explains it (error reasons documented at
    # https://cloud.google.com/bigquery/docs/error-messages).
    INVALID_QUERY = "invalid_query"  # the user's SQL: BigQuery's own message is shown
    PARTITION_FILTER_REQUIRED = "partition_filter_required"
    LOCATION_MISMATCH = "location_mismatch"
    RESPONSE_TOO_LARGE = "response_too_large"
    BYTES_BILLED_LIMIT = "bytes_billed_limit"
    BILLING_NOT_ENABLED = "billing_not_enabled"
    VPC_SERVICE_CONTROLS = "vpc_service_controls"
    CMEK_REQUIRED = "cmek_required"
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
    # What the message needs from Google's answer (a table, a column, a limit), parsed here so
    # that callers never read Google's text; see _facts().
    facts: dict[str, str] = field(default_factory=dict)

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


_TABLE_RE = re.compile(r"Not found: Table ([\w.:-]+)")
_LOCATION_RE = re.compile(r"Not found: Dataset ([\w.:-]+) was not found in location ([\w-]+)")
_PARTITION_RE = re.compile(
    r"Cannot query over table '([^']+)' without a filter over column\(s\) '([^']+)'"
)
_BYTES_BILLED_RE = re.compile(r"bytes billed: (\d+)\. (\d+) or higher required")
# Only the APIs we call are named from Google's text (project permissions come from Cloud
# Resource Manager); any other title reads as the BigQuery API.
_API_TITLE_RE = re.compile(
    r"(BigQuery(?: Storage)? API|Cloud Resource Manager API) has not been used in project"
)
_VPC_ID_RE = re.compile(r"vpcServiceControlsUniqueIdentifier: ([\w-]+)")
# BigQuery's own words about the user's SQL are shown (its error item's message, not the
# whole answer), trimmed: they name columns, types and positions, not secrets.
GOOGLE_MESSAGE_LIMIT = 400


def _classify_api(exc: api_exceptions.GoogleAPICallError) -> GoogleCallError:
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    reason = str(first.get("reason", ""))
    message = getattr(exc, "message", "") or str(exc)
    status = getattr(exc, "code", None)
    permission_match = _PERMISSION_RE.search(message)
    permission = permission_match.group(1) if permission_match else ""
    number = ""
    facts: dict[str, str] = {}
    # BigQuery reports rate and quota limits as 403 with a reason, not as 429.
    if reason == "rateLimitExceeded" or status == 429:
        kind = Kind.RATE_LIMITED
    elif reason == "quotaExceeded":
        kind = Kind.QUOTA_EXCEEDED
    elif reason == "billingNotEnabled":
        kind = Kind.BILLING_NOT_ENABLED
    elif reason == "responseTooLarge":
        kind = Kind.RESPONSE_TOO_LARGE
    elif reason == "bytesBilledLimitExceeded" or _BYTES_BILLED_RE.search(message):
        kind = Kind.BYTES_BILLED_LIMIT
        if found := _BYTES_BILLED_RE.search(message):
            facts = {"limit": _size(int(found[1])), "required": _size(int(found[2]))}
    elif reason == "accessNotConfigured" or "has not been used in project" in message:
        kind, permission = Kind.API_DISABLED, ""
        found = _PROJECT_NUMBER_RE.search(message)
        number = found.group(1) if found else ""
        title = _API_TITLE_RE.search(message)
        facts = {"api": title.group(1) if title else "BigQuery API"}
    elif "VPC Service Controls" in message or "vpcServiceControlsUniqueIdentifier" in message:
        kind, permission = Kind.VPC_SERVICE_CONTROLS, ""
        found = _VPC_ID_RE.search(message)
        facts = {"vpc_id": found.group(1) if found else ""}
    elif "restrictNonCmekServices" in message or "specify an encryption key" in message:
        kind = Kind.CMEK_REQUIRED
    elif found := _PARTITION_RE.search(message):
        kind = Kind.PARTITION_FILTER_REQUIRED
        facts = {"table": found.group(1), "columns": found.group(2)}
    elif status == 401:
        kind = Kind.UNAUTHORIZED
    elif status == 404 and "Not found: Project" in message:
        kind = Kind.PROJECT_MISSING
    elif status == 404 and (found := _LOCATION_RE.search(message)):
        kind = Kind.LOCATION_MISMATCH
        facts = {"dataset": found.group(1), "location": found.group(2)}
    elif status == 404 and "Not found: Dataset" in message:
        kind = Kind.DATASET_MISSING
    elif status == 404 and (found := _TABLE_RE.search(message)):
        kind = Kind.TABLE_MISSING
        facts = {"table": found.group(1).rstrip(".")}
    elif status == 403:
        kind = Kind.ACCESS_DENIED
    elif status is not None and status >= 500:
        kind = Kind.BACKEND_ERROR
    elif reason == "invalidQuery":
        kind = Kind.INVALID_QUERY
        said = " ".join(str(first.get("message") or "").split())
        if len(said) > GOOGLE_MESSAGE_LIMIT:
            said = said[: GOOGLE_MESSAGE_LIMIT - 1] + "…"
        facts = {"google_message": said}
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
        facts=facts,
    )


# Answers that may change by themselves within minutes: an import run retries them. A used-up
# quota (quotaExceeded) does not come back within a run: it resets daily or is raised by hand.
TRANSIENT = frozenset({Kind.RATE_LIMITED, Kind.BACKEND_ERROR})


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
        "The {api} is not enabled in {where}.",
        "Enable the {api} in {where} (APIs & Services > Library > {api} > "
        "Enable), wait a few minutes, and test again."),
    Kind.PROJECT_MISSING: Message(
        "Project {project_id} does not exist, or {email} cannot see it.",
        "Check the Project ID in the Google Cloud console (it is the ID, not the name)."),
    Kind.DATASET_MISSING: Message(
        "Dataset {dataset_id} was not found in project {project_id}.",
        "Check the Dataset ID (it is case-sensitive) or create the dataset in BigQuery."),
    Kind.TABLE_MISSING: Message(
        "Table {table} was not found.",
        "Check the table the import reads (names are case-sensitive, and a query names tables "
        "with their dataset), or create the table."),
    # Google gives the same 403 for a dataset that does not exist (see google-api-facts).
    Kind.ACCESS_DENIED: Message(
        "{email} has no access to dataset {project_id}:{dataset_id}, or the dataset does "
        "not exist{missing}.",
        "Check the Dataset ID, and grant {email} the BigQuery Data Editor role on dataset "
        "{dataset_id} (BigQuery > dataset > Sharing > Permissions) or on project {project_id}."),
    Kind.BAD_REQUEST: Message(
        "BigQuery refused the request as invalid.", "Check the Project ID and Dataset ID."),
    Kind.INVALID_QUERY: Message(
        "BigQuery could not run the query: {google_message}",
        "Fix the query: Duplicate the import, correct the query in the copy's source step "
        "and save the copy."),
    Kind.PARTITION_FILTER_REQUIRED: Message(
        "Table {table} can only be queried with a filter on its partitioning column "
        "{columns}.",
        "Fix the query: add a WHERE condition on {columns} to the import's query, or make "
        "the import incremental with {columns} as its cursor column (Duplicate the import "
        "to change either)."),
    # BigQuery gives this one answer both for a dataset that does not exist and for one in
    # another location than the job's.
    Kind.LOCATION_MISMATCH: Message(
        "Dataset {dataset} was not found in location {location}, where the query runs: it "
        "does not exist, or it is in another location.",
        "Check the dataset's name in the query (names are case-sensitive). A query reads "
        "datasets of one location only: read tables in the same location as dataset "
        "{dataset_id}, or copy the data there."),
    Kind.RESPONSE_TOO_LARGE: Message(
        "The query's result is larger than BigQuery returns without a destination table.",
        "Make each run read less: map only the columns you need, or make the import "
        "incremental so that each run reads one window."),
    Kind.BYTES_BILLED_LIMIT: Message(
        "The query would bill more bytes than its limit allows ({limit}; it needs "
        "{required}).",
        "Raise the maximum bytes billed, or make the query read less (fewer columns, a "
        "filter on the partitioning column)."),
    Kind.BILLING_NOT_ENABLED: Message(
        "Billing is not enabled for project {project_id}.",
        "Link a billing account to project {project_id} (Billing > Account management > "
        "Link a billing account), then run the import again."),
    Kind.VPC_SERVICE_CONTROLS: Message(
        "VPC Service Controls blocked the request: project {project_id} is inside a service "
        "perimeter that this server's requests come from outside of{vpc_reference}.",
        "Ask your Google Cloud administrator to allow {email} from this server's network in "
        "the perimeter (an ingress rule or access level in Security > VPC Service Controls)"
        "{vpc_quote}."),
    Kind.CMEK_REQUIRED: Message(
        "An organisation policy requires queries in project {project_id} to use a "
        "customer-managed encryption key (CMEK), and none is set.",
        "Set a default Cloud KMS key for queries in project {project_id} (for example "
        "ALTER PROJECT SET OPTIONS with default_kms_key_name), or ask your administrator to "
        "exempt BigQuery from constraints/gcp.restrictNonCmekServices."),
    Kind.UNREACHABLE: TEMPORARY,
    Kind.RATE_LIMITED: Message(
        "BigQuery is limiting the rate of requests right now (a short-term limit, retried "
        "a few times).", RETRY_FIX, UNCONFIRMED),
    Kind.QUOTA_EXCEEDED: Message(
        "A BigQuery quota of project {project_id} is used up; retrying now would not help.",
        "Wait for the quota to reset (usually within the day) or raise it in "
        "IAM & Admin > Quotas, then run the import again.", UNCONFIRMED),
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
SOME_TABLE_MISSING = Message("A table was not found.", "Check the table name.")
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
    if error.kind is Kind.TABLE_MISSING and not error.facts.get("table"):
        return SOME_TABLE_MISSING
    return MESSAGES[error.kind]


class _Values(dict):
    """Template values; a fact Google's answer did not carry reads as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


def explain(
    error: GoogleCallError, *, email: str, project_id: str, dataset_id: str, check_id: str = ""
) -> Explanation:
    """Our detail, fix and check status for a classified error (nothing logged)."""
    message = message_for(error, check_id=check_id)
    vpc_id = error.facts.get("vpc_id", "")
    values = _Values({"api": "BigQuery API"} | error.facts)
    values |= {
        "vpc_reference": f" (VPC Service Controls reference {vpc_id})" if vpc_id else "",
        "vpc_quote": f", quoting reference {vpc_id}" if vpc_id else "",
        "email": email,
        "project_id": project_id,
        "dataset_id": dataset_id,
        "where": f"project {error.project_number}" if error.project_number else "the project",
        "missing": f" ({error.permission} is missing)" if error.permission else "",
        "route": NO_ROUTE.get(error.reason, ""),
    }
    return Explanation(
        message.detail.format_map(values), message.fix.format_map(values), message.status
    )


def connection_explained(
    error: GoogleCallError, what: str, connection: Connection, *, level: int = logging.INFO
) -> Explanation:
    """explained() for a saved connection: its service account, project and dataset."""
    return explained(
        error,
        what,
        email=connection.client_email,
        project_id=connection.project_id,
        dataset_id=connection.dataset_id,
        level=level,
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


def _size(count: int) -> str:
    """A byte count as people read it, with the exact figure: "9.5 MB (10,000,000 bytes)"."""
    return f"{str(filesizeformat(count)).replace(chr(0xA0), ' ')} ({count:,} bytes)"
