"""The one seam to Google: credentials, the BigQuery client, and error classification.

Nothing else imports google.auth or google.cloud.bigquery. Every call has a
per-request timeout and a short retry deadline (the client's defaults retry for
ten minutes with no timeout), credentials always use the token address from
settings (never the key's), and failures come out as GoogleCallError, whose
`kind` the callers translate into their own words. Google's message text is
kept only for the server log: it can carry a response body from elsewhere.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Any

import google.auth.exceptions
import requests
import urllib3
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_core_retry
from google.api_core.client_options import ClientOptions
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from google.oauth2 import service_account

try:  # optional: without it, import runs read with REST paging
    import google.auth.transport.grpc
    import grpc
    import pyarrow
    from google.cloud.bigquery_storage_v1 import types as storage_types
    from google.cloud.bigquery_storage_v1.services.big_query_read import (
        BigQueryReadClient,
    )
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )
except ImportError:  # pragma: no cover - depends on the installation
    grpc = None
    STORAGE_INSTALLED = False
else:
    STORAGE_INSTALLED = True

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REQUEST_TIMEOUT = 5.0
RETRY_DEADLINE = 8.0
SHORT_RETRY = DEFAULT_RETRY.with_deadline(RETRY_DEADLINE)


@dataclass
class GoogleCallError(Exception):
    """A failed call to Google, classified.

    kind: invalid_signature | account_missing | clock_skew | auth_refused | unauthorized |
    unreachable | api_disabled | project_missing | dataset_missing | table_missing |
    access_denied | rate_limited | quota_exceeded | backend_error | bad_request | unknown

    For "unreachable", `reason` says why when the network told us (see network_failure).
    """

    kind: str
    permanent: bool
    status: int | None = None
    reason: str = ""
    permission: str = ""
    project_number: str = ""
    internal_message: str = field(default="", repr=False)

    def __str__(self) -> str:
        return f"{self.kind} (status={self.status}, reason={self.reason or '-'})"


class _BoundedRequest(Request):
    """google-auth's transport, but every token request has our timeout (its default is 120 s)."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return super().__call__(url, method, body, headers, timeout=REQUEST_TIMEOUT, **kwargs)


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
            "unreachable", permanent=False, reason=network_failure(exc), internal_message=str(exc)
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
                "unreachable", permanent=False, status=exc.code, internal_message=str(exc)
            )
        return _classify_api(exc)
    return GoogleCallError("unknown", permanent=True, internal_message=repr(exc))


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
        kind = "invalid_signature"
    elif "account not found" in text or "disabled" in text or "robot" in text:
        kind = "account_missing"
    elif "timeframe" in text or "iat" in text or "exp" in text:
        kind = "clock_skew"
    elif error:
        kind = "auth_refused"
    else:
        # No OAuth error body: the endpoint answered with something else (5xx, HTML).
        return GoogleCallError("unreachable", permanent=False, internal_message=message)
    return GoogleCallError(kind, permanent=True, reason=error, internal_message=message)


def _classify_api(exc: api_exceptions.GoogleAPICallError) -> GoogleCallError:
    errors = getattr(exc, "errors", None) or []
    reason = str(errors[0].get("reason", "")) if errors and isinstance(errors[0], dict) else ""
    message = getattr(exc, "message", "") or str(exc)
    status = getattr(exc, "code", None)
    permission_match = _PERMISSION_RE.search(message)
    permission = permission_match.group(1) if permission_match else ""
    # BigQuery reports rate and quota limits as 403 with a reason, not as 429.
    if reason == "rateLimitExceeded" or status == 429:
        kind, permanent = "rate_limited", False
    elif reason == "quotaExceeded":
        kind, permanent = "quota_exceeded", False
    elif reason == "accessNotConfigured" or "has not been used in project" in message:
        number = _PROJECT_NUMBER_RE.search(message)
        return GoogleCallError(
            "api_disabled",
            permanent=True,
            status=status,
            reason=reason,
            project_number=number.group(1) if number else "",
            internal_message=message,
        )
    elif status == 401:
        kind, permanent = "unauthorized", True
    elif status == 404 and "Not found: Project" in message:
        kind, permanent = "project_missing", True
    elif status == 404 and "Not found: Dataset" in message:
        kind, permanent = "dataset_missing", True
    elif status == 404 and "Not found: Table" in message:
        kind, permanent = "table_missing", True
    elif status == 403:
        kind, permanent = "access_denied", True
    elif status is not None and status >= 500:
        kind, permanent = "backend_error", False
    elif status == 400:
        kind, permanent = "bad_request", True
    else:
        kind, permanent = "unknown", True
    return GoogleCallError(
        kind,
        permanent=permanent,
        status=status,
        reason=reason,
        permission=permission,
        internal_message=message,
    )


class BigQuerySession:
    """Credentials and a client for one service-account key and one project."""

    # Keeps the private key out of debug pages and error reports.
    @sensitive_variables("key_info")
    def __init__(self, key_info: dict[str, Any], project_id: str) -> None:
        if key_info.get("token_uri") not in settings.KEY_TOKEN_URI_ALLOWLIST:
            # Stored keys were checked on save; checked again in case the allow-list shrank.
            raise GoogleCallError("auth_refused", permanent=True, reason="token_uri")
        self.client_email: str = key_info["client_email"]
        self.project_id = project_id
        # Never the key's token_uri: the server must not POST where an uploaded file says.
        self.credentials = service_account.Credentials.from_service_account_info(
            key_info, scopes=list(SCOPES)
        ).with_token_uri(settings.GOOGLE_TOKEN_URI)
        self._auth_request = _BoundedRequest()
        self.http = AuthorizedSession(self.credentials, auth_request=self._auth_request)
        self.client = bigquery.Client(
            project=project_id,
            credentials=self.credentials,
            client_options=ClientOptions(api_endpoint=settings.BIGQUERY_API_ENDPOINT),
            _http=self.http,
        )

    def close(self) -> None:
        self.client.close()
        self.http.close()

    def __enter__(self) -> BigQuerySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authenticate(self) -> None:
        """Exchange the signed JWT for an access token (the real OAuth round trip)."""
        try:
            self.credentials.refresh(self._auth_request)
        except Exception as exc:
            raise classify(exc) from exc

    def get_dataset(self, dataset_id: str) -> bigquery.Dataset:
        ref = bigquery.DatasetReference(self.project_id, dataset_id)
        try:
            return self.client.get_dataset(ref, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            raise classify(exc) from exc

    def dry_run(
        self, sql: str, *, location: str | None, params: list | None = None
    ) -> bigquery.QueryJob:
        config = bigquery.QueryJobConfig(
            dry_run=True, use_query_cache=False, query_parameters=params or []
        )
        try:
            return self.client.query(
                sql,
                job_config=config,
                project=self.project_id,
                location=location or None,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
                job_retry=None,
            )
        except Exception as exc:
            raise classify(exc) from exc

    def project_permissions(self, permissions: list[str]) -> set[str]:
        """Cloud Resource Manager testIamPermissions: the project-level grants the caller holds."""
        url = (
            f"{settings.RESOURCE_MANAGER_ENDPOINT}/v1/projects/{self.project_id}:testIamPermissions"
        )
        try:
            response = self.http.post(
                url, json={"permissions": permissions}, timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            raise classify(exc) from exc
        if response.status_code != 200:
            raise classify(api_exceptions.from_http_response(response))
        return set(response.json().get("permissions", []))

    def first_table(self, dataset_id: str) -> bigquery.TableReference | None:
        ref = bigquery.DatasetReference(self.project_id, dataset_id)
        try:
            for item in self.client.list_tables(
                ref, max_results=1, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            ):
                return item.reference
        except Exception as exc:
            raise classify(exc) from exc
        return None

    def table_permissions(self, table: bigquery.TableReference, permissions: list[str]) -> set[str]:
        try:
            answer = self.client.test_iam_permissions(
                table, permissions, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            raise classify(exc) from exc
        return set(answer.get("permissions", []))


def query_parameter(name: str, type_: str, value: Any) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, type_, value)


class ImportReader:
    """Runs an import's source query into a result table and reads it back page by page.

    REST paging (tabledata.list with start_index) lets a crashed run resume from its
    committed offset in the same result table.
    """

    def __init__(self, session: BigQuerySession) -> None:
        self.session = session
        self.client = session.client

    def dataset_location(self, dataset_id: str) -> str:
        return self.session.get_dataset(dataset_id).location or ""

    def scalar(self, sql: str, params: list, *, location: str, timeout: float = 300.0) -> Any:
        """One value from a small query (e.g. the MAX of the cursor column)."""
        job = self._start(sql, params, location=location)
        rows = self._wait(job, timeout=timeout)
        for row in rows:
            return row[0]
        return None

    def start_query(self, sql: str, params: list, *, location: str) -> bigquery.QueryJob:
        return self._start(sql, params, location=location)

    def wait(self, job: bigquery.QueryJob, *, timeout: float, on_wait=None) -> None:
        self._wait(job, timeout=timeout, on_wait=on_wait)

    def _start(self, sql: str, params: list, *, location: str) -> bigquery.QueryJob:
        config = bigquery.QueryJobConfig(query_parameters=params, use_legacy_sql=False)
        try:
            return self.client.query(
                sql,
                job_config=config,
                project=self.session.project_id,
                location=location or None,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
                job_retry=None,
            )
        except Exception as exc:
            raise classify(exc) from exc

    def _wait(self, job: bigquery.QueryJob, *, timeout: float, on_wait=None):
        import time

        deadline = time.monotonic() + timeout
        try:
            while not job.done(retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT):
                if time.monotonic() > deadline:
                    raise GoogleCallError("unreachable", permanent=False, reason="job_timeout")
                if on_wait is not None:
                    on_wait()
                time.sleep(0.5)
            return job.result(retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT, job_retry=None)
        except GoogleCallError:
            raise
        except Exception as exc:
            raise classify(exc) from exc

    def job(self, job_id: str, *, location: str) -> bigquery.QueryJob:
        try:
            return self.client.get_job(
                job_id, location=location or None, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            raise classify(exc) from exc

    def table_rows(self, table: str) -> int:
        try:
            return self.client.get_table(table, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT).num_rows
        except Exception as exc:
            raise classify(exc) from exc

    def table_schema(self, table: str) -> list[dict[str, Any]]:
        """The table's schema as tables.get gives it: [{name, type, mode, fields?,
        rangeElementType?}], nested fields included."""
        try:
            fetched = self.client.get_table(table, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            raise classify(exc) from exc
        return [field.to_api_repr() for field in fetched.schema]

    def pages(self, table: str, *, start_index: int, page_size: int):
        """Yield lists of row dicts from `start_index` on; memory holds one page.

        Values are tabledata.list's own JSON ("v" of each cell: scalars as strings, a
        STRUCT as {"f": [...]}, an ARRAY as [{"v": ...}]), not the client's conversions:
        those lose what imports must keep (an INTERVAL becomes a relativedelta, which
        folds 25 hours into a day and an hour). imports.type_contract reads them by the
        column's type.
        """
        try:
            iterator = self.client.list_rows(
                table,
                start_index=start_index,
                page_size=page_size,
                retry=SHORT_RETRY,
                timeout=60.0,
            )
            for page in iterator.pages:
                names = [field.name for field in iterator.schema]
                rows = (page.raw_page or {}).get("rows") or ()
                yield [
                    {name: cell.get("v") for name, cell in zip(names, row["f"], strict=False)}
                    for row in rows
                ]
        except GoogleCallError:
            raise
        except Exception as exc:
            raise classify(exc) from exc


STORAGE_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class StorageReader:
    """Reads a result table with the Storage Read API (gRPC, Arrow), page by page.

    One stream per table (max_stream_count=1): the row order of a stream is fixed, so
    an offset means the same rows when a crashed run resumes. Errors come out as
    GoogleCallError; a stream that cannot be read any more (expired session, unknown
    stream) as kind "read_stream_gone".
    """

    SESSION_TIMEOUT = REQUEST_TIMEOUT
    # One read_rows call; a longer stream ends with DEADLINE_EXCEEDED (transient) and the
    # caller resumes from its committed offset.
    READ_TIMEOUT = 900.0

    def __init__(self, session: BigQuerySession) -> None:
        if not STORAGE_INSTALLED:
            raise GoogleCallError("storage_unavailable", permanent=True, reason="not_installed")
        self.session = session
        target = settings.BIGQUERY_STORAGE_TARGET
        try:
            if target:
                # Local stand-ins only: loopback without TLS, but still carrying the
                # account's access token on every call, as the real service gets it.
                channel = google.auth.transport.grpc.secure_authorized_channel(
                    session.credentials,
                    session._auth_request,
                    target,
                    ssl_credentials=grpc.local_channel_credentials(),
                    options=STORAGE_OPTIONS,
                )
                transport = BigQueryReadGrpcTransport(channel=channel)
                self.client = BigQueryReadClient(transport=transport)
            else:
                self.client = BigQueryReadClient(credentials=session.credentials)
        except Exception as exc:
            raise classify(exc) from exc

    def close(self) -> None:
        try:
            self.client.transport.close()
        except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
            logger.debug("closing the Storage Read client failed", exc_info=True)

    def __enter__(self) -> StorageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _table_path(table: str) -> str:
        project, dataset, table_id = table.split(".", 2)
        return f"projects/{project}/datasets/{dataset}/tables/{table_id}"

    def open_stream(self, table: str) -> str:
        """Create a read session of one Arrow stream on `table`; returns the stream's name."""
        retry = api_core_retry.Retry(
            predicate=api_core_retry.if_exception_type(
                api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded
            ),
            initial=0.25,
            maximum=2.0,
            timeout=RETRY_DEADLINE,
        )
        request = storage_types.ReadSession(
            table=self._table_path(table), data_format=storage_types.DataFormat.ARROW
        )
        try:
            read_session = self.client.create_read_session(
                parent=f"projects/{self.session.project_id}",
                read_session=request,
                max_stream_count=1,
                retry=retry,
                timeout=self.SESSION_TIMEOUT,
            )
        except Exception as exc:
            raise classify(exc) from exc
        if not read_session.streams:
            # An empty table has no stream: nothing to read, REST handles it trivially.
            raise GoogleCallError("storage_unavailable", permanent=True, reason="no_stream")
        return read_session.streams[0].name

    def pages(self, stream: str, *, offset: int, page_size: int):
        """Yield lists of row dicts from row `offset` of `stream`, `page_size` rows each
        (the last may be shorter); memory holds one page and one record batch."""
        schema = None
        page: list[dict[str, Any]] = []
        try:
            responses = self.client.read_rows(
                read_stream=stream, offset=offset, retry=None, timeout=self.READ_TIMEOUT
            )
            for response in responses:
                if schema is None:
                    serialized = response.arrow_schema.serialized_schema
                    if not serialized:
                        raise GoogleCallError(
                            "read_stream_gone", permanent=True, reason="no_arrow_schema"
                        )
                    schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(serialized))
                batch = pyarrow.ipc.read_record_batch(
                    pyarrow.py_buffer(response.arrow_record_batch.serialized_record_batch),
                    schema,
                )
                for start in range(0, batch.num_rows, page_size):
                    page.extend(batch.slice(start, page_size).to_pylist())
                    while len(page) >= page_size:
                        yield page[:page_size]
                        page = page[page_size:]
            if page:
                yield page
        except GoogleCallError:
            raise
        except (api_exceptions.NotFound, api_exceptions.FailedPrecondition) as exc:
            # Unknown stream, or a read session past its expiry (about six hours).
            raise GoogleCallError(
                "read_stream_gone", permanent=True, status=exc.code, internal_message=str(exc)
            ) from exc
        except Exception as exc:
            raise classify(exc) from exc


class DatasetBrowser:
    """Read-only browsing of one dataset for Create Import: table names, details, a preview.

    Every call has the session's timeout and short retry; errors come out as GoogleCallError.
    """

    # tables.list returns at most 1,000 tables per page whatever maxResults asks for.
    LIST_PAGE_SIZE = 1000

    def __init__(self, session: BigQuerySession, dataset_id: str) -> None:
        self.session = session
        self.client = session.client
        self.dataset = bigquery.DatasetReference(session.project_id, dataset_id)

    def table_names(self, *, limit: int | None = None) -> list[tuple[str, str]]:
        """(table name, table type) of every table, one tables.list call per 1,000 tables."""
        try:
            iterator = self.client.list_tables(
                self.dataset,
                page_size=self.LIST_PAGE_SIZE,
                max_results=limit,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
            )
            return [(item.table_id, item.table_type or "TABLE") for item in iterator]
        except Exception as exc:
            raise classify(exc) from exc

    def table(self, table_id: str) -> bigquery.Table:
        """tables.get: schema, num_rows, num_bytes, modified."""
        try:
            return self.client.get_table(
                self.dataset.table(table_id), retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            raise classify(exc) from exc

    def preview_rows(self, table: bigquery.Table, *, max_results: int = 10) -> list[tuple]:
        """The first rows of a table (tabledata.list), as tuples in schema order."""
        try:
            rows = self.client.list_rows(
                table, max_results=max_results, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
            return [tuple(row.values()) for row in rows]
        except Exception as exc:
            raise classify(exc) from exc
