"""The one seam to Google: credentials, the BigQuery client, and what the callers read.

Nothing else imports google.auth or google.cloud.bigquery (connections/google_errors.py,
the other half of the seam, reads their exceptions). Every call has a per-request timeout
and a short retry deadline (the client's defaults retry for ten minutes with no timeout),
credentials always use the token address from settings (never the key's), and failures
come out as GoogleCallError (google_errors.google_call), whose `kind` the callers translate
into their own words. Answers come out as the small frozen dataclasses below, not as the
client library's objects.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_core_retry
from google.api_core.client_options import ClientOptions
from google.auth import crypt
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from connections.google_errors import GoogleCallError, GoogleErrorKind, google_call

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

    from connections import arrow_rows
except ImportError:  # pragma: no cover - depends on the installation
    grpc = None
    STORAGE_INSTALLED = False
else:
    STORAGE_INSTALLED = True

__all__ = [
    "AccessEntry",
    "BigQuerySession",
    "Dataset",
    "DatasetBrowser",
    "DryRun",
    "GoogleCallError",
    "GoogleErrorKind",
    "ImportReader",
    "QueryJob",
    "StorageReader",
    "Table",
    "query_parameter",
]

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REQUEST_TIMEOUT = 5.0
RETRY_DEADLINE = 8.0
SHORT_RETRY = DEFAULT_RETRY.with_deadline(RETRY_DEADLINE)


class _BoundedRequest(Request):
    """google-auth's transport, but every token request has our timeout (its default is 120 s)."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return super().__call__(url, method, body, headers, timeout=REQUEST_TIMEOUT, **kwargs)


# -- what the seam answers -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccessEntry:
    """One grant of a dataset's access list (roles come back in the legacy form, e.g. WRITER)."""

    role: str
    entity_id: str  # an e-mail, a group or a domain; "" for the special and view entries


@dataclass(frozen=True)
class Dataset:
    location: str
    access_entries: tuple[AccessEntry, ...] = ()

    @classmethod
    def from_client(cls, dataset: bigquery.Dataset) -> Dataset:
        entries = tuple(
            AccessEntry(
                role=entry.role or "",
                entity_id=entry.entity_id if isinstance(entry.entity_id, str) else "",
            )
            for entry in dataset.access_entries or []
        )
        return cls(location=dataset.location or "", access_entries=entries)


@dataclass(frozen=True)
class Table:
    """tables.get: the schema as its REST resource gives it (nested fields included)."""

    table_id: str
    table_type: str
    num_rows: int | None
    num_bytes: int | None
    modified: datetime | None
    schema: tuple[dict[str, Any], ...]
    # The column the table is partitioned on (timePartitioning.field or
    # rangePartitioning.field); "" when it is not, or by ingestion time.
    partition_field: str = ""

    @classmethod
    def from_client(cls, table: bigquery.Table) -> Table:
        time_partitioning = table.time_partitioning
        range_partitioning = table.range_partitioning
        partition_field = (time_partitioning.field if time_partitioning else None) or (
            range_partitioning.field if range_partitioning else None
        )
        return cls(
            table_id=table.table_id,
            table_type=table.table_type or "TABLE",
            num_rows=table.num_rows,
            num_bytes=table.num_bytes,
            modified=table.modified,
            schema=tuple(column.to_api_repr() for column in table.schema or ()),
            partition_field=partition_field or "",
        )


@dataclass(frozen=True)
class DryRun:
    """What a dry run of a query tells: the bytes it would scan and its columns."""

    total_bytes_processed: int | None
    schema: tuple[dict[str, Any], ...]
    statement_type: str


@dataclass(frozen=True)
class QueryJob:
    """A query job of an import run; `destination` (project.dataset.table) and the bytes
    scanned are known once it is done (ImportReader.wait)."""

    job_id: str
    destination: str = ""
    total_bytes_processed: int | None = None
    total_bytes_billed: int | None = None
    _job: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class JobOptions:
    """What every query job the app starts carries (DESIGN.md "Cost"): why it runs
    (`purpose`: test, preview or run, also a label), the most it may bill, its labels, and
    for a run the destination table (project.dataset.table) its result is written to."""

    purpose: str
    maximum_bytes_billed: int | None = None
    labels: tuple[tuple[str, str], ...] = ()
    destination: str = ""
    kms_key_name: str = ""

    def job_config(self, **kwargs: Any) -> bigquery.QueryJobConfig:
        config = bigquery.QueryJobConfig(use_legacy_sql=False, **kwargs)
        config.labels = {"app": "bqimports", **dict(self.labels), "purpose": self.purpose}
        if self.maximum_bytes_billed is not None:
            config.maximum_bytes_billed = self.maximum_bytes_billed
        if self.destination:
            config.destination = self.destination
            config.write_disposition = bigquery.WriteDisposition.WRITE_TRUNCATE
            if self.kms_key_name:
                config.destination_encryption_configuration = bigquery.EncryptionConfiguration(
                    kms_key_name=self.kms_key_name
                )
        return config


# Parsed private keys, by a digest of the key: loading an RSA key checks it, which takes tens
# of milliseconds, and a worker or a web process uses the same few keys again and again. A
# replaced key has another digest, so it is parsed anew.
_SIGNERS: OrderedDict[bytes, crypt.Signer] = OrderedDict()
SIGNERS_KEPT = 64
_signers_lock = threading.Lock()


@sensitive_variables("key_info", "private_key")
def _signer(key_info: dict[str, Any]) -> crypt.Signer:
    private_key = key_info.get("private_key") or ""
    digest = hashlib.sha256(f"{key_info.get('private_key_id')}\0{private_key}".encode()).digest()
    with _signers_lock:
        signer = _SIGNERS.get(digest)
        if signer is not None:
            _SIGNERS.move_to_end(digest)
            return signer
    signer = crypt.RSASigner.from_service_account_info(key_info)
    with _signers_lock:
        _SIGNERS[digest] = signer
        while len(_SIGNERS) > SIGNERS_KEPT:
            _SIGNERS.popitem(last=False)
    return signer


class BigQuerySession:
    """Credentials and a client for one service-account key and one project.

    `project_id` holds the data; query jobs and Storage read sessions run (and are billed)
    in `job_project_id`: the connection's billing project when it has one."""

    # Keeps the private key out of debug pages and error reports.
    @sensitive_variables("key_info")
    def __init__(
        self, key_info: dict[str, Any], project_id: str, *, billing_project_id: str = ""
    ) -> None:
        if key_info.get("token_uri") not in settings.KEY_TOKEN_URI_ALLOWLIST:
            # Stored keys were checked on save; checked again in case the allow-list shrank.
            raise GoogleCallError(GoogleErrorKind.AUTH_REFUSED, permanent=True, reason="token_uri")
        self.client_email: str = key_info["client_email"]
        self.project_id = project_id
        self.job_project_id = billing_project_id or project_id
        # Never the key's token_uri: the server must not POST where an uploaded file says.
        self.credentials = service_account.Credentials(
            _signer(key_info),
            service_account_email=self.client_email,
            token_uri=settings.GOOGLE_TOKEN_URI,
            scopes=list(SCOPES),
            project_id=key_info.get("project_id"),
            universe_domain=key_info.get("universe_domain") or "googleapis.com",
        )
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
        with google_call():
            self.credentials.refresh(self._auth_request)

    def get_dataset(self, dataset_id: str) -> Dataset:
        ref = bigquery.DatasetReference(self.project_id, dataset_id)
        with google_call():
            dataset = self.client.get_dataset(ref, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
        return Dataset.from_client(dataset)

    def dry_run(
        self,
        sql: str,
        *,
        location: str | None,
        params: list | None = None,
        options: JobOptions | None = None,
    ) -> DryRun:
        options = options or JobOptions(purpose="test")
        config = options.job_config(
            dry_run=True, use_query_cache=False, query_parameters=params or []
        )
        with google_call():
            job = self.client.query(
                sql,
                job_config=config,
                project=self.job_project_id,
                location=location or None,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
                job_retry=None,
            )
        return DryRun(
            total_bytes_processed=job.total_bytes_processed,
            schema=tuple(column.to_api_repr() for column in job.schema or ()),
            statement_type=job.statement_type or "",
        )

    def project_permissions(self, permissions: list[str], *, project: str = "") -> set[str]:
        """Cloud Resource Manager testIamPermissions: the project-level grants the caller
        holds in `project` (the data project by default)."""
        project = project or self.project_id
        url = f"{settings.RESOURCE_MANAGER_ENDPOINT}/v1/projects/{project}:testIamPermissions"
        with google_call():
            response = self.http.post(
                url, json={"permissions": permissions}, timeout=REQUEST_TIMEOUT
            )
            if response.status_code != 200:
                raise api_exceptions.from_http_response(response)
        return set(response.json().get("permissions", []))

    def first_table(self, dataset_id: str) -> str | None:
        """The ID of one table of the dataset, if it has any."""
        ref = bigquery.DatasetReference(self.project_id, dataset_id)
        with google_call():
            for item in self.client.list_tables(
                ref, max_results=1, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            ):
                return item.table_id
        return None

    def table_permissions(self, dataset_id: str, table_id: str, permissions: list[str]) -> set[str]:
        table = bigquery.DatasetReference(self.project_id, dataset_id).table(table_id)
        with google_call():
            answer = self.client.test_iam_permissions(
                table, permissions, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        return set(answer.get("permissions", []))

    def ensure_dataset(
        self, dataset_id: str, *, location: str, expiration_ms: int, kms_key_name: str = ""
    ) -> bool:
        """Create `dataset_id` in the data project unless it exists; True when created.

        datasets.get first: an account allowed to write into a dataset an admin made may
        lack bigquery.datasets.create, and Google answers a create of an existing dataset
        with that 403 rather than 409."""
        ref = bigquery.DatasetReference(self.project_id, dataset_id)
        with google_call():
            try:
                self.client.get_dataset(ref, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
                return False
            except api_exceptions.NotFound:
                pass
            dataset = bigquery.Dataset(ref)
            dataset.location = location or None
            dataset.default_table_expiration_ms = expiration_ms
            if kms_key_name:
                dataset.default_encryption_configuration = bigquery.EncryptionConfiguration(
                    kms_key_name=kms_key_name
                )
            self.client.create_dataset(
                dataset, exists_ok=True, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        return True

    def expire_table(self, table: str, *, hours: int) -> None:
        """Give `table` (project.dataset.table) an expiration time `hours` from now."""
        with google_call():
            fetched = self.client.get_table(table, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
            fetched.expires = datetime.now(UTC) + timedelta(hours=hours)
            self.client.update_table(
                fetched, ["expires"], retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )

    def delete_table(self, table: str) -> None:
        """Delete `table` (project.dataset.table); a missing one is fine."""
        with google_call():
            self.client.delete_table(
                table, not_found_ok=True, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )


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
        # tables.get of a result table, which no one changes once its job is done: the
        # row count and the schema come from one call.
        self._result_tables: dict[str, bigquery.Table] = {}

    def dataset_location(self, dataset_id: str) -> str:
        return self.session.get_dataset(dataset_id).location

    def start_query(
        self, sql: str, params: list, *, location: str, options: JobOptions
    ) -> QueryJob:
        job = self._start(sql, params, location=location, options=options)
        return QueryJob(job_id=job.job_id, _job=job)

    def wait(self, job: QueryJob, *, timeout: float, on_wait=None) -> QueryJob:
        """Wait until the job is done; the done job, with its destination table. A job
        given up on is cancelled (see _wait)."""
        self._wait(job._job, timeout=timeout, on_wait=on_wait)
        done = job._job
        destination = done.destination
        return QueryJob(
            job_id=done.job_id,
            destination=f"{destination.project}.{destination.dataset_id}.{destination.table_id}",
            total_bytes_processed=done.total_bytes_processed,
            total_bytes_billed=done.total_bytes_billed,
            _job=done,
        )

    def _cancel(self, job: bigquery.QueryJob) -> None:
        """Ask BigQuery to cancel a job no one will wait for; best effort: a failure is
        logged, since the caller stops waiting either way."""
        try:
            with google_call():
                job.cancel(retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
        except GoogleCallError as error:
            logger.warning("job %s: cancel failed: %s", job.job_id, error)

    def _start(
        self, sql: str, params: list, *, location: str, options: JobOptions
    ) -> bigquery.QueryJob:
        config = options.job_config(query_parameters=params)
        with google_call():
            return self.client.query(
                sql,
                job_config=config,
                project=self.session.job_project_id,
                location=location or None,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
                job_retry=None,
            )

    def _wait(self, job: bigquery.QueryJob, *, timeout: float, on_wait=None):
        """Poll until the job is done, calling `on_wait` between polls. A job given up on
        (the timeout, or whatever `on_wait` raises: a Stop, a lost lease) is cancelled:
        BigQuery would otherwise run it, and may bill it, to the end."""
        deadline = time.monotonic() + timeout
        while not self._done(job):
            try:
                if time.monotonic() > deadline:
                    raise GoogleCallError(
                        GoogleErrorKind.UNREACHABLE, permanent=False, reason="job_timeout"
                    )
                if on_wait is not None:
                    on_wait()  # what it raises is not a Google error: not in google_call
            except BaseException:
                self._cancel(job)
                raise
            time.sleep(0.5)
        with google_call():
            # From the job as jobs.insert or jobs.get gave it: no getQueryResults call,
            # since the result is read from the destination table.
            failed = job.exception()
            if failed is not None:
                raise failed

    def _done(self, job: bigquery.QueryJob) -> bool:
        with google_call():
            return job.done(retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)

    def table(self, table: str) -> Table:
        """tables.get of project.dataset.table: its columns and partitioning (no job)."""
        with google_call():
            fetched = self.client.get_table(table, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT)
        return Table.from_client(fetched)

    def table_rows(self, table: str) -> int:
        """A finished result table's row count."""
        return self._result_table(table).num_rows

    def table_schema(self, table: str) -> list[dict[str, Any]]:
        """A finished result table's schema as tables.get gives it: [{name, type, mode,
        fields?, rangeElementType?}], nested fields included."""
        return [field.to_api_repr() for field in self._result_table(table).schema]

    def _result_table(self, table: str) -> bigquery.Table:
        if table not in self._result_tables:
            with google_call():
                self._result_tables[table] = self.client.get_table(
                    table, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
                )
        return self._result_tables[table]

    def pages(self, table: str, *, start_index: int, page_size: int):
        """Yield a finished result table's rows from `start_index` on, as lists of row dicts;
        memory holds one page.

        Values are tabledata.list's own JSON ("v" of each cell: scalars as strings, a
        STRUCT as {"f": [...]}, an ARRAY as [{"v": ...}]), not the client's conversions:
        those lose what imports must keep (an INTERVAL becomes a relativedelta, which
        folds 25 hours into a day and an hour). imports.type_contract reads them by the
        column's type.
        """
        with google_call():
            iterator = self.client.list_rows(
                self._result_table(table),  # with its schema: no tables.get of its own
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


STORAGE_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class StorageReader:
    """Reads a result table with the Storage Read API (gRPC, Arrow), page by page.

    One stream per table (max_stream_count=1), or several for a run split into parts
    (open_streams): the row order of a stream is fixed, so an offset means the same rows
    when a crashed run (or part) resumes. Errors come out as
    GoogleCallError; a stream that cannot be read any more (expired session, unknown
    stream) as kind READ_STREAM_GONE.
    """

    SESSION_TIMEOUT = REQUEST_TIMEOUT
    # One read_rows call; a longer stream ends with DEADLINE_EXCEEDED (transient) and the
    # caller resumes from its committed offset.
    READ_TIMEOUT = 900.0

    def __init__(self, session: BigQuerySession) -> None:
        if not STORAGE_INSTALLED:
            raise GoogleCallError(
                GoogleErrorKind.STORAGE_UNAVAILABLE, permanent=True, reason="not_installed"
            )
        self.session = session
        target = settings.BIGQUERY_STORAGE_TARGET
        with google_call():
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
        return self.open_streams(table, 1)[0]

    def open_streams(self, table: str, count: int) -> list[str]:
        """Create a read session of up to `count` Arrow streams on `table` (BigQuery may
        answer fewer, for a small table); returns their names. Together the streams hold
        every row once, and each has its own fixed row order, so each can be read (and
        resumed from its own offset) by a different worker."""
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
        with google_call():
            read_session = self.client.create_read_session(
                parent=f"projects/{self.session.job_project_id}",
                read_session=request,
                max_stream_count=count,
                retry=retry,
                timeout=self.SESSION_TIMEOUT,
            )
        if not read_session.streams:
            # An empty table has no stream: nothing to read, REST handles it trivially.
            raise GoogleCallError(
                GoogleErrorKind.STORAGE_UNAVAILABLE, permanent=True, reason="no_stream"
            )
        return [stream.name for stream in read_session.streams]

    def pages(self, stream: str, *, offset: int, page_size: int, timeout: float | None = None):
        """Yield lists of row dicts from row `offset` of `stream`, `page_size` rows each
        (the last may be shorter); memory holds one page and one record batch. `timeout`
        bounds the read_rows call (READ_TIMEOUT by default)."""
        schema = None
        page: list[dict[str, Any]] = []
        with google_call():
            try:
                responses = self.client.read_rows(
                    read_stream=stream,
                    offset=offset,
                    retry=None,
                    timeout=timeout or self.READ_TIMEOUT,
                )
                for response in responses:
                    if schema is None:
                        serialized = response.arrow_schema.serialized_schema
                        if not serialized:
                            raise GoogleCallError(
                                GoogleErrorKind.READ_STREAM_GONE,
                                permanent=True,
                                reason="no_arrow_schema",
                            )
                        schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(serialized))
                    batch = pyarrow.ipc.read_record_batch(
                        pyarrow.py_buffer(response.arrow_record_batch.serialized_record_batch),
                        schema,
                    )
                    for start in range(0, batch.num_rows, page_size):
                        page.extend(arrow_rows.batch_rows(batch.slice(start, page_size)))
                        while len(page) >= page_size:
                            yield page[:page_size]
                            page = page[page_size:]
                if page:
                    yield page
            except (api_exceptions.NotFound, api_exceptions.FailedPrecondition) as exc:
                # Unknown stream, or a read session past its expiry (about six hours).
                raise GoogleCallError(
                    GoogleErrorKind.READ_STREAM_GONE,
                    permanent=True,
                    status=exc.code,
                    internal_message=str(exc),
                ) from exc


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
        with google_call():
            iterator = self.client.list_tables(
                self.dataset,
                page_size=self.LIST_PAGE_SIZE,
                max_results=limit,
                retry=SHORT_RETRY,
                timeout=REQUEST_TIMEOUT,
            )
            return [(item.table_id, item.table_type or "TABLE") for item in iterator]

    def table(self, table_id: str) -> Table:
        """tables.get: schema, num_rows, num_bytes, modified."""
        with google_call():
            table = self.client.get_table(
                self.dataset.table(table_id), retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
        return Table.from_client(table)

    def preview_rows(self, table: Table, *, max_results: int = 10) -> list[tuple]:
        """The first rows of a table (tabledata.list), as tuples in schema order."""
        # With its schema, list_rows converts the values without another tables.get.
        schema = [bigquery.SchemaField.from_api_repr(column) for column in table.schema]
        listed = bigquery.Table(self.dataset.table(table.table_id), schema=schema)
        with google_call():
            rows = self.client.list_rows(
                listed, max_results=max_results, retry=SHORT_RETRY, timeout=REQUEST_TIMEOUT
            )
            return [tuple(row.values()) for row in rows]
