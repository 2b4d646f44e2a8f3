"""What an alert says: one JSON event (webhooks get it as it is), written out as a Slack
message or an email. README "Alerts" documents the fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from notifications.events import EventKind
from workspaces.models import Workspace

PAYLOAD_VERSION = 1


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _base(*, kind: EventKind, workspace: Workspace, summary: str) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "event": str(kind),
        "summary": summary,
        "occurred_at": timezone.now().isoformat(),
        "workspace": {"slug": workspace.slug, "name": workspace.name},
        "import": None,
        "run": None,
        "connection": None,
        "counts": None,
        "error": None,
        "links": {
            "notifications": absolute(reverse("notifications:page", kwargs={"ws": workspace.slug}))
        },
    }


def _connection(connection: Any) -> dict[str, Any]:
    return {
        "id": str(connection.pk),
        "name": connection.name,
        "project_id": connection.project_id,
        "dataset_id": connection.dataset_id,
    }


def import_event(*, kind: EventKind, run: Any) -> dict[str, Any]:
    """run.failed or import.recovered, about `run` (its import and connection loaded)."""
    import_obj = run.import_obj
    workspace = import_obj.workspace
    verb = "failed" if kind == EventKind.RUN_FAILED else "recovered: its run succeeded"
    payload = _base(kind=kind, workspace=workspace, summary=f"Import “{import_obj.name}” {verb}")
    payload["import"] = {"id": str(import_obj.pk), "name": import_obj.name}
    payload["run"] = {
        "id": str(run.pk),
        "status": run.status,
        "trigger": run.trigger,
        "scheduled_for": _iso(run.scheduled_for),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }
    payload["connection"] = _connection(import_obj.connection)
    payload["counts"] = {
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "rows_unchanged": run.rows_unchanged,
        "rows_rejected": run.rows_rejected,
        "health": run.health_percent,
    }
    payload["error"] = run.error_message or None
    ws = workspace.slug
    links = payload["links"]
    links["run"] = absolute(reverse("imports:run", kwargs={"ws": ws, "run_pk": run.pk}))
    links["import"] = absolute(reverse("imports:detail", kwargs={"ws": ws, "pk": import_obj.pk}))
    return payload


def connection_check_event(*, kind: EventKind, connection: Any, result: dict) -> dict[str, Any]:
    """connection.failing or connection.recovered, after a daily check's `result`."""
    failing = kind == EventKind.CONNECTION_FAILING
    summary = (
        f"Connection “{connection.name}” is failing its daily check"
        if failing
        else f"Connection “{connection.name}” passes its daily check again"
    )
    payload = _base(kind=kind, workspace=connection.workspace, summary=summary)
    payload["connection"] = _connection(connection)
    payload["error"] = result.get("summary") if failing else None
    payload["checks"] = [
        {"check": c.get("label", c.get("id")), "status": c.get("status"), "detail": c.get("detail")}
        for c in result.get("checks", [])
    ]
    payload["links"]["connection"] = _connection_link(connection)
    return payload


def key_age_event(*, connection: Any, age_days: int) -> dict[str, Any]:
    payload = _base(
        kind=EventKind.KEY_OLD,
        workspace=connection.workspace,
        summary=(
            f"The service-account key of connection “{connection.name}” was saved {age_days} "
            "days ago: time to rotate it"
        ),
    )
    payload["connection"] = {
        **_connection(connection),
        "client_email": connection.client_email,
        "private_key_id": connection.private_key_id,
        "key_saved_at": _iso(connection.key_set_at),
        "key_age_days": age_days,
    }
    payload["error"] = (
        "Google recommends rotating service-account keys every 90 days: create a new key for "
        f"{connection.client_email}, replace it with Edit, then delete the old key in Google Cloud."
    )
    payload["links"]["connection"] = _connection_link(connection)
    return payload


def test_event(*, workspace: Workspace, actor: User) -> dict[str, Any]:
    who = getattr(actor, "email", "") or getattr(actor, "username", "an admin")
    return _base(
        kind=EventKind.TEST,
        workspace=workspace,
        summary=f"Test alert sent by {who}: alerts reach this destination",
    )


def _connection_link(connection: Any) -> str:
    return absolute(
        reverse("connections:detail", kwargs={"ws": connection.workspace.slug, "pk": connection.pk})
    )


def webhook_body(payload: dict[str, Any], *, delivery_id: str, slack: bool) -> dict[str, Any]:
    if slack:
        return {"text": slack_text(payload)}
    return {"delivery": delivery_id, **payload}


def _first_link(payload: dict[str, Any]) -> tuple[str, str]:
    links = payload["links"]
    for key, label in (("run", "Open the run"), ("connection", "Open the connection")):
        if key in links:
            return links[key], label
    return links["notifications"], "Open Notifications"


def slack_text(payload: dict[str, Any]) -> str:
    """Slack's mrkdwn: `*bold*`, `<url|label>`; &, < and > escaped in our own text."""

    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    lines = [f"*[{escape(payload['workspace']['name'])}] {escape(payload['summary'])}*"]
    if payload.get("error"):
        lines.append(escape(payload["error"]))
    counts = payload.get("counts")
    if counts:
        lines.append(
            f"Rows read {counts['rows_read']:,}, written {counts['rows_written']:,}, "
            f"unchanged {counts.get('rows_unchanged', 0):,}, rejected {counts['rows_rejected']:,}"
        )
    url, label = _first_link(payload)
    lines.append(f"<{url}|{label}>")
    return "\n".join(lines)


def email_subject(payload: dict[str, Any]) -> str:
    return f"[{payload['workspace']['name']}] {payload['summary']}"


def email_body(payload: dict[str, Any]) -> str:
    lines = [payload["summary"] + ".", ""]
    if payload.get("error"):
        lines += [payload["error"], ""]
    counts = payload.get("counts")
    if counts:
        lines += [
            f"Rows read: {counts['rows_read']:,}",
            f"Rows written: {counts['rows_written']:,}",
            f"Rows unchanged: {counts.get('rows_unchanged', 0):,}",
            f"Rows rejected: {counts['rows_rejected']:,}",
            "",
        ]
    connection = payload.get("connection")
    if connection:
        lines += [
            f"Connection: {connection['name']} "
            f"({connection['project_id']}.{connection['dataset_id']})",
            "",
        ]
    for key, label in (
        ("run", "Run"),
        ("import", "Import"),
        ("connection", "Connection"),
        ("notifications", "Notification settings"),
    ):
        if key in payload["links"]:
            lines.append(f"{label}: {payload['links'][key]}")
    lines += ["", f"Workspace: {payload['workspace']['name']}", f"Event: {payload['event']}"]
    return "\n".join(lines) + "\n"
