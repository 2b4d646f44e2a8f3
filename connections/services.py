"""Writes to connections. Every change is audited; no secret ever reaches the audit log."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from common.ratelimit import SlidingWindow
from connections import check, crypto
from connections.keyfile import ServiceAccountKey
from connections.models import Connection
from connections.tested_values import KeptTest
from workspaces.models import Workspace
from workspaces.services import audit_record


class ConnectionNameTaken(Exception):
    """Another connection of the workspace won the race for the same name."""


def _apply_key(connection: Connection, key: ServiceAccountKey) -> None:
    if key.private_key_id != connection.private_key_id:
        connection.key_set_at = timezone.now()  # a new key; the same one pasted again is not
    connection.encrypted_key = crypto.encrypt_key(key.to_json_bytes())
    connection.client_email = key.client_email
    connection.private_key_id = key.private_key_id
    connection.key_project_id = key.project_id


# Where jobs run and results go, and the cost limit; blank/None: the defaults.
ADVANCED_FIELDS = (
    "billing_project_id",
    "scratch_dataset_id",
    "scratch_kms_key_name",
    "maximum_bytes_billed",
)
# A change of these changes what Test Connection checks.
TESTED_ADVANCED = ("billing_project_id", "scratch_dataset_id")


def _advanced_changes(connection: Connection, advanced: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"from": getattr(connection, name), "to": advanced[name]}
        for name in ADVANCED_FIELDS
        if name in advanced and getattr(connection, name) != _stored(name, advanced[name])
    }


def _stored(name: str, value: Any) -> Any:
    return value if name == "maximum_bytes_billed" else (value or "")


def connection_create(
    *,
    workspace: Workspace,
    created_by: User,
    name: str,
    project_id: str,
    dataset_id: str,
    key: ServiceAccountKey,
    tested: KeptTest | None = None,
    advanced: dict[str, Any] | None = None,
) -> Connection:
    """`tested`: the Test Connection the admin ran on exactly these values, if any;
    `advanced`: billing project, scratch dataset and KMS key, maximum bytes billed."""
    connection = Connection(
        workspace=workspace,
        created_by=created_by,
        name=name,
        project_id=project_id,
        dataset_id=dataset_id,
        **{name: _stored(name, value) for name, value in (advanced or {}).items()},
    )
    _apply_key(connection, key)
    if tested is not None:
        _apply_test(connection, tested.result, tested.tested_at)
    try:
        with transaction.atomic():
            connection.save()
            audit_record(
                workspace=workspace,
                actor=created_by,
                action="connection.created",
                target=connection,
                details={
                    "project_id": project_id,
                    "dataset_id": dataset_id,
                    "client_email": key.client_email,
                    "private_key_id": key.private_key_id,
                    **{name: getattr(connection, name) for name in ADVANCED_FIELDS},
                },
            )
    except IntegrityError as exc:
        raise ConnectionNameTaken from exc
    return connection


def connection_update(
    *,
    connection: Connection,
    actor: User,
    name: str,
    project_id: str,
    dataset_id: str,
    key: ServiceAccountKey | None,
    tested: KeptTest | None = None,
    advanced: dict[str, Any] | None = None,
) -> Connection:
    """Change names/IDs and optionally replace the key; a changed target needs a new test,
    unless `tested` is the Test Connection the admin ran on exactly the new values."""
    changes = {
        field: {"from": getattr(connection, field), "to": value}
        for field, value in (("name", name), ("project_id", project_id), ("dataset_id", dataset_id))
        if getattr(connection, field) != value
    }
    changes |= _advanced_changes(connection, advanced or {})
    for field in ADVANCED_FIELDS:
        if field in (advanced or {}):
            setattr(connection, field, _stored(field, (advanced or {})[field]))
    old_key_id = connection.private_key_id
    old_email = connection.client_email
    connection.name, connection.project_id, connection.dataset_id = name, project_id, dataset_id
    if key is not None:
        _apply_key(connection, key)
    retest = {"project_id", "dataset_id", *TESTED_ADVANCED}
    if retest & changes.keys() or key is not None:
        connection.status = Connection.Status.UNTESTED
        connection.status_reason = ""
        connection.location = ""
        connection.last_test_result = None
        connection.last_tested_at = None
    if tested is not None:
        _apply_test(connection, tested.result, tested.tested_at)
    try:
        with transaction.atomic():
            _lock_existing(connection)
            connection.save()
            if changes:
                audit_record(
                    workspace=connection.workspace,
                    actor=actor,
                    action="connection.updated",
                    target=connection,
                    details=changes,
                )
            if key is not None:
                audit_record(
                    workspace=connection.workspace,
                    actor=actor,
                    action="connection.key_rotated",
                    target=connection,
                    details={
                        "from": {"client_email": old_email, "private_key_id": old_key_id},
                        "to": {
                            "client_email": key.client_email,
                            "private_key_id": key.private_key_id,
                        },
                    },
                )
    except IntegrityError as exc:
        raise ConnectionNameTaken from exc
    return connection


def connection_delete(*, connection: Connection, actor: User, stopped_imports: list[str]) -> None:
    """Delete the connection, audited with the imports stopped for it; its imports and their
    runs go with it (the foreign keys cascade).

    The connection's own part of imports.services.connection_delete_with_imports, which
    locks the connection and stops its imports first, in the same transaction: call that.
    """
    audit_record(
        workspace=connection.workspace,
        actor=actor,
        action="connection.deleted",
        target=connection,
        details={
            "project_id": connection.project_id,
            "dataset_id": connection.dataset_id,
            "stopped_imports": stopped_imports,
        },
    )
    connection.delete()


def _lock_existing(connection: Connection) -> None:
    """Lock the row of a connection read earlier, before saving it; Http404 when another
    admin deleted it meanwhile (a plain save would insert it again, key and all)."""
    locked = Connection.objects.select_for_update(no_key=True).filter(pk=connection.pk)
    if locked.values_list("pk", flat=True).first() is None:
        raise Http404("The connection was deleted meanwhile.")


def connection_record_test(
    *,
    connection: Connection,
    actor: User | None,
    result: dict[str, Any],
) -> Connection:
    """Store a Test Connection result on the connection (see _apply_test for the status),
    audited."""
    _apply_test(connection, result, timezone.now())
    with transaction.atomic():
        _lock_existing(connection)
        connection.save(
            update_fields=[
                "last_test_result",
                "last_tested_at",
                "status",
                "status_reason",
                "location",
                "updated_at",
            ],
        )
        connection_test_audit(
            workspace=connection.workspace,
            actor=actor,
            result=result,
            connection=connection,
            typed=False,
        )
    return connection


def _apply_test(connection: Connection, result: dict[str, Any], tested_at: datetime) -> None:
    """All passed: OK. A check failed: Failing. Otherwise some check could not be confirmed
    (Google unreachable, a rate limit): that says nothing about the connection, so its
    status stays as it was and the stored result shows what happened."""
    connection.last_test_result = result
    connection.last_tested_at = tested_at
    if result["ok"]:
        connection.status, connection.status_reason = Connection.Status.OK, ""
    elif check.has_failure(result):
        connection.status = Connection.Status.FAILING
        connection.status_reason = result.get("summary", "")[:500]
    if result.get("location"):
        connection.location = result["location"]


def connection_test_audit(
    *,
    workspace: Workspace,
    actor: User | None,
    result: dict[str, Any],
    connection: Connection | None,
    typed: bool,
) -> None:
    """Test Connection runs with the customer's key on their quota: who ran it, on which
    connection (or the Add Database form's values), and how it went. Only our check labels
    and statuses are kept: nothing typed, nothing from the key."""
    failed = next((c for c in result["checks"] if c["status"] == "fail"), None)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="connection.tested",
        target=connection if connection is not None else ("connection", "unsaved form"),
        details={
            "outcome": "passed" if result["ok"] else "failed",
            "failed_check": failed["label"] if failed else "",
            "source": "form" if typed else "saved",
        },
    )


def connections_reencrypt(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored key under the newest FERNET_KEYS entry; returns the count."""
    done = 0
    last_pk = None
    while True:
        with transaction.atomic():
            batch = Connection.objects.select_for_update().order_by("pk")
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            rows = list(batch.only("pk", "encrypted_key")[:batch_size])
            if not rows:
                return done
            for row in rows:
                row.encrypted_key = crypto.rotate(row.encrypted_key)
            Connection.objects.bulk_update(rows, ["encrypted_key"])
            done += len(rows)
            last_pk = rows[-1].pk


# Each test makes several calls to Google on the customer's quota, so a stuck button or a
# script must not hammer it: at most this many per user in any minute.
TEST_CONNECTION_WINDOW = SlidingWindow("connection-test", limit=10, seconds=60)


def connection_test_allowed(*, user: User) -> bool:
    """Count one Test Connection for `user`; False once the last minute's allowance is used."""
    return TEST_CONNECTION_WINDOW.attempt(str(user.pk)) == 0
