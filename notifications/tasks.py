"""Celery entry points for alerts: a few lines each around a service, ids only (a
connection's key is decrypted inside the worker, never sent through the broker).

Redis only wakes workers: a delivery or a judging whose message is lost is found again
by `sweep`, which reads the database every NOTIFICATIONS_SWEEP_INTERVAL_SECONDS.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import alerts, delivery, queue, watch
from notifications.models import Alert, Delivery

# Retries wait in the broker only when short: a longer ETA can outlive Redis's visibility
# timeout and be delivered again and again; the sweep sends those when they are due.
LONGEST_COUNTDOWN_SECONDS = 300


@shared_task(name=queue.EVALUATE_IMPORT, acks_late=True)
def evaluate_import(import_id: str) -> str | None:
    alert = alerts.import_alert_evaluate(import_id=import_id)
    return str(alert.pk) if alert else None


@shared_task(name=queue.DELIVER, acks_late=True, soft_time_limit=90, time_limit=120)
def deliver(delivery_id: str) -> str:
    outcome = delivery.delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and outcome.retry_in <= LONGEST_COUNTDOWN_SECONDS:
        queue.send_task_or_log(queue.DELIVER, delivery_id, countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="notifications.tasks.sweep")
def sweep() -> dict[str, int]:
    """Catch up what a lost message left behind, and forget old deliveries."""
    now = timezone.now()
    judged = alerts.imports_alert_catch_up(now=now)
    # Due for a while (a short retry's own message would have come by now), or sending
    # with an expired lease (its worker died).
    late = now - dt.timedelta(seconds=30)
    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=late
        ).values_list("pk", flat=True)[:500]
    ) + list(
        Delivery.objects.filter(status=Delivery.Status.SENDING, lease_until__lt=now).values_list(
            "pk", flat=True
        )[:500]
    )
    queue.enqueue_deliveries([str(pk) for pk in due])
    old = now - dt.timedelta(days=settings.NOTIFICATIONS_KEEP_DAYS)
    old_ids = list(Alert.objects.filter(created_at__lt=old).values_list("pk", flat=True)[:1000])
    Alert.objects.filter(pk__in=old_ids).delete()
    return {"judged": judged, "resent": len(due), "forgotten": len(old_ids)}


@shared_task(name="notifications.tasks.check_connections")
def check_connections() -> int:
    """Claim this tick's share of the daily checks and spread them over the tick."""
    per_tick = settings.CONNECTION_CHECKS_PER_TICK
    if per_tick <= 0:
        return 0
    connection_ids = watch.connection_checks_claim(limit=per_tick)
    spacing = settings.CONNECTION_CHECK_INTERVAL_SECONDS / per_tick
    for index, connection_id in enumerate(connection_ids):
        queue.send_task_or_log(
            queue.CHECK_CONNECTION, connection_id, countdown=index * spacing or None
        )
    return len(connection_ids)


@shared_task(name=queue.CHECK_CONNECTION, acks_late=True, soft_time_limit=90, time_limit=120)
def check_connection(connection_id: str) -> str | None:
    alert = watch.connection_check_run(connection_id=connection_id)
    return str(alert.pk) if alert else None


@shared_task(name="notifications.tasks.check_key_ages")
def check_key_ages() -> int:
    return watch.key_age_alerts_raise()
