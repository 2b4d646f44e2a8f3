"""The daily check of every connection, and the age of their keys.

Each beat tick claims at most CONNECTION_CHECKS_PER_TICK connections not checked for a
day (SELECT … FOR UPDATE SKIP LOCKED, then their check time is set in the same
transaction, so two beats or a slow worker never check one twice in a day), and a worker
runs Test Connection on each: the key is decrypted inside the worker, only ids travel
through the broker. An alert goes out when the result changes to failing or back to ok.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone

from connections import services as connection_services
from connections.check import run_saved_connection_test
from connections.models import Connection
from notifications import payloads
from notifications.alerts import alert_raise
from notifications.events import EventKind, Health, connection_event
from notifications.models import Alert, ConnectionWatch

logger = logging.getLogger(__name__)

CHECK_EVERY = dt.timedelta(hours=24)


def connection_watches_ensure(*, limit: int = 1000) -> None:
    """A watch row for every connection (new ones start unchecked and healthy)."""
    missing = Connection.objects.filter(alert_watch__isnull=True).values_list("pk", flat=True)
    rows = [ConnectionWatch(connection_id=pk) for pk in missing[:limit]]
    if rows:
        ConnectionWatch.objects.bulk_create(rows, ignore_conflicts=True)


def connection_checks_claim(*, limit: int, now: dt.datetime | None = None) -> list[str]:
    """Up to `limit` connections not checked in the last 24 h, oldest check first; each is
    marked checked now, so it is not picked again for a day whatever the check's fate."""
    now = now or timezone.now()
    connection_watches_ensure()
    with transaction.atomic():
        ids = list(
            ConnectionWatch.objects.select_for_update(skip_locked=True)
            .filter(Q(checked_at__isnull=True) | Q(checked_at__lte=now - CHECK_EVERY))
            .order_by(F("checked_at").asc(nulls_first=True), "pk")
            .values_list("pk", flat=True)[:limit]
        )
        ConnectionWatch.objects.filter(pk__in=ids).update(checked_at=now)
    return [str(pk) for pk in ids]


def connection_check_run(*, connection_id: Any) -> Alert | None:
    """Test Connection on a saved connection, record the result on it, and alert when its
    health changed since the last alert."""
    connection = Connection.objects.select_related("workspace").filter(pk=connection_id).first()
    if connection is None:
        return None  # deleted since it was claimed
    result = run_saved_connection_test(connection)
    try:
        connection_services.connection_record_test(connection=connection, actor=None, result=result)
    except Http404:
        return None  # deleted while it was being tested
    health = Health.OK if result["ok"] else Health.FAILING
    logger.info("daily check of connection %s: %s", connection.pk, health)
    connection_watches_ensure()
    previous = ConnectionWatch.objects.filter(pk=connection.pk).values_list("health", flat=True)
    previous_health = previous.first()
    if previous_health is None:
        return None
    kind = connection_event(previous_health, health)
    with transaction.atomic():
        claimed = ConnectionWatch.objects.filter(pk=connection.pk, health=previous_health).update(
            health=health
        )
        if not claimed or kind is None:
            return None
        return alert_raise(
            workspace=connection.workspace,
            kind=kind,
            payload=payloads.connection_check_event(
                kind=kind, connection=connection, result=result
            ),
        )


def key_max_age() -> dt.timedelta:
    return dt.timedelta(days=settings.KEY_MAX_AGE_DAYS)


def key_age_alerts_raise(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """One alert per key that passed the maximum age; a new key starts its own count."""
    now = now or timezone.now()
    connection_watches_ensure()
    old = (
        Connection.objects.filter(key_set_at__lte=now - key_max_age())
        .exclude(alert_watch__key_alerted_for=F("key_set_at"))
        .select_related("workspace")
        .order_by("key_set_at")[:limit]
    )
    raised = 0
    for connection in old:
        with transaction.atomic():
            claimed = (
                ConnectionWatch.objects.filter(pk=connection.pk)
                .filter(Q(key_alerted_for__isnull=True) | ~Q(key_alerted_for=connection.key_set_at))
                .update(key_alerted_for=connection.key_set_at)
            )
            if not claimed:
                continue
            age_days = (now - connection.key_set_at).days
            alert_raise(
                workspace=connection.workspace,
                kind=EventKind.KEY_OLD,
                payload=payloads.key_age_event(connection=connection, age_days=age_days),
            )
            raised += 1
    return raised
