"""The BigQuery gate: a reverse proxy in front of the emulator's REST API that does what the
emulator does not: authenticate bearer tokens (issued by the token stand-in), enforce a
permission policy with Google's error answers, serve Cloud Resource Manager
``projects.testIamPermissions``, and inject faults.

Permission rules (deliberately simple, each one mirrors a documented Google rule):

* every call: a valid access token with a BigQuery scope (CRM: cloud-platform); the BigQuery
  API enabled in the caller's home project (the consumer) and in the project addressed;
  the project must exist.
* datasets.get/update/delete -> bigquery.datasets.get/update/delete on the dataset;
  datasets.insert -> bigquery.datasets.create on the project; datasets.list shows only the
  datasets the caller can get.
* tables.list/insert -> bigquery.tables.list/create on the dataset; tables.get/update/delete,
  tabledata.list, insertAll -> bigquery.tables.get/update/delete/getData/updateData.
* jobs.insert / jobs.query -> bigquery.jobs.create on the job's project, plus for a query
  what BigQuery reports in ``referencedTables`` (found with a dry run on the emulator):
  bigquery.tables.getData on each (and bigquery.tables.updateData for DML), tables.create on
  a DDL or destination table's dataset. Load: create + updateData on the destination;
  copy: getData on sources; extract: tables.export.
* jobs.get / getQueryResults / cancel: the job's creator, or bigquery.jobs.get.
* tables.testIamPermissions answers the subset held (project + dataset grants).
* anonymous results: BigQuery writes a query without a destination table to a temporary
  table in the job's project, capped at about 10 GB compressed; over it the job fails with
  403 ``responseTooLarge`` ("Response too large to return. Consider specifying a destination
  table in your job configuration", https://cloud.google.com/bigquery/docs/error-messages,
  and https://cloud.google.com/bigquery/docs/writing-results#large-results). With
  ``anonymous_result_max_rows`` set, a query job whose anonymous result holds more rows
  fails so: its job resource is DONE with that ``errorResult`` and getQueryResults answers
  the 403. Rows, not bytes: the emulator's ``numBytes`` does not count strings. A job with
  ``destinationTable`` is never capped.
* long queries: with ``jobs_keep_running`` set, every query job (not a dry run) reports
  ``RUNNING`` in its jobs.insert and jobs.get answers, as a query that takes minutes does.
  jobs.cancel then ends one as BigQuery does: ``DONE`` with ``errorResult`` reason
  ``stopped`` ("Job execution was cancelled: User requested cancellation",
  https://cloud.google.com/bigquery/docs/error-messages).
* billing project: a job runs in the project it is POSTed to (``bigquery.jobs.create``
  there) and may read tables of other projects the caller can read
  (https://cloud.google.com/bigquery/docs/running-queries, "the project that runs the job
  is billed"); its anonymous result lives in the job's project (the emulator does the same).

Cost (https://cloud.google.com/bigquery/pricing#on_demand_pricing and
https://cloud.google.com/bigquery/docs/best-practices-costs#limit_query_costs_by_restricting_the_number_of_bytes_billed):

* bytes processed: the emulator reports 0, so the gate counts the stored size (numBytes) of
  every table the query references (``set_table_bytes`` makes a table as large as a test
  needs). That is what BigQuery's dry run reports for a query reading every column and no
  partition pruning; it never under-counts.
* bytes billed: processed, rounded up to the next MiB, at least 10 MiB per referenced table
  ("a minimum 10 MB data processed per table referenced by the query"); 0 for a query that
  references no table. Filled into the job's ``statistics`` (dry runs: processed only).
* ``maximumBytesBilled``: a (non-dry-run) query job whose bytes billed would exceed it fails
  before running with 400 ``bytesBilledLimitExceeded`` ("the query will fail without
  incurring a charge", https://cloud.google.com/bigquery/docs/error-messages).
* ``requirePartitionFilter`` (https://cloud.google.com/bigquery/docs/querying-partitioned-tables#require_a_partition_filter_in_queries):
  enforced by the emulator itself, with Google's 400 ``invalidQuery`` text.
* The request log keeps each query job's maximumBytesBilled, labels and dryRun.

"On a dataset" means a project-level grant or a dataset-level grant (READER/WRITER/OWNER).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import http.client
import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from standins import errors
from standins._http import (
    FAULT_KINDS,
    BaseHandler,
    FaultInjector,
    LoopbackService,
    RecordedRequest,
)
from standins.errors import GoogleError
from standins.policy import API_TITLES, BIGQUERY_API, CRM_API, Policy
from standins.token_server import TokenInfo, TokenServer

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CLOUD_PLATFORM_READ = "https://www.googleapis.com/auth/cloud-platform.read-only"
BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"
BIGQUERY_READ = "https://www.googleapis.com/auth/bigquery.readonly"
BIGQUERY_WRITE_SCOPES = frozenset({CLOUD_PLATFORM, BIGQUERY_SCOPE})
BIGQUERY_READ_SCOPES = BIGQUERY_WRITE_SCOPES | {CLOUD_PLATFORM_READ, BIGQUERY_READ}
CRM_SCOPES = frozenset({CLOUD_PLATFORM, CLOUD_PLATFORM_READ})

MIB = 1024 * 1024
MINIMUM_BILLED_PER_TABLE = 10 * MIB
RESULTS_DATASET = "_results"  # where the emulator keeps anonymous query results
DML = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE_TABLE"}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
    "authorization",
    "date",
    "server",
}
_DATASET_CHILDREN = frozenset({"routines", "models"})


@dataclass
class Route:
    """What a request addresses."""

    api: str  # "bigquery", "crm" or "unknown"
    operation: str
    project: str | None = None
    dataset: str | None = None
    table: str | None = None
    job: str | None = None
    permission: str | None = None  # for generic dataset children (routines, models, ...)
    version: str = "v2"


def classify(method: str, path: str) -> Route:
    """Map a request to an operation name such as ``datasets.get`` (used in logs and faults)."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    if parts[:1] in (["v1"], ["v3"]) and len(parts) == 3 and parts[1] == "projects":
        resource = parts[2]
        if resource.endswith(":testIamPermissions"):
            project = resource.removesuffix(":testIamPermissions")
            return Route("crm", "projects.testIamPermissions", project=project, version=parts[0])
        if method == "GET":
            return Route("crm", "projects.get", project=resource, version=parts[0])
        return Route("unknown", "crm.unknown")
    upload = parts[:1] == ["upload"]
    if upload:
        parts = parts[1:]
    if parts[:2] != ["bigquery", "v2"]:
        return Route("unknown", "unknown")
    rest = parts[2:]
    n = len(rest)
    if rest == ["projects"]:
        return Route("bigquery", "projects.list")
    if n < 2 or rest[0] != "projects":
        return Route("bigquery", "unknown")
    project = rest[1]
    if n == 2:
        return Route("bigquery", "projects.unknown", project=project)
    kind = rest[2]
    if kind == "serviceAccount" and n == 3:
        return Route("bigquery", "projects.getServiceAccount", project=project)
    if kind == "jobs":
        if n == 3:
            if upload:
                return Route("bigquery", "jobs.insert.upload", project=project)
            return Route(
                "bigquery", "jobs.insert" if method == "POST" else "jobs.list", project=project
            )
        job = rest[3]
        if n == 4:
            return Route("bigquery", "jobs.get", project=project, job=job)
        if n == 5 and rest[4] == "cancel":
            return Route("bigquery", "jobs.cancel", project=project, job=job)
        if n == 5 and rest[4] == "delete":
            return Route("bigquery", "jobs.delete", project=project, job=job)
    if kind == "queries":
        if n == 3:
            return Route("bigquery", "jobs.query", project=project)
        if n == 4:
            return Route("bigquery", "jobs.getQueryResults", project=project, job=rest[3])
    if kind == "datasets":
        if n == 3:
            op = "datasets.insert" if method == "POST" else "datasets.list"
            return Route("bigquery", op, project=project)
        dataset = rest[3]
        if n == 4:
            verb = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
            return Route("bigquery", f"datasets.{verb.get(method, 'unknown')}", project, dataset)
        child = rest[4]
        if child == "tables":
            if n == 5:
                op = "tables.insert" if method == "POST" else "tables.list"
                return Route("bigquery", op, project, dataset)
            table, _, verb = rest[5].rpartition(":") if ":" in rest[5] else (rest[5], "", "")
            if verb:
                return Route("bigquery", f"tables.{verb}", project, dataset, table)
            if n == 6:
                verbs = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
                return Route(
                    "bigquery", f"tables.{verbs.get(method, 'unknown')}", project, dataset, table
                )
            if n == 7 and rest[6] == "data":
                return Route("bigquery", "tabledata.list", project, dataset, table)
            if n == 7 and rest[6] == "insertAll":
                return Route("bigquery", "tabledata.insertAll", project, dataset, table)
            if n >= 7 and rest[6] == "rowAccessPolicies":
                verb = _crud_verb(method, n > 7)
                return Route(
                    "bigquery",
                    f"rowAccessPolicies.{verb}",
                    project,
                    dataset,
                    table,
                    permission=f"bigquery.rowAccessPolicies.{verb}",
                )
        if child in _DATASET_CHILDREN:
            verb = _crud_verb(method, n > 5)
            permission = f"bigquery.{child}.{verb}"
            if child == "models" and verb == "get":
                permission = "bigquery.models.getMetadata"
            return Route("bigquery", f"{child}.{verb}", project, dataset, permission=permission)
    return Route("bigquery", "unknown", project=project)


def _crud_verb(method: str, has_id: bool) -> str:
    if method == "GET":
        return "get" if has_id else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}.get(
        method, "unknown"
    )


def query_text(operation: str, body: bytes) -> str | None:
    """The SQL of a query job request (for the request log), or None."""
    if operation not in ("jobs.insert", "jobs.query") or not body:
        return None
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    query = ((request.get("configuration") or {}).get("query") or {}).get("query")
    return query if operation == "jobs.insert" else request.get("query")


def job_settings(operation: str, body: bytes) -> tuple[int | None, dict[str, str] | None, bool]:
    """A query job request's maximumBytesBilled, labels and dryRun (for the request log)."""
    if operation not in ("jobs.insert", "jobs.query") or not body:
        return None, None, False
    try:
        request = json.loads(body)
    except ValueError:
        return None, None, False
    if not isinstance(request, dict):
        return None, None, False
    if operation == "jobs.insert":
        config = request.get("configuration") or {}
        query = config.get("query") or {}
        maximum, labels, dry = (
            query.get("maximumBytesBilled"),
            config.get("labels"),
            config.get("dryRun"),
        )
    else:
        maximum, labels, dry = (
            request.get("maximumBytesBilled"),
            request.get("labels"),
            request.get("dryRun"),
        )
    return (int(maximum) if maximum is not None else None), labels, bool(dry)


def identity_token(email: str) -> str:
    """An unsigned JWT whose claims the emulator reads as the caller (row access policies)."""

    def encode(payload: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()

    return f"Bearer {encode({'alg': 'none'})}.{encode({'email': email, 'sub': email})}.x"


@dataclass
class Upstream:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _GateHandler(BaseHandler):
    def handle_request(self) -> None:
        gate: Gate = self.service
        split = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        route = classify(self.command, split.path)
        fault = gate.faults.take(route.operation, split.path)
        sql = query_text(route.operation, body)
        maximum, labels, dry_run = job_settings(route.operation, body)
        cost = {"maximum_bytes_billed": maximum, "labels": labels, "dry_run": dry_run}
        if fault is not None:
            # Logged before answering, so a test sees the entry as soon as its call returns.
            gate.record(
                RecordedRequest(
                    self.command,
                    split.path,
                    route.operation,
                    None,
                    None,
                    fault.kind,
                    sql=sql,
                    **cost,
                )
            )
            if fault.kind == "backend_error":
                self._send_error(errors.backend_error())
            elif fault.kind == "rate_limit":
                self._send_error(errors.rate_limited())
            elif fault.kind in errors.DOCUMENTED:
                self._send_error(errors.DOCUMENTED[fault.kind](fault.detail))
            elif fault.kind == "hang":
                gate.faults.hang(fault.seconds)
                self.drop()
            else:
                self.drop()
            return

        caller: TokenInfo | None = None
        try:
            caller = gate.authenticate(self.headers.get("Authorization"))
            if route.api == "crm":
                status, payload = gate.crm(route, caller, self.command, body)
                response = Upstream(
                    status,
                    [("Content-Type", "application/json; charset=UTF-8")],
                    json.dumps(payload).encode(),
                )
            elif route.api == "bigquery":
                response = gate.bigquery(route, caller, self, split, body)
            else:
                raise errors.not_found(f"Not found: {split.path}")
        except GoogleError as error:
            response = Upstream(
                error.code,
                [("Content-Type", "application/json; charset=UTF-8"), *error.headers.items()],
                json.dumps(error.body()).encode(),
            )
        gate.record(
            RecordedRequest(
                self.command,
                split.path,
                route.operation,
                caller.email if caller else None,
                response.status,
                sql=sql,
                **cost,
            )
        )
        self._send_upstream(response)

    def _send_error(self, error: GoogleError) -> None:
        self.send_json(error.code, error.body(), headers=error.headers)

    def _send_upstream(self, upstream: Upstream) -> None:
        self.send_response(upstream.status)
        content_type = "application/json; charset=UTF-8"
        for name, value in upstream.headers:
            if name.lower() == "content-type":
                content_type = value
            else:
                self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(upstream.body)))
        self.end_headers()
        if upstream.body:
            self.wfile.write(upstream.body)


class Gate(LoopbackService):
    """Reverse proxy in front of the emulator (``upstream``) enforcing ``policy``."""

    handler_class = _GateHandler

    def __init__(
        self,
        *,
        upstream: str,
        token_server: TokenServer,
        policy: Policy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_seconds: float = 30.0,
        upstream_timeout: float = 300.0,
    ) -> None:
        super().__init__(host=host, port=port, hang_seconds=hang_seconds)
        self.faults = FaultInjector(hang_seconds, kinds=FAULT_KINDS + tuple(errors.DOCUMENTED))
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self._upstream_address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.upstream_timeout = upstream_timeout
        self.tokens = token_server
        self.policy = policy or Policy()
        self._jobs_lock = threading.Lock()
        self._job_owners: dict[tuple[str, str], str] = {}
        self._job_bytes: dict[tuple[str, str], tuple[int, int]] = {}
        self._table_bytes: dict[tuple[str, str, str], int] = {}
        self.anonymous_result_max_rows: int | None = None
        self._too_large: set[tuple[str, str]] = set()
        self.jobs_keep_running = False
        self._cancelled: set[tuple[str, str]] = set()

    @property
    def bigquery_endpoint(self) -> str:
        return self.url

    @property
    def resource_manager_endpoint(self) -> str:
        return self.url

    def reset(self) -> None:
        super().reset()
        with self._jobs_lock:
            self._job_owners.clear()
            self._job_bytes.clear()
            self._table_bytes.clear()
            self._too_large.clear()
            self._cancelled.clear()
        self.anonymous_result_max_rows = None
        self.jobs_keep_running = False

    def set_table_bytes(self, project: str, dataset: str, table: str, size: int) -> None:
        """Make a table count as `size` bytes for what queries over it process and bill."""
        with self._jobs_lock:
            self._table_bytes[(project, dataset, table)] = size

    def job_owner(self, project: str, job_id: str) -> str | None:
        with self._jobs_lock:
            return self._job_owners.get((project, job_id))

    # -- authentication ------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> TokenInfo:
        scheme, _, token = (authorization or "").partition(" ")
        if not token or scheme.lower() != "bearer":
            raise errors.missing_credentials()
        info = self.tokens.resolve(token.strip())
        if info is None:
            raise errors.invalid_credentials()
        return info

    def check_scopes(
        self, caller: TokenInfo, allowed: frozenset[str], service: str, method: str
    ) -> None:
        if not caller.scopes & allowed:
            raise errors.insufficient_scopes(service, method)

    def check_consumer(self, caller: TokenInfo, service: str) -> None:
        """The API must be enabled in the caller's home project (when that project is known)."""
        home = self.policy.project(caller.project_id)
        if home is not None and not home.api_enabled(service):
            raise errors.service_disabled(service, API_TITLES[service], home.number)

    # -- Cloud Resource Manager ----------------------------------------------------------------
    def crm(self, route: Route, caller: TokenInfo, method: str, body: bytes) -> tuple[int, Any]:
        version = route.version
        self.check_scopes(
            caller,
            CRM_SCOPES,
            CRM_API,
            f"google.cloudresourcemanager.{version}.Projects.{route.operation.split('.')[1]}",
        )
        self.check_consumer(caller, CRM_API)
        assert route.project is not None  # noqa: S101 - classify() sets it for crm routes
        project = self.policy.project(route.project.removeprefix("projects/"))
        if route.operation == "projects.testIamPermissions":
            if method != "POST":
                raise GoogleError(405, "Method not allowed", None)
            try:
                requested = json.loads(body or b"{}").get("permissions") or []
            except (ValueError, AttributeError) as error:
                raise GoogleError(400, "Invalid JSON payload received.", "badRequest") from error
            if project is None:
                raise errors.caller_lacks_permission()
            held = self.policy.project_permissions(caller.email, project.project_id)
            granted = [p for p in requested if p in held]
            return 200, ({"permissions": granted} if granted else {})
        # projects.get
        if project is None or not self.policy.has(
            caller.email, "resourcemanager.projects.get", project.project_id
        ):
            raise errors.caller_lacks_permission()
        if version == "v3":
            return 200, {
                "name": f"projects/{project.number}",
                "projectId": project.project_id,
                "state": "ACTIVE",
                "displayName": project.project_id,
            }
        return 200, {
            "projectNumber": project.number,
            "projectId": project.project_id,
            "lifecycleState": "ACTIVE",
            "name": project.project_id,
        }

    # -- BigQuery --------------------------------------------------------------------------------
    def bigquery(
        self,
        route: Route,
        caller: TokenInfo,
        handler: BaseHandler,
        split: urllib.parse.SplitResult,
        body: bytes,
    ) -> Upstream:
        method = handler.command
        allowed = BIGQUERY_READ_SCOPES if method == "GET" else BIGQUERY_WRITE_SCOPES
        self.check_scopes(caller, allowed, BIGQUERY_API, f"bigquery.{route.operation}")
        self.check_consumer(caller, BIGQUERY_API)
        if route.project is not None:
            project = self.policy.project(route.project)
            if project is None:
                raise errors.not_found(f"Not found: Project {route.project}")
            if not project.api_enabled(BIGQUERY_API):
                raise errors.service_disabled(
                    BIGQUERY_API, API_TITLES[BIGQUERY_API], project.number
                )

        op = route.operation
        if op == "tables.testIamPermissions":
            return self._table_test_permissions(route, caller, body)
        target = split.path + (f"?{split.query}" if split.query else "")
        answered = None
        if op == "jobs.insert" and job_settings(op, body)[2]:
            # A dry run changes nothing: its own answer says which tables it reads (what
            # the gate's probe would ask first), and is held back if the caller may not.
            answered = self.forward(method, target, handler.headers.items(), body, caller.email)
        cost = self._authorize(
            route, caller, method, split, handler.headers.get("Content-Type"), body, answered
        )
        upstream = answered or self.forward(
            method, target, handler.headers.items(), body, caller.email
        )
        return self._postprocess(route, caller, upstream, cost)

    def _authorize(
        self,
        route: Route,
        caller: TokenInfo,
        method: str,
        split: urllib.parse.SplitResult,
        content_type: str | None,
        body: bytes,
        answered: Upstream | None = None,
    ) -> tuple[int, int] | None:
        """Raise Google's error when the caller may not do this; a query job's
        (bytes processed, bytes billed). `answered`: a dry run's own answer."""
        op, email, p, d, t = (
            route.operation,
            caller.email,
            route.project,
            route.dataset,
            route.table,
        )
        if op in ("projects.list", "projects.getServiceAccount", "datasets.list"):
            return None  # listings are filtered afterwards
        assert p is not None  # noqa: S101 - every other route names a project

        def need_dataset(permission: str) -> None:
            assert d is not None  # noqa: S101
            if not self.policy.has(email, permission, p, d):
                raise errors.dataset_denied(permission, p, d)

        def need_table(permission: str) -> None:
            assert d is not None and t is not None  # noqa: S101
            if not self.policy.has(email, permission, p, d):
                raise errors.table_denied(permission, p, d, t)

        def need_project(permission: str) -> None:
            if not self.policy.has(email, permission, p):
                raise errors.project_denied(permission, p)

        simple_dataset = {
            "datasets.get": "bigquery.datasets.get",
            "datasets.patch": "bigquery.datasets.update",
            "datasets.update": "bigquery.datasets.update",
            "datasets.delete": "bigquery.datasets.delete",
            "tables.list": "bigquery.tables.list",
            "tables.insert": "bigquery.tables.create",
        }
        simple_table = {
            "tables.get": "bigquery.tables.get",
            "tables.patch": "bigquery.tables.update",
            "tables.update": "bigquery.tables.update",
            "tables.delete": "bigquery.tables.delete",
            "tables.getIamPolicy": "bigquery.tables.getIamPolicy",
            "tables.setIamPolicy": "bigquery.tables.setIamPolicy",
            "tabledata.insertAll": "bigquery.tables.updateData",
        }
        if op in simple_dataset:
            need_dataset(simple_dataset[op])
        elif op in ("tabledata.list", "tables.get") and (
            d == RESULTS_DATASET and self.job_owner(p, t or "") == email
        ):
            return None  # a job's creator may read its anonymous results (and their metadata)
        elif op == "tabledata.list":
            need_table("bigquery.tables.getData")
        elif op in simple_table:
            need_table(simple_table[op])
        elif route.permission is not None and d is not None:
            need_dataset(route.permission)
        elif op == "datasets.insert":
            need_project("bigquery.datasets.create")
        elif op == "jobs.list":
            need_project("bigquery.jobs.list")
        elif op in ("jobs.get", "jobs.getQueryResults", "jobs.cancel", "jobs.delete"):
            if self.job_owner(p, route.job or "") != email:
                permission = {
                    "jobs.delete": "bigquery.jobs.delete",
                    "jobs.cancel": "bigquery.jobs.update",
                }.get(op, "bigquery.jobs.get")
                if not self.policy.has(email, permission, p):
                    ref = f"{p}:{route.job}"
                    raise errors.access_denied(
                        f"Access Denied: Job {ref}: The user {email} does not have "
                        f"{permission} permission for job {ref}."
                    )
        elif op in ("jobs.insert", "jobs.query", "jobs.insert.upload"):
            if op == "jobs.insert.upload" and method == "PUT":
                return None  # later chunks of a resumable upload authorised at its start
            need_project("bigquery.jobs.create")
            job = self._job_body(op, split, content_type, body)
            return self._authorize_job(p, email, job, answered)
        # Unmapped operations pass with authentication and project checks only.
        return None

    def _job_body(
        self, op: str, split: urllib.parse.SplitResult, content_type: str | None, body: bytes
    ) -> dict[str, Any]:
        try:
            if op == "jobs.query":
                request = json.loads(body or b"{}")
                query = {
                    key: request[key]
                    for key in (
                        "query",
                        "useLegacySql",
                        "defaultDataset",
                        "queryParameters",
                        "parameterMode",
                        "maximumBytesBilled",
                    )
                    if key in request
                }
                return {
                    "configuration": {"query": query, "dryRun": request.get("dryRun", False)},
                    "jobReference": {"location": request.get("location")},
                }
            upload_type = dict(urllib.parse.parse_qsl(split.query)).get("uploadType")
            if op == "jobs.insert.upload" and upload_type == "multipart":
                header = f"Content-Type: {content_type}\r\n\r\n".encode()
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    header + body
                )
                first = next(iter(message.iter_parts()), None)
                payload = first.get_payload(decode=True) if first is not None else b"{}"
                return json.loads(payload or b"{}")
            return json.loads(body or b"{}")
        except (ValueError, TypeError) as error:
            raise GoogleError(400, "Invalid JSON payload received.", "invalid") from error

    def _authorize_job(
        self, project: str, email: str, job: dict[str, Any], answered: Upstream | None = None
    ) -> tuple[int, int] | None:
        config = job.get("configuration") or {}
        location = (job.get("jobReference") or {}).get("location") or "US"

        def dataset_perm(permission: str, ref: dict[str, str]) -> None:
            p, d = ref.get("projectId") or project, ref["datasetId"]
            if d == RESULTS_DATASET:
                return
            if not self.policy.has(email, permission, p, d):
                raise errors.dataset_denied(permission, p, d)

        def table_perm(permission: str, ref: dict[str, str]) -> None:
            p, d, t = ref.get("projectId") or project, ref["datasetId"], ref["tableId"]
            if not self.policy.has(email, permission, p, d):
                raise errors.table_denied(permission, p, d, t)

        if "query" in config:
            query = config["query"]
            stats = _statistics(answered) if answered else self._dry_run(project, query)
            for ref in stats.get("referencedTables") or []:
                p, d, t = ref.get("projectId") or project, ref["datasetId"], ref["tableId"]
                if d == RESULTS_DATASET and self.job_owner(p, t) == email:
                    continue  # a job's creator may query its anonymous result table
                if not self.policy.has(email, "bigquery.tables.getData", p, d):
                    raise errors.query_table_denied(p, d, t, location)
                if stats.get("statementType") in DML:
                    table_perm("bigquery.tables.updateData", ref)
            target = stats.get("ddlTargetTable")
            statement = stats.get("statementType") or ""
            if target:
                if statement.startswith("CREATE"):
                    dataset_perm("bigquery.tables.create", target)
                elif statement.startswith("DROP"):
                    table_perm("bigquery.tables.delete", target)
                elif statement.startswith("ALTER"):
                    table_perm("bigquery.tables.update", target)
            if query.get("destinationTable"):
                dataset_perm("bigquery.tables.create", query["destinationTable"])
                dataset_perm("bigquery.tables.updateData", query["destinationTable"])
        if "load" in config and config["load"].get("destinationTable"):
            dataset_perm("bigquery.tables.create", config["load"]["destinationTable"])
            dataset_perm("bigquery.tables.updateData", config["load"]["destinationTable"])
        if "copy" in config:
            copy = config["copy"]
            for ref in copy.get("sourceTables") or [copy.get("sourceTable")]:
                if ref:
                    table_perm("bigquery.tables.getData", ref)
            if copy.get("destinationTable"):
                dataset_perm("bigquery.tables.create", copy["destinationTable"])
                dataset_perm("bigquery.tables.updateData", copy["destinationTable"])
        if "extract" in config and config["extract"].get("sourceTable"):
            table_perm("bigquery.tables.export", config["extract"]["sourceTable"])
        if "query" not in config:
            return None
        processed, billed = self._bytes(project, stats.get("referencedTables") or [])
        maximum = config["query"].get("maximumBytesBilled")
        if not config.get("dryRun") and maximum is not None and billed > int(maximum):
            raise errors.bytes_billed_limit(f"{int(maximum)} {billed}")
        return processed, billed

    def _bytes(self, project: str, tables: list[dict[str, str]]) -> tuple[int, int]:
        """(processed, billed) for a query over `tables` (see the module docstring)."""
        processed = 0
        for ref in tables:
            key = (ref.get("projectId") or project, ref["datasetId"], ref["tableId"])
            with self._jobs_lock:
                size = self._table_bytes.get(key)
            if size is None:
                p, d, t = key
                found = self.forward(
                    "GET", f"/bigquery/v2/projects/{p}/datasets/{d}/tables/{t}", [], b"", None
                )
                size = int((found.json() or {}).get("numBytes") or 0) if found.status == 200 else 0
            processed += size
        if not tables:
            return processed, 0
        rounded = -(-processed // MIB) * MIB
        return processed, max(rounded, MINIMUM_BILLED_PER_TABLE * len(tables))

    def _dry_run(self, project: str, query: dict[str, Any]) -> dict[str, Any]:
        """Ask the emulator which tables a query reads (the statistics BigQuery reports)."""
        probe = {
            key: query[key]
            for key in (
                "query",
                "useLegacySql",
                "defaultDataset",
                "queryParameters",
                "parameterMode",
            )
            if key in query
        }
        upstream = self.forward(
            "POST",
            f"/bigquery/v2/projects/{project}/jobs",
            [("Content-Type", "application/json")],
            json.dumps({"configuration": {"dryRun": True, "query": probe}}).encode(),
            None,
        )
        return _statistics(upstream)

    def _table_test_permissions(self, route: Route, caller: TokenInfo, body: bytes) -> Upstream:
        p, d, t = route.project, route.dataset, route.table
        assert p and d and t  # noqa: S101
        try:
            requested = json.loads(body or b"{}").get("permissions") or []
        except (ValueError, AttributeError) as error:
            raise GoogleError(400, "Invalid JSON payload received.", "invalid") from error
        effective = self.policy.effective(caller.email, p, d)
        exists = self.forward(
            "GET", f"/bigquery/v2/projects/{p}/datasets/{d}/tables/{t}", [], b"", None
        )
        if exists.status == 404:
            if "bigquery.tables.get" in effective:
                raise errors.not_found(f"Not found: Table {p}:{d}.{t}")
            granted = []
        else:
            granted = [perm for perm in requested if perm in effective]
        payload = {"permissions": granted} if granted else {}
        return Upstream(200, [("Content-Type", "application/json")], json.dumps(payload).encode())

    # -- forwarding ------------------------------------------------------------------------------
    def forward(
        self,
        method: str,
        target: str,
        headers: Any,
        body: bytes,
        email: str | None,
    ) -> Upstream:
        outgoing = {name: value for name, value in headers if name.lower() not in HOP_BY_HOP}
        if email is not None:
            outgoing["Authorization"] = identity_token(email)
        connection = http.client.HTTPConnection(
            *self._upstream_address, timeout=self.upstream_timeout
        )
        try:
            connection.request(method, target, body=body or None, headers=outgoing)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise GoogleError(
                503, f"The BigQuery emulator did not answer: {error}", "backendError"
            ) from error
        finally:
            connection.close()
        passed = []
        for name, value in response.getheaders():
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() == "location" and value.startswith(self.upstream):
                value = self.url + value[len(self.upstream) :]
            passed.append((name, value))
        return Upstream(response.status, passed, data)

    def _postprocess(
        self,
        route: Route,
        caller: TokenInfo,
        upstream: Upstream,
        cost: tuple[int, int] | None = None,
    ) -> Upstream:
        op = route.operation
        if upstream.status != 200 or not upstream.body:
            return upstream
        try:
            payload = upstream.json()
        except ValueError:
            return upstream
        if not isinstance(payload, dict):
            return upstream
        if op in ("datasets.get", "datasets.patch", "datasets.update", "datasets.insert"):
            self._merge_access(payload)
        elif op == "datasets.list":
            assert route.project is not None  # noqa: S101
            payload["datasets"] = [
                item
                for item in payload.get("datasets") or []
                if self.policy.has(
                    caller.email,
                    "bigquery.datasets.get",
                    route.project,
                    item["datasetReference"]["datasetId"],
                )
            ]
        elif op == "projects.list":
            projects = [
                item
                for item in payload.get("projects") or []
                if self.policy.project(item["id"]) is not None
                and self.policy.can_see_project(caller.email, item["id"])
            ]
            for item in projects:
                known = self.policy.project(item["id"])
                item["numericId"] = known.number if known else item.get("numericId")
            payload["projects"] = projects
            payload["totalItems"] = len(projects)
        elif op.startswith("jobs."):
            self._track_jobs(route, caller, payload, cost)
            self._cap_anonymous_result(route, payload)
            self._long_query(route, payload)
        else:
            return upstream
        return Upstream(upstream.status, upstream.headers, json.dumps(payload).encode())

    def _cap_anonymous_result(self, route: Route, payload: dict[str, Any]) -> None:
        """Fail a done query job whose anonymous result is over ``anonymous_result_max_rows``
        as BigQuery does (``responseTooLarge``); see the module docstring."""
        limit = self.anonymous_result_max_rows
        op, project = route.operation, route.project or ""
        if limit is None or op not in ("jobs.insert", "jobs.get", "jobs.getQueryResults"):
            return
        job_id = (payload.get("jobReference") or {}).get("jobId") or route.job or ""
        key = (project, job_id)
        with self._jobs_lock:
            known = key in self._too_large
        if not known:
            destination = (
                ((payload.get("configuration") or {}).get("query") or {}).get("destinationTable")
            ) or {}
            done = (payload.get("status") or {}).get("state") == "DONE"
            if not (done and destination.get("datasetId") == RESULTS_DATASET):
                return
            table = self.forward(
                "GET",
                f"/bigquery/v2/projects/{destination.get('projectId') or project}/datasets/"
                f"{RESULTS_DATASET}/tables/{destination.get('tableId')}",
                [],
                b"",
                None,
            )
            if table.status != 200 or int((table.json() or {}).get("numRows") or 0) <= limit:
                return
            with self._jobs_lock:
                self._too_large.add(key)
        error = errors.response_too_large()
        if op == "jobs.getQueryResults":
            raise error
        result = error.body()["error"]["errors"][0]
        payload["status"] = {"state": "DONE", "errorResult": result, "errors": [result]}

    def _long_query(self, route: Route, payload: dict[str, Any]) -> None:
        """A query job still running while ``jobs_keep_running``, and stopped once
        cancelled (see the module docstring)."""
        op, project = route.operation, route.project or ""
        job = payload.get("job") if op == "jobs.cancel" else payload
        if op not in ("jobs.insert", "jobs.get", "jobs.cancel") or not isinstance(job, dict):
            return
        configuration = job.get("configuration") or {}
        if "query" not in configuration or configuration.get("dryRun"):
            return
        key = (project, (job.get("jobReference") or {}).get("jobId") or route.job or "")
        with self._jobs_lock:
            if op == "jobs.cancel":
                self._cancelled.add(key)
            cancelled = key in self._cancelled
        if cancelled:
            stopped = {
                "reason": "stopped",
                "message": "Job execution was cancelled: User requested cancellation",
            }
            job["status"] = {"state": "DONE", "errorResult": stopped, "errors": [stopped]}
        elif self.jobs_keep_running:
            job["status"] = {"state": "RUNNING"}

    def _merge_access(self, dataset: dict[str, Any]) -> None:
        ref = dataset.get("datasetReference") or {}
        grants = self.policy.dataset_entries(ref.get("projectId", ""), ref.get("datasetId", ""))
        if not grants:
            return
        access = [
            entry
            for entry in dataset.get("access") or []
            if entry.get("userByEmail") not in grants
            and entry.get("iamMember", "").removeprefix("serviceAccount:") not in grants
        ]
        access += [{"role": role, "userByEmail": email} for email, role in grants.items()]
        dataset["access"] = access

    def _track_jobs(
        self,
        route: Route,
        caller: TokenInfo,
        payload: dict[str, Any],
        cost: tuple[int, int] | None = None,
    ) -> None:
        p = route.project or ""
        if route.operation == "jobs.list":
            listed = []
            see_all = self.policy.has(caller.email, "bigquery.jobs.listAll", p)
            for item in payload.get("jobs") or []:
                job_id = (item.get("jobReference") or {}).get("jobId") or ""
                owner = self.job_owner(p, job_id)
                if owner == caller.email or see_all:
                    item["user_email"] = owner or item.get("user_email")
                    listed.append(item)
            payload["jobs"] = listed
            return
        job_id = (payload.get("jobReference") or {}).get("jobId")
        if job_id and route.operation in ("jobs.insert", "jobs.query", "jobs.insert.upload"):
            with self._jobs_lock:
                self._job_owners.setdefault((p, job_id), caller.email)
                if cost is not None:
                    self._job_bytes[(p, job_id)] = cost
        if job_id:
            with self._jobs_lock:
                cost = self._job_bytes.get((p, job_id), cost)
        if cost is not None:
            _fill_bytes(payload, *cost)
        if "user_email" in payload and job_id:
            payload["user_email"] = self.job_owner(p, job_id) or caller.email


def _statistics(dry_run: Upstream) -> dict[str, Any]:
    """A dry run's query statistics; {} when it failed (the real request fails the same
    way)."""
    if dry_run.status != 200:
        return {}
    return ((dry_run.json() or {}).get("statistics") or {}).get("query") or {}


def _fill_bytes(payload: dict[str, Any], processed: int, billed: int) -> None:
    """The bytes the gate counted, where BigQuery reports them (a job resource or a
    jobs.query / getQueryResults answer)."""
    if "statistics" in payload or payload.get("kind") == "bigquery#job":
        statistics = payload.setdefault("statistics", {})
        dry = bool((payload.get("configuration") or {}).get("dryRun"))
        statistics["totalBytesProcessed"] = str(processed)
        query = statistics.setdefault("query", {})
        query["totalBytesProcessed"] = str(processed)
        query["totalBytesBilled"] = "0" if dry else str(billed)
    elif payload.get("kind") == "bigquery#queryResponse" or "jobComplete" in payload:
        payload["totalBytesProcessed"] = str(processed)
