"""The Storage Read API gate: a gRPC proxy in front of the emulator's
``google.cloud.bigquery.storage.v1.BigQueryRead`` service (CreateReadSession, ReadRows,
SplitReadStream) that does what the emulator does not: authenticate the bearer token with
the HTTP gate's own code, enforce the permission policy, cut ReadRows answers into
responses of bounded size the way BigQuery sends them, and inject faults.

Permission rules (each mirrors a documented Google rule):

* every call: ``authorization: Bearer <token>`` issued by the token stand-in, with a
  BigQuery scope; the BigQuery Storage API enabled in the caller's home project and in the
  project addressed.
* CreateReadSession: ``bigquery.readsessions.create`` on the parent project (granted by
  roles/bigquery.readSessionUser, .user and .admin, *not* by jobUser or dataEditor) and
  ``bigquery.tables.getData`` on the table; an anonymous result table (dataset
  ``_results``) is readable by the account whose query job wrote it, as in ``gate.py``.
* ReadRows: ``bigquery.readsessions.getData`` on the session's project. The stream name is
  all it takes, as at Google: no check that the reader created the session.
* SplitReadStream: ``bigquery.readsessions.update`` on the session's project.

Error answers (gRPC status code and the exact ``details`` text):

* no token: UNAUTHENTICATED, "Request is missing required authentication credential.
  Expected OAuth 2 access token, ..." and an unknown or expired one: UNAUTHENTICATED,
  "Request had invalid authentication credentials. Expected OAuth 2 access token, ...":
  the texts of the REST API (``errors.py``), which Google's gRPC front end shares; a gRPC
  client reports "16 UNAUTHENTICATED: Request had invalid authentication credentials.
  Expected OAuth 2 access token, login cookie or other valid authentication credential."
  (seen in several public repositories' troubleshooting notes).
* CreateReadSession without ``readsessions.create``: PERMISSION_DENIED, "request failed:
  the user does not have 'bigquery.readsessions.create' permission for 'projects/<parent>'"
  (verbatim in GoogleCloudDataproc/hive-bigquery-connector#102, a
  ``StatusRuntimeException: PERMISSION_DENIED: request failed: ...`` for
  'projects/eyalbenivri-playground'; a Python traceback quoted in a public repository
  shows the same details with a project number, ``grpc_status:7``). PostHog/posthog#99792
  describes the same gRPC wording, "request failed: the user does not have
  '<permission>' permission for '<resource>'", for the two permissions a denied read names.
* CreateReadSession without ``tables.getData``: the same shape with
  'bigquery.tables.getData' and 'projects/<p>/datasets/<d>/tables/<t>' (our inference from
  the shape above; the table variant's exact resource text was not found verbatim).
* ReadRows without ``readsessions.getData``: PERMISSION_DENIED, "there was an error
  operating on '<stream>': the user does not have 'bigquery.readsessions.getData'
  permission for '<stream>'" (googleapis/google-cloud-go#8666).
* Storage API disabled: PERMISSION_DENIED, "BigQuery Storage API has not been used in
  project N before or it is disabled. ..." with a ``google.rpc.ErrorInfo`` reason
  SERVICE_DISABLED in the status details, as the REST answer (``errors.service_disabled``).
* fault ``expired``: FAILED_PRECONDITION, "there was an error operating on '<stream>':
  session expired at <time>" (GoogleCloudPlatform/DataflowTemplates#451; that expired
  sessions answer FAILED_PRECONDITION: googleapis/google-cloud-go#10671).
* fault ``not_found``: NOT_FOUND, "Not found: Stream <stream>" (the emulator's own answer
  for an unknown stream; Google's exact text for a vanished stream was not found).
* an offset past the rows read so far: the emulator's FAILED_PRECONDITION "... offset N
  has not been allocated yet", which is what BigQuery answers (goccy/bigquery-emulator#507
  compares the two); an offset at the end of the stream gives no response and no error.

Response size: BigQuery answers ReadRows with many responses per stream: users report
1,024 rows per response (GoogleCloudDataproc/hadoop-connectors#245, about 1.24 MiB each)
and 896 for a 32-column table (googleapis/python-bigquery#1256); v1beta1 documented
"about 10 MiB" per response and the v1 client documents a hard ceiling of 128 MB. The
emulator sends a whole stream as one response (up to 100,000 rows in one record batch). So
each of its record batches is cut into responses of at most ``max_rows_per_response``
rows (1,024) and ``max_bytes_per_response`` serialized bytes (10 MiB), each with its own
``row_count`` and progress; the Arrow schema goes in the first response of each ReadRows
call only ("This field is only populated in the first ReadRowsResponse RPC", ReadRowsResponse
in the v1 RPC reference). Offsets are absolute row positions in the stream, as the
emulator's: the gate forwards the client's offset unchanged, except to resume within rows
it has sent already (see _read_rows). Avro streams pass through
uncut (an Avro block cannot be split without its schema's codec; the app reads Arrow).

Streams: BigQuery divides a table's rows between up to ``max_stream_count`` streams (fewer
for a small table), each read from its own offsets, and starts answering at once. The
emulator makes one stream per 100,000 rows (up to ``max_stream_count``) and answers each
ReadRows only once the whole rest of the stream is out of DuckDB (1.7 s for a million
rows). So the gate asks the emulator for all its 100,000-row streams and, when their number
is not what the client gets (min(k, rows) streams), answers with streams of its own, each a
contiguous range of rows over the emulator's streams in order: a million rows read as one
stream start after one 100,000-row stream, and a second half is not read from row 0. The
emulator allocates a stream's rows only as they are read (an offset beyond them is
FAILED_PRECONDITION), so the gate reads each emulator stream from row 0 and skips to the
range's start plus the client's offset.

The gate holds one emulator response in memory at a time; that is the stand-in's memory,
not the client's.

Types: the emulator's Arrow is not Google's (BIGNUMERIC as decimal128(38, 18), INTERVAL
as text, RANGE as struct<__range_start, __range_end>, no extension metadata on JSON,
GEOGRAPHY and DATETIME, small INT64s as int32). CreateReadSession reads the table's
schema (tables.get on the emulator) and every record batch, and the session's schema, is
re-encoded into the types Google documents (``google_arrow.py``, with its sources), so a
client reads what it would read from Google.

The BigQueryWrite service is not proxied (UNIMPLEMENTED).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pyarrow
from google.cloud.bigquery_storage_v1 import types
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from standins import errors, google_arrow
from standins._http import Fault, FaultInjector, RecordsCalls
from standins.errors import GoogleError
from standins.gate import BIGQUERY_READ_SCOPES, RESULTS_DATASET, Gate, identity_token
from standins.policy import API_TITLES, BIGQUERY_STORAGE_API
from standins.token_server import TokenInfo

SERVICE = "google.cloud.bigquery.storage.v1.BigQueryRead"
STORAGE_FAULT_KINDS = ("unavailable", "not_found", "expired", "hang")

MAX_ROWS_PER_RESPONSE = 1024
MAX_BYTES_PER_RESPONSE = 10 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.so_reuseport", 0),
]

PROJECT = re.compile(r"projects/([^/]+)")
TABLE = re.compile(r"projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)")
STREAM = re.compile(r"(projects/([^/]+)/locations/[^/]+/sessions/[^/]+)/streams/[^/]+")

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
_DETAIL_TYPES = {
    "type.googleapis.com/google.rpc.ErrorInfo": error_details_pb2.ErrorInfo,
    "type.googleapis.com/google.rpc.LocalizedMessage": error_details_pb2.LocalizedMessage,
    "type.googleapis.com/google.rpc.Help": error_details_pb2.Help,
}

_CreateReadSessionRequest = types.CreateReadSessionRequest.pb()
_ReadSession = types.ReadSession.pb()
_ReadRowsRequest = types.ReadRowsRequest.pb()
_ReadRowsResponse = types.ReadRowsResponse.pb()
_SplitReadStreamRequest = types.SplitReadStreamRequest.pb()


class RpcFailure(Exception):
    """A call's answer as a gRPC status: code, details text and rich-status details."""

    def __init__(
        self, code: grpc.StatusCode, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []

    @classmethod
    def from_google_error(cls, error: GoogleError) -> RpcFailure:
        details = []
        for detail in error.details or []:
            message_class = _DETAIL_TYPES.get(detail.get("@type", ""))
            if message_class is not None:
                fields = {k: v for k, v in detail.items() if k != "@type"}
                details.append(json_format.ParseDict(fields, message_class()))
        return cls(_CODES.get(error.code, grpc.StatusCode.UNKNOWN), error.message, details)

    def abort(self, context: grpc.ServicerContext) -> None:
        if not self.details:
            context.abort(self.code, self.message)
        packed = []
        for detail in self.details:
            container = any_pb2.Any()
            container.Pack(detail)
            packed.append(container)
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)
        context.abort_with_status(rpc_status.to_status(status))


def denied(permission: str, resource: str) -> RpcFailure:
    return RpcFailure(
        grpc.StatusCode.PERMISSION_DENIED,
        f"request failed: the user does not have '{permission}' permission for '{resource}'",
    )


def stream_denied(permission: str, stream: str) -> RpcFailure:
    return RpcFailure(
        grpc.StatusCode.PERMISSION_DENIED,
        f"there was an error operating on '{stream}': the user does not have "
        f"'{permission}' permission for '{stream}'",
    )


@dataclass(frozen=True)
class RecordedCall:
    """One call the storage gate answered: enough for a test to assert what happened."""

    operation: str  # CreateReadSession, ReadRows or SplitReadStream
    resource: str  # the table (CreateReadSession) or the stream
    account: str | None
    code: str  # the gRPC status name: OK, PERMISSION_DENIED, UNAVAILABLE, ...
    fault: str | None = None
    offset: int = 0  # ReadRows: the row the client asked to start from
    responses: int = 0  # ReadRows: responses sent
    rows: int = 0  # ReadRows: rows sent
    parent: str = ""  # CreateReadSession: the project the session runs (and is billed) in
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class _Part:
    """A stream the gate made: rows [start, end) of the emulator's streams in order, each
    given as (name, its first row, the row after its last)."""

    upstreams: tuple[tuple[str, int, int], ...]
    start: int
    end: int


@dataclass
class _Session:
    parent_project: str
    table: str
    creator: str


class _Chunker:
    """Cuts the emulator's ReadRows responses into bounded ones for one ReadRows call, in
    Google's Arrow types when the table's BigQuery schema (``fields``) is known."""

    def __init__(
        self,
        max_rows: int,
        max_bytes: int,
        fields: list[dict[str, Any]] | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> None:
        self.limit = limit  # rows left to send (a stream the gate made ends there)
        self.skip = skip  # rows of the emulator's stream before the first to send
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.fields = fields
        self.schema: pyarrow.Schema | None = None
        self.google_schema: pyarrow.Schema | None = None
        self.serialized_schema = b""
        self.first = True

    def split(self, raw: bytes) -> Iterator[tuple[bytes, int]]:
        """(serialized response, rows) for each response to send in place of ``raw``."""
        message = _ReadRowsResponse.FromString(raw)
        if message.HasField("arrow_schema") and self.schema is None:
            self.serialized_schema = message.arrow_schema.serialized_schema
            self.schema = pyarrow.ipc.read_schema(pyarrow.py_buffer(self.serialized_schema))
            if self.fields:
                self.google_schema = google_arrow.google_schema(self.fields)
                self.serialized_schema = self.google_schema.serialize().to_pybytes()
        if message.WhichOneof("rows") != "arrow_record_batch" or self.schema is None:
            self.first = False
            yield raw, message.row_count  # Avro (or no schema to cut with): as it came
            return
        batch = pyarrow.ipc.read_record_batch(
            pyarrow.py_buffer(message.arrow_record_batch.serialized_record_batch), self.schema
        )
        if self.skip:
            skipped = min(self.skip, batch.num_rows)
            batch = batch.slice(skipped)
            self.skip -= skipped
        if self.limit is not None:
            batch = batch.slice(0, min(batch.num_rows, self.limit))
            self.limit -= batch.num_rows
        if batch.num_rows == 0:
            return
        if self.google_schema is not None and self.fields:
            batch = google_arrow.google_batch(batch, self.fields, self.google_schema)
        total = batch.num_rows
        per_row = max(1, batch.nbytes // max(total, 1))
        size = max(1, min(self.max_rows, self.max_bytes // per_row))
        position = 0
        while position < total:
            count = min(size, total - position)
            while True:
                response = self._response(message, batch, position, count, total)
                data = response.SerializeToString()
                if len(data) <= self.max_bytes or count == 1:
                    break
                count = max(1, count // 2)  # a wide slice: halve until it fits
                size = count
            self.first = False
            yield data, count
            position += count

    def _response(
        self, message: Any, batch: pyarrow.RecordBatch, position: int, count: int, total: int
    ) -> Any:
        response = _ReadRowsResponse()
        response.row_count = count
        response.arrow_record_batch.serialized_record_batch = (
            batch.slice(position, count).serialize().to_pybytes()
        )
        progress = message.stats.progress
        start = progress.at_response_start
        span = progress.at_response_end - start
        response.stats.progress.at_response_start = start + span * position / total
        response.stats.progress.at_response_end = start + span * (position + count) / total
        if message.HasField("throttle_state"):
            response.throttle_state.CopyFrom(message.throttle_state)
        if self.first:
            response.arrow_schema.serialized_schema = self.serialized_schema
        return response


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, gate: StorageGate) -> None:
        self.gate = gate

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        if service != SERVICE:
            return None
        if method == "CreateReadSession":
            return grpc.unary_unary_rpc_method_handler(self.gate._create_read_session)
        if method == "ReadRows":
            return grpc.unary_stream_rpc_method_handler(self.gate._read_rows)
        if method == "SplitReadStream":
            return grpc.unary_unary_rpc_method_handler(self.gate._split_read_stream)
        return None


class StorageGate(RecordsCalls):
    """gRPC proxy in front of the emulator's Storage Read API (``upstream``, host:port).

    Authentication, the policy and the owners of query jobs come from ``gate`` (the HTTP
    gate in front of the same emulator). Give clients ``target``.
    """

    def __init__(
        self,
        *,
        upstream: str,
        gate: Gate,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_seconds: float = 30.0,
        upstream_timeout: float = 300.0,
        max_rows_per_response: int = MAX_ROWS_PER_RESPONSE,
        max_bytes_per_response: int = MAX_BYTES_PER_RESPONSE,
        max_workers: int = 16,
    ) -> None:
        super().__init__()
        self.upstream = upstream
        self.gate = gate
        self.host = host
        self._requested_port = port
        self.upstream_timeout = upstream_timeout
        self._defaults = (max_rows_per_response, max_bytes_per_response)
        # Read on every ReadRows call: a test may lower them (reset() restores them).
        self.max_rows_per_response = max_rows_per_response
        self.max_bytes_per_response = max_bytes_per_response
        self._max_workers = max_workers
        self.faults = FaultInjector(hang_seconds, kinds=STORAGE_FAULT_KINDS)
        self._server: grpc.Server | None = None
        self._channel: grpc.Channel | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._port = 0
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        # Session name -> the table's BigQuery schema, for re-encoding its streams. Kept
        # across reset(): a stream stays readable (and Google-typed) as long as at Google.
        self._schemas: dict[str, list[dict[str, Any]]] = {}
        # Stream name -> its range of the emulator's stream (sessions of k > 1 streams).
        self._parts: dict[str, _Part] = {}
        # Stream name -> how many of its rows the gate has sent: a client may resume at any
        # of them, as at Google.
        self._sent: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> StorageGate:
        if self._server is not None:
            return self
        self._channel = grpc.insecure_channel(self.upstream, options=GRPC_OPTIONS)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="standins-storage"
        )
        server = grpc.server(self._executor, handlers=[_Handler(self)], options=GRPC_OPTIONS)
        try:
            port = server.add_insecure_port(f"{self.host}:{self._requested_port}")
        except RuntimeError:
            port = 0
        if not port:
            self._channel.close()
            self._executor.shutdown(wait=False)
            raise RuntimeError(f"storage gate could not bind {self.host}:{self._requested_port}")
        server.start()
        self._server, self._port = server, port
        return self

    def stop(self) -> None:
        self.faults.clear()  # wakes up hanging calls
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait(timeout=10)
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def __enter__(self) -> StorageGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("StorageGate is not running")
        return self._port

    @property
    def target(self) -> str:
        """``host:port`` for a gRPC channel (settings.BIGQUERY_STORAGE_TARGET)."""
        return f"{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget faults, the call log, sessions, their divided streams and the rows sent on
        them; restore the response bounds."""
        self.faults.clear()
        self.max_rows_per_response, self.max_bytes_per_response = self._defaults
        self.clear_requests()
        with self._lock:
            self._sessions.clear()
            self._parts.clear()
            self._sent.clear()

    # -- faults and call log -----------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        match: str | None = None,
        seconds: float | None = None,
        after: int | None = None,
    ) -> Any:
        """Make the next ``times`` matching calls fail.

        kind: ``unavailable`` (UNAVAILABLE), ``not_found`` (NOT_FOUND: the stream is gone),
        ``expired`` (FAILED_PRECONDITION: the session expired) or ``hang`` (no answer for
        ``seconds``, then UNAVAILABLE). ``match`` is an operation (``"CreateReadSession"``,
        ``"ReadRows"``, ``"SplitReadStream"``) or a substring of the table or stream name;
        None matches every call. ``after``: for ReadRows, send that many responses first
        (a failure mid-stream; at the end of the stream when it has fewer).
        ``times=None`` keeps the fault until ``reset()``.
        """
        return self.faults.inject(kind, times=times, match=match, seconds=seconds, after=after)

    # -- authentication and permissions ------------------------------------------------------
    def _caller(self, context: grpc.ServicerContext, operation: str) -> TokenInfo:
        metadata = {key.lower(): value for key, value in context.invocation_metadata()}
        authorization = metadata.get("authorization")
        try:
            # The HTTP gate's own checks: token, scopes, API enabled in the home project.
            caller = self.gate.authenticate(
                authorization if isinstance(authorization, str) else None
            )
            self.gate.check_scopes(
                caller, BIGQUERY_READ_SCOPES, BIGQUERY_STORAGE_API, f"{SERVICE}.{operation}"
            )
            self.gate.check_consumer(caller, BIGQUERY_STORAGE_API)
        except GoogleError as error:
            raise RpcFailure.from_google_error(error) from error
        return caller

    def _check_project(self, project_id: str, failure: RpcFailure) -> None:
        """The project must exist (else ``failure``: Google does not say which) and have
        the Storage API enabled."""
        project = self.gate.policy.project(project_id)
        if project is None:
            raise failure
        if not project.api_enabled(BIGQUERY_STORAGE_API):
            raise RpcFailure.from_google_error(
                errors.service_disabled(
                    BIGQUERY_STORAGE_API, API_TITLES[BIGQUERY_STORAGE_API], project.number
                )
            )

    def _authorize_session(self, caller: TokenInfo, parent: str, table: str) -> None:
        parent_match = PROJECT.fullmatch(parent)
        if parent_match is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid parent: {parent}")
        table_match = TABLE.fullmatch(table)
        if table_match is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid table name: {table}")
        create = denied("bigquery.readsessions.create", parent)
        self._check_project(parent_match[1], create)
        policy, email = self.gate.policy, caller.email
        if not policy.has(email, "bigquery.readsessions.create", parent_match[1]):
            raise create
        p, d, t = table_match.groups()
        if d == RESULTS_DATASET and self.gate.job_owner(p, t) == email:
            return  # a job's creator may read its anonymous results
        if not policy.has(email, "bigquery.tables.getData", p, d):
            raise denied("bigquery.tables.getData", table)

    def _authorize_stream(self, caller: TokenInfo, stream: str, permission: str) -> str:
        """Check ``permission`` on the stream's session project; returns that project."""
        match = STREAM.fullmatch(stream)
        if match is None:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid stream name: {stream}")
        with self._lock:
            session = self._sessions.get(match[1])
        project = session.parent_project if session else match[2]
        failure = stream_denied(permission, stream)
        self._check_project(project, failure)
        if not self.gate.policy.has(caller.email, permission, project):
            raise failure
        return project

    # -- faults ------------------------------------------------------------------------------
    def _fault_failure(self, kind: str, operation: str, resource: str) -> RpcFailure:
        if kind == "not_found":
            if operation == "CreateReadSession":
                match = TABLE.fullmatch(resource)
                name = f"{match[1]}:{match[2]}.{match[3]}" if match else resource
                return RpcFailure(grpc.StatusCode.NOT_FOUND, f"Not found: Table {name}")
            return RpcFailure(grpc.StatusCode.NOT_FOUND, f"Not found: Stream {resource}")
        if kind == "expired":
            expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
            return RpcFailure(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"there was an error operating on '{resource}': session expired at "
                f"{expired.isoformat(timespec='seconds')}",
            )
        return RpcFailure(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")

    def _fire(self, fault: Fault, operation: str, resource: str) -> RpcFailure:
        if fault.kind == "hang":
            self.faults.hang(fault.seconds)
        return self._fault_failure(fault.kind, operation, resource)

    # -- upstream ------------------------------------------------------------------------------
    def _timeout(self, context: grpc.ServicerContext) -> float:
        """The client's deadline, passed on (or ours when it set none)."""
        remaining = context.time_remaining()
        return self.upstream_timeout if remaining is None else max(0.001, remaining)

    def _unary(self, method: str, request: bytes, email: str, context: Any) -> bytes:
        assert self._channel is not None  # noqa: S101 - handlers run only while started
        call = self._channel.unary_unary(f"/{SERVICE}/{method}")
        try:
            return call(
                request,
                timeout=self._timeout(context),
                metadata=[("authorization", identity_token(email))],
            )
        except grpc.RpcError as error:
            raise _upstream_failure(error) from error

    # -- the three methods -------------------------------------------------------------------
    def _run_unary(
        self,
        operation: str,
        resource: str,
        request: bytes,
        context: grpc.ServicerContext,
        authorize: Callable[[TokenInfo], None],
        after: Callable[[TokenInfo, bytes], bytes] | None = None,
        parent: str = "",
    ) -> bytes:
        account = None
        fault = self.faults.take(operation, resource)
        try:
            if fault is not None:
                raise self._fire(fault, operation, resource)
            caller = self._caller(context, operation)
            account = caller.email
            authorize(caller)
            response = self._unary(operation, request, caller.email, context)
            if after is not None:
                response = after(caller, response)
        except RpcFailure as failure:
            kind = fault.kind if fault is not None else None
            self.record(
                RecordedCall(operation, resource, account, failure.code.name, kind, parent=parent)
            )
            failure.abort(context)
            raise  # not reached: abort() raises
        self.record(RecordedCall(operation, resource, account, "OK", parent=parent))
        return response

    def _create_read_session(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        parsed = _CreateReadSessionRequest.FromString(request)
        table = parsed.read_session.table
        every_stream = _CreateReadSessionRequest()
        every_stream.CopyFrom(parsed)
        every_stream.max_stream_count = 0  # the emulator's 100,000-row streams, all of them

        def remember(caller: TokenInfo, response: bytes) -> bytes:
            session = _ReadSession.FromString(response)
            parent = PROJECT.fullmatch(parsed.parent)
            resource = self._table_resource(table, caller.email)
            fields = list((resource.get("schema") or {}).get("fields") or [])
            with self._lock:
                self._sessions[session.name] = _Session(
                    parent[1] if parent else "", table, caller.email
                )
                if fields:
                    self._schemas[session.name] = fields
            split = self._regroup_streams(session, parsed.max_stream_count)
            if fields and session.HasField("arrow_schema"):
                schema = google_arrow.google_schema(fields)
                session.arrow_schema.serialized_schema = schema.serialize().to_pybytes()
            return session.SerializeToString() if split or fields else response

        return self._run_unary(
            "CreateReadSession",
            table,
            every_stream.SerializeToString(),
            context,
            lambda caller: self._authorize_session(caller, parsed.parent, table),
            remember,
            parent=parsed.parent,
        )

    def _regroup_streams(self, session: Any, wanted: int) -> bool:
        """Replace the emulator's streams by min(wanted, rows) streams of contiguous rows
        over them, as BigQuery divides a table between streams; False when the emulator's
        answer stays (as many streams as the client gets)."""
        rows = session.estimated_row_count  # the emulator's exact count
        upstream = [stream.name for stream in session.streams]
        count = min(wanted or len(upstream), rows)
        if count == len(upstream):
            return False
        # The emulator's own division: stream j holds rows [rows * j // n, rows * (j+1) // n).
        bounds = [
            (name, rows * number // len(upstream), rows * (number + 1) // len(upstream))
            for number, name in enumerate(upstream)
        ]
        del session.streams[:]
        with self._lock:
            for number in range(count):
                name = f"{upstream[0]}-part{number}"
                start, end = number * rows // count, (number + 1) * rows // count
                over = tuple(bound for bound in bounds if bound[1] < end and bound[2] > start)
                self._parts[name] = _Part(over, start, end)
                session.streams.add().name = name
        return True

    def _table_resource(self, table: str, email: str) -> dict[str, Any]:
        """The table's resource from the emulator (tables.get); {} if it cannot say."""
        match = TABLE.fullmatch(table)
        if match is None:
            return {}
        project, dataset, table_id = match.groups()
        try:
            answer = self.gate.forward(
                "GET",
                f"/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table_id}",
                [],
                b"",
                email,
            )
            resource = answer.json() if answer.status == 200 else {}
        except (GoogleError, ValueError):
            return {}
        return resource if isinstance(resource, dict) else {}

    def _split_read_stream(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        stream = _SplitReadStreamRequest.FromString(request).name
        return self._run_unary(
            "SplitReadStream",
            stream,
            request,
            context,
            lambda caller: self._authorize_stream(caller, stream, "bigquery.readsessions.update"),
        )

    def _read_rows(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        parsed = _ReadRowsRequest.FromString(request)
        stream, offset = parsed.read_stream, parsed.offset
        fault = self.faults.take("ReadRows", stream)
        account: str | None = None
        responses = rows = 0
        code = "CANCELLED"  # unless the call gets to an answer: the client went away
        upstream = None
        try:
            if fault is not None and fault.after is None:
                raise self._fire(fault, "ReadRows", stream)
            caller = self._caller(context, "ReadRows")
            account = caller.email
            self._authorize_stream(caller, stream, "bigquery.readsessions.getData")
            assert self._channel is not None  # noqa: S101 - handlers run only while started
            with self._lock:
                part = self._parts.get(stream)
            # (the emulator's request, rows of its answer to skip), read in order
            reads: list[tuple[bytes, int]] = [(request, 0)]
            limit = None
            with self._lock:
                sent = self._sent.get(stream, 0)
            if part is None and 0 < offset <= sent:
                # Rows sent already: read again from row 0 and skip to the offset. The
                # emulator counts a row as allocated only once its own stream has moved on
                # past it, so a read cut short (a fault, a client gone) can leave it behind
                # what the client received, and it would refuse the resumption.
                again = _ReadRowsRequest(read_stream=stream, offset=0).SerializeToString()
                reads = [(again, offset)]
            elif part is not None:
                first = part.start + offset
                limit = max(0, part.end - first)
                reads = [
                    (
                        _ReadRowsRequest(read_stream=name, offset=0).SerializeToString(),
                        max(0, first - start),
                    )
                    for name, start, end in part.upstreams
                    if end > first
                ]
            session_match = STREAM.fullmatch(stream)
            with self._lock:
                fields = self._schemas.get(session_match[1]) if session_match else None
            chunker = _Chunker(
                self.max_rows_per_response, self.max_bytes_per_response, fields, limit
            )
            try:
                for upstream_request, skip in reads:
                    if chunker.limit == 0:
                        break  # the end of a stream the gate made
                    chunker.skip = skip
                    upstream = self._channel.unary_stream(f"/{SERVICE}/ReadRows")(
                        upstream_request,
                        timeout=self._timeout(context),
                        metadata=[("authorization", identity_token(caller.email))],
                    )
                    context.add_callback(upstream.cancel)  # the client went away
                    for raw in upstream:
                        if chunker.limit == 0:
                            upstream.cancel()  # the end of a stream the gate made
                            break
                        for data, count in chunker.split(raw):
                            if fault is not None and fault.after is not None:
                                if responses >= fault.after:
                                    raise self._fire(fault, "ReadRows", stream)
                            yield data
                            responses += 1
                            rows += count
                            with self._lock:
                                self._sent[stream] = max(self._sent.get(stream, 0), offset + rows)
            except grpc.RpcError as error:
                raise _upstream_failure(error) from error
            if fault is not None:
                raise self._fire(fault, "ReadRows", stream)  # fewer responses than `after`
            code = "OK"
        except RpcFailure as failure:
            code = failure.code.name
            if upstream is not None:
                upstream.cancel()
            # Logged before the status goes out, so a test sees it once its call ends.
            self._record_read(stream, account, code, fault, offset, responses, rows)
            code = ""
            failure.abort(context)
        finally:
            if code:
                self._record_read(stream, account, code, fault, offset, responses, rows)

    def _record_read(
        self,
        stream: str,
        account: str | None,
        code: str,
        fault: Fault | None,
        offset: int,
        responses: int,
        rows: int,
    ) -> None:
        self.record(
            RecordedCall(
                "ReadRows",
                stream,
                account,
                code,
                fault.kind if fault is not None else None,
                offset=offset,
                responses=responses,
                rows=rows,
            )
        )


def _upstream_failure(error: grpc.RpcError) -> RpcFailure:
    """The emulator's answer, passed on (it uses BigQuery's codes and texts)."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNAVAILABLE
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    return RpcFailure(code or grpc.StatusCode.UNKNOWN, details or "")
