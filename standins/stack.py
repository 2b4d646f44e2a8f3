"""The whole stand-in stack on loopback: BigQuery emulator + token endpoint + the HTTP gate
and the Storage Read API (gRPC) gate in front of the emulator."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from standins.emulator import Emulator, EmulatorError
from standins.gate import CLOUD_PLATFORM, Gate
from standins.policy import Policy, Project
from standins.storage_gate import StorageGate
from standins.token_server import GOOGLE_TOKEN_URI, FakeKey, TokenServer, prewarm_keys

if TYPE_CHECKING:
    from google.cloud import bigquery, bigquery_storage_v1
    from google.oauth2 import service_account

# Below this many rows create_table() streams them with insertAll; above, a load job.
_INSERT_ALL_LIMIT = 500

SchemaSpec = Sequence[Mapping[str, Any] | Sequence[str] | Any]


class StandinStack:
    """Starts the emulator, the token server and the two gates; helpers to set up test data.

    Give the app ``token_uri`` (settings.GOOGLE_TOKEN_URI), ``bigquery_endpoint``
    (settings.BIGQUERY_API_ENDPOINT, the client's ``api_endpoint``) and ``grpc_target``
    (settings.BIGQUERY_STORAGE_TARGET). Helpers named ``create_*`` talk to the emulator
    directly, bypassing the gates and their policy.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        gate_port: int = 0,
        token_port: int = 0,
        storage_port: int = 0,
        emulator: Emulator | None = None,
        hang_seconds: float = 30.0,
    ) -> None:
        self.emulator = emulator or Emulator(host=host)
        self.policy = Policy()
        self.token_server = TokenServer(host=host, port=token_port, hang_seconds=hang_seconds)
        self._gate_args = {"host": host, "port": gate_port, "hang_seconds": hang_seconds}
        self._storage_args = {"host": host, "port": storage_port, "hang_seconds": hang_seconds}
        self._gate: Gate | None = None
        self._storage_gate: StorageGate | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> StandinStack:
        prewarm_keys()
        self.emulator.start()
        try:
            self.token_server.start()
            self._gate = Gate(
                upstream=self.emulator.rest_url,
                token_server=self.token_server,
                policy=self.policy,
                **self._gate_args,  # type: ignore[arg-type]
            )
            self._gate.start()
            self._storage_gate = StorageGate(
                upstream=self.emulator.grpc_target,
                gate=self._gate,
                **self._storage_args,  # type: ignore[arg-type]
            )
            self._storage_gate.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._storage_gate is not None:
            self._storage_gate.stop()
        if self._gate is not None:
            self._gate.stop()
        self.token_server.stop()
        self.emulator.stop()

    def restart_emulator(self) -> None:
        """A fresh emulator behind the same gates (see Emulator.restart): every dataset is
        gone, the default one excepted. The storage gate's channel reconnects by itself."""
        self.emulator.restart()

    def __enter__(self) -> StandinStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, *, data: bool = True) -> None:
        """Forget projects, accounts, tokens, grants, faults and logs; with ``data``, also
        delete every dataset in the emulator (slower: keep data between tests when you can).
        """
        self.gate.reset()
        self.storage_gate.reset()
        self.token_server.reset()
        self.policy.reset()
        if data:
            self.emulator.reset()

    # -- endpoints -------------------------------------------------------------------------------
    @property
    def gate(self) -> Gate:
        if self._gate is None:
            raise RuntimeError("StandinStack is not running; call start()")
        return self._gate

    @property
    def storage_gate(self) -> StorageGate:
        if self._storage_gate is None:
            raise RuntimeError("StandinStack is not running; call start()")
        return self._storage_gate

    @property
    def token_uri(self) -> str:
        return self.token_server.token_uri

    @property
    def bigquery_endpoint(self) -> str:
        return self.gate.bigquery_endpoint

    @property
    def resource_manager_endpoint(self) -> str:
        return self.gate.resource_manager_endpoint

    @property
    def grpc_target(self) -> str:
        """The Storage Read API (gRPC) through the storage gate: tokens, permissions, faults,
        and responses of bounded size."""
        return self.storage_gate.target

    @property
    def emulator_grpc_target(self) -> str:
        """The emulator's own Storage API, ungated (for diagnostics only)."""
        return self.emulator.grpc_target

    # -- projects, accounts, grants --------------------------------------------------------------
    def create_project(
        self,
        project_id: str,
        *,
        number: str | int | None = None,
        api_enabled: bool = True,
        crm_api_enabled: bool = True,
    ) -> Project:
        return self.policy.create_project(
            project_id, number=number, api_enabled=api_enabled, crm_api_enabled=crm_api_enabled
        )

    def register_service_account(
        self, email: str, *, project_id: str, token_uri: str = GOOGLE_TOKEN_URI
    ) -> FakeKey:
        return self.token_server.register_service_account(
            email, project_id=project_id, token_uri=token_uri
        )

    def grant(
        self,
        email: str,
        role_or_permissions: str | Iterable[str],
        *,
        project: str,
        dataset: str | None = None,
    ) -> None:
        self.policy.grant(email, role_or_permissions, project=project, dataset=dataset)

    def revoke(
        self,
        email: str,
        role_or_permissions: str | Iterable[str] | None = None,
        *,
        project: str,
        dataset: str | None = None,
    ) -> None:
        self.policy.revoke(email, role_or_permissions, project=project, dataset=dataset)

    # -- data (direct to the emulator) -----------------------------------------------------------
    def create_dataset(
        self, project: str, dataset: str, location: str = "US", **fields: Any
    ) -> dict[str, Any]:
        """Create a dataset (and register the project if the policy does not know it)."""
        if self.policy.project(project) is None:
            self.create_project(project)
        body = {
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": location,
            **fields,
        }
        return self.emulator.api("POST", f"/projects/{project}/datasets", json=body)

    def create_table(
        self,
        project: str,
        dataset: str,
        table: str,
        schema: SchemaSpec,
        rows: Iterable[Mapping[str, Any]] = (),
        *,
        partition_field: str = "",
        require_partition_filter: bool = False,
    ) -> dict[str, Any]:
        """Create a table with ``schema`` and load ``rows`` (dicts keyed by column name).

        ``schema`` items may be ``{"name", "type", "mode"?, "fields"?}`` dicts, ``(name, type)``
        or ``(name, type, mode)`` tuples, or objects with ``to_api_repr()`` (SchemaField).
        ``partition_field``: day-partitioned on that column (``timePartitioning.field``);
        ``require_partition_filter``: queries must filter on it (the emulator refuses them
        with Google's invalidQuery text otherwise).
        """
        fields = [_field(item) for item in schema]
        resource_json: dict[str, Any] = {
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields},
        }
        if partition_field:
            resource_json["timePartitioning"] = {"type": "DAY", "field": partition_field}
            resource_json["requirePartitionFilter"] = require_partition_filter
        resource = self.emulator.api(
            "POST", f"/projects/{project}/datasets/{dataset}/tables", json=resource_json
        )
        self.insert_rows(project, dataset, table, rows)
        return resource

    def run_sql(self, project: str, sql: str) -> dict[str, Any]:
        """Run GoogleSQL on the emulator directly (jobs.query; DDL and DML too) and return
        its answer. This is how a test loads values the emulator's insertAll refuses
        (INTERVAL, RANGE): ``CREATE TABLE ... AS SELECT`` or ``INSERT ... VALUES``."""
        body = {"query": sql, "useLegacySql": False, "timeoutMs": 60_000}
        result = self.emulator.api("POST", f"/projects/{project}/queries", json=body)
        job_id = (result.get("jobReference") or {}).get("jobId")
        deadline = time.monotonic() + 300
        while not result.get("jobComplete", True) and job_id:
            if time.monotonic() > deadline:
                raise EmulatorError(f"query {job_id} did not finish")
            time.sleep(0.02)
            result = self.emulator.api("GET", f"/projects/{project}/queries/{job_id}")
        if result.get("errors"):
            raise EmulatorError(f"query failed: {result['errors'][:3]}")
        return result

    def create_table_as(self, project: str, dataset: str, table: str, select: str) -> None:
        """Create ``table`` from a SELECT run on the emulator (``CREATE TABLE ... AS``), for
        rows with types insertAll refuses. Its column types are what the SELECT gives: a
        literal BIGNUMERIC keeps its digits, where a BIGNUMERIC column declared in
        ``create_table`` holds DECIMAL(38, 18) in the emulator."""
        self.run_sql(project, f"CREATE TABLE `{project}.{dataset}.{table}` AS {select}")

    def insert_rows(
        self, project: str, dataset: str, table: str, rows: Iterable[Mapping[str, Any]]
    ) -> None:
        rows = list(rows)
        if not rows:
            return
        if len(rows) <= _INSERT_ALL_LIMIT:
            result = self.emulator.api(
                "POST",
                f"/projects/{project}/datasets/{dataset}/tables/{table}/insertAll",
                data=json.dumps({"rows": [{"json": row} for row in rows]}, default=_jsonable),
                headers={"Content-Type": "application/json"},
            )
            if result.get("insertErrors"):
                raise EmulatorError(f"insertAll rejected rows: {result['insertErrors'][:3]}")
            return
        self._load_ndjson(project, dataset, table, rows)

    def _load_ndjson(
        self, project: str, dataset: str, table: str, rows: list[Mapping[str, Any]]
    ) -> None:
        boundary = uuid.uuid4().hex
        job_id = f"standins_load_{uuid.uuid4().hex}"
        metadata = {
            "jobReference": {"projectId": project, "jobId": job_id},
            "configuration": {
                "load": {
                    "destinationTable": {
                        "projectId": project,
                        "datasetId": dataset,
                        "tableId": table,
                    },
                    "sourceFormat": "NEWLINE_DELIMITED_JSON",
                    "writeDisposition": "WRITE_APPEND",
                    "createDisposition": "CREATE_NEVER",
                }
            },
        }
        data = "\n".join(json.dumps(row, default=_jsonable) for row in rows).encode()
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                json.dumps(metadata).encode(),
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        response = self.emulator.session.post(
            f"{self.emulator.rest_url}/upload/bigquery/v2/projects/{project}/jobs",
            params={"uploadType": "multipart"},
            data=body,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
            timeout=300,
        )
        if response.status_code != 200:
            raise EmulatorError(f"load job failed to start: {response.text[:500]}")
        deadline = time.monotonic() + 300
        while True:
            job = self.emulator.api("GET", f"/projects/{project}/jobs/{job_id}")
            status = job.get("status") or {}
            if status.get("state") == "DONE":
                if status.get("errorResult"):
                    raise EmulatorError(f"load job failed: {status['errorResult']}")
                return
            if time.monotonic() > deadline:
                raise EmulatorError(f"load job {job_id} did not finish")
            time.sleep(0.02)

    # -- client helpers --------------------------------------------------------------------------
    def credentials(
        self, key: FakeKey | Mapping[str, Any], scopes: Sequence[str] = (CLOUD_PLATFORM,)
    ) -> service_account.Credentials:
        """Real google-auth credentials for ``key``, refreshing against the token stand-in."""
        from google.oauth2 import service_account

        info = key.info if isinstance(key, FakeKey) else dict(key)
        return service_account.Credentials.from_service_account_info(
            info, scopes=list(scopes)
        ).with_token_uri(self.token_uri)

    def bigquery_client(
        self, key: FakeKey | Mapping[str, Any], project: str | None = None
    ) -> bigquery.Client:
        """A real ``bigquery.Client`` pointed at the gate."""
        from google.cloud import bigquery

        credentials = self.credentials(key)
        return bigquery.Client(
            project=project or credentials.project_id,
            credentials=credentials,
            client_options={"api_endpoint": self.bigquery_endpoint},
        )

    def storage_client(
        self, key: FakeKey | Mapping[str, Any]
    ) -> bigquery_storage_v1.BigQueryReadClient:
        """A real ``BigQueryReadClient`` pointed at the storage gate, over the kind of channel
        the app builds for a local target: loopback without TLS, carrying the account's
        access token on every call."""
        import google.auth.transport.grpc
        import grpc
        from google.auth.transport.requests import Request
        from google.cloud import bigquery_storage_v1
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
            BigQueryReadGrpcTransport,
        )

        channel = google.auth.transport.grpc.secure_authorized_channel(
            self.credentials(key),
            Request(),
            self.grpc_target,
            ssl_credentials=grpc.local_channel_credentials(),
            options=[("grpc.max_receive_message_length", -1)],
        )
        return bigquery_storage_v1.BigQueryReadClient(
            transport=BigQueryReadGrpcTransport(channel=channel)
        )


def _field(item: Any) -> dict[str, Any]:
    if hasattr(item, "to_api_repr"):
        return item.to_api_repr()
    if isinstance(item, Mapping):
        return dict(item)
    name, type_, *mode = item
    field = {"name": name, "type": type_}
    if mode:
        field["mode"] = mode[0]
    return field


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialise {type(value).__name__} for BigQuery")
