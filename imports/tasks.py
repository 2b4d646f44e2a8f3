"""Celery entry points: a few lines each around a service. The broker only wakes
workers; every decision is made on the database rows."""

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from imports import services
from imports.models import ImportRun
from imports.run.execute import execute_run

logger = logging.getLogger(__name__)


def enqueue_run(run_id: str) -> bool:
    """Send the run to a worker. False when the broker is unreachable: the run stays queued
    in the database and the reaper sends it again later, so callers never fail on it."""
    try:
        run_import.delay(run_id)
    except Exception:
        logger.warning("could not enqueue run %s; the reaper will retry", run_id, exc_info=True)
        return False
    return True


def enqueue_runs(run_ids: list[str]) -> list[str]:
    """Send the runs in order, stopping at the first the broker refuses (each refusal costs
    a connection attempt; the reaper sends the rest once it is back). Returns those sent."""
    sent = []
    for run_id in run_ids:
        if not enqueue_run(run_id):
            break
        sent.append(run_id)
    return sent


@shared_task(name="imports.tasks.run_import", acks_late=True, reject_on_worker_lost=True)
def run_import(run_id: str) -> str:
    return execute_run(run_id)


@shared_task(name="imports.tasks.dispatch_due_imports")
def dispatch_due_imports() -> int:
    return services.imports_dispatch_due()


@shared_task(name="imports.tasks.reap_runs")
def reap_runs() -> int:
    """Re-send runs whose message was lost (queued too long) or whose worker died."""
    now = timezone.now()
    stale_queue = now - dt.timedelta(seconds=settings.IMPORT_REQUEUE_AFTER_SECONDS)
    run_ids = list(
        ImportRun.objects.filter(
            Q(status=ImportRun.Status.QUEUED, enqueued_at__lt=stale_queue)
            | Q(status=ImportRun.Status.RUNNING, lease_until__lt=now)
        ).values_list("pk", flat=True)[:500]
    )
    sent = enqueue_runs([str(run_id) for run_id in run_ids])
    if sent:
        ImportRun.objects.filter(pk__in=sent).update(enqueued_at=now)
        logger.info("reaper re-sent %d runs", len(sent))
    return len(sent)


@shared_task(name="imports.tasks.record_worker_heartbeat", bind=True)
def record_worker_heartbeat(self) -> str:
    return str(services.worker_heartbeat_record(hostname=self.request.hostname or "unknown"))
