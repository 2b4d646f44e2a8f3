"""Raising alerts: an Alert and one Delivery per destination, and the state changes that
call for one.

"One alert per change of state" holds across restarts and concurrent workers because the
health last alerted is a row (ImportAlertState, ConnectionWatch) and a change is claimed
with a conditional UPDATE, in the same transaction that records the alert: of two workers
judging the same run, one updates the row and raises the alert, the other updates
nothing and raises nothing (as imports.run.leases.run_claim does for runs).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from imports.models import Import, ImportRun
from notifications import payloads, queue
from notifications.events import (
    DECISIVE_RUN_STATUSES,
    EventKind,
    import_event,
    run_health,
)
from notifications.models import (
    Alert,
    Delivery,
    ImportAlertState,
    NotificationSettings,
    Recipient,
    Webhook,
)
from workspaces.models import Workspace

logger = logging.getLogger(__name__)


def enabled_events(*, workspace: Workspace) -> list[str]:
    row = NotificationSettings.objects.filter(workspace=workspace).first()
    return row.events if row else [str(k) for k in EventKind if k != EventKind.TEST]


def alert_raise(
    *,
    workspace: Workspace,
    kind: EventKind,
    payload: dict[str, Any],
    recipients: list[Recipient] | None = None,
    webhooks: list[Webhook] | None = None,
) -> Alert | None:
    """Record the alert and a delivery to each destination (every one of the workspace's,
    or those given, for a test), sent once the transaction commits. None when the
    workspace turned this kind of event off."""
    if recipients is None and webhooks is None:
        if kind not in enabled_events(workspace=workspace):
            return None
        recipients = list(Recipient.objects.filter(workspace=workspace))
        webhooks = list(Webhook.objects.filter(workspace=workspace))
    return alert_send(
        workspace=workspace,
        kind=kind,
        payload=payload,
        recipients=recipients or [],
        webhooks=webhooks or [],
    )


def alert_send(
    *,
    workspace: Workspace,
    kind: EventKind,
    payload: dict[str, Any],
    recipients: list[Recipient],
    webhooks: list[Webhook],
) -> Alert:
    """Record the alert and a delivery to each of `recipients` and `webhooks`, sent once
    the transaction commits."""
    now = timezone.now()
    alert = Alert.objects.create(
        workspace=workspace, kind=kind, summary=payload["summary"][:300], payload=payload
    )
    deliveries = [
        Delivery(
            workspace=workspace,
            alert=alert,
            channel=Delivery.Channel.EMAIL,
            recipient=recipient,
            destination=recipient.email,
            next_attempt_at=now,
        )
        for recipient in recipients
    ] + [
        Delivery(
            workspace=workspace,
            alert=alert,
            channel=Delivery.Channel.WEBHOOK,
            webhook=webhook,
            destination=str(webhook)[:300],
            next_attempt_at=now,
        )
        for webhook in webhooks
    ]
    Delivery.objects.bulk_create(deliveries)
    delivery_ids = [str(d.pk) for d in deliveries]

    def send() -> None:
        queue.enqueue_deliveries(delivery_ids)

    transaction.on_commit(send)
    logger.info(
        "alert %s (%s) for workspace %s: %d deliveries",
        alert.pk,
        kind,
        workspace.slug,
        len(deliveries),
    )
    return alert


# -- imports -------------------------------------------------------------------------------------


def _latest_decisive_run(import_id: Any) -> ImportRun | None:
    """The import's newest run that succeeded or failed. Runs of one import never overlap
    (one active run per import), so the newest created is the newest finished."""
    return (
        ImportRun.objects.filter(import_obj_id=import_id, status__in=DECISIVE_RUN_STATUSES)
        .select_related("import_obj__workspace", "import_obj__connection")
        .order_by("-created_at", "-pk")
        .first()
    )


def _import_state(import_id: Any) -> ImportAlertState | None:
    state = ImportAlertState.objects.filter(pk=import_id).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            ImportAlertState.objects.bulk_create(
                [ImportAlertState(import_obj_id=import_id)], ignore_conflicts=True
            )
    except IntegrityError:  # the import was deleted meanwhile
        return None
    return ImportAlertState.objects.filter(pk=import_id).first()


def import_alert_evaluate(*, import_id: Any) -> Alert | None:
    """Judge the import's newest finished run against the health last alerted; raise the
    alert a change calls for. Safe to call any number of times, from any worker."""
    for _ in range(3):  # lost a race: judge again with what the winner recorded
        run = _latest_decisive_run(import_id)
        if run is None:
            return None
        state = _import_state(import_id)
        if state is None:
            return None
        if state.last_run_created_at is not None and state.last_run_created_at >= run.created_at:
            return None  # this run, or a newer one, was judged already
        health = run_health(status=run.status)
        if health is None:
            return None
        kind = import_event(state.health, health)
        with transaction.atomic():
            claimed = ImportAlertState.objects.filter(
                pk=import_id, health=state.health, last_run_created_at=state.last_run_created_at
            ).update(
                health=health,
                last_run_id=run.pk,
                last_run_created_at=run.created_at,
                **({"changed_at": timezone.now()} if kind else {}),
            )
            if not claimed:
                continue
            if kind is None:
                return None
            return alert_raise(
                workspace=run.import_obj.workspace,
                kind=kind,
                payload=payloads.import_event(kind=kind, run=run),
            )
    return None


def imports_alert_catch_up(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Judge imports whose newest finished run was not judged yet: a run_finished message
    lost with the broker is caught up here. Looks at imports changed in the last day."""
    now = now or timezone.now()
    newest = ImportRun.objects.filter(
        import_obj=OuterRef("pk"), status__in=DECISIVE_RUN_STATUSES
    ).order_by("-created_at")
    import_ids = list(
        Import.objects.filter(updated_at__gte=now - dt.timedelta(days=1))
        .annotate(newest_run_at=Subquery(newest.values("created_at")[:1]))
        .filter(newest_run_at__isnull=False)
        .filter(
            Q(alert_state__isnull=True)
            | Q(alert_state__last_run_created_at__isnull=True)
            | Q(alert_state__last_run_created_at__lt=F("newest_run_at"))
        )
        .values_list("pk", flat=True)[:limit]
    )
    for import_id in import_ids:
        import_alert_evaluate(import_id=import_id)
    return len(import_ids)
