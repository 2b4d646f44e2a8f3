"""Celery entry points: a few lines each around a service. The broker only wakes
workers; every decision is made on the database rows."""

from celery import shared_task

from imports import queue, services
from imports.run.execute import execute_run
from imports.run.parts import execute_part


@shared_task(name=queue.RUN_IMPORT, acks_late=True, reject_on_worker_lost=True)
def run_import(run_id: str) -> str:
    return execute_run(run_id)


@shared_task(name=queue.RUN_PART, acks_late=True, reject_on_worker_lost=True)
def run_part(part_id: int) -> str:
    return execute_part(part_id)


@shared_task(name="imports.tasks.dispatch_due_imports")
def dispatch_due_imports() -> int:
    return services.imports_dispatch_due()


@shared_task(name="imports.tasks.reap_runs")
def reap_runs() -> int:
    return services.runs_resend_lost()


@shared_task(name="imports.tasks.record_worker_heartbeat", bind=True)
def record_worker_heartbeat(self) -> str:
    return str(services.worker_heartbeat_record(hostname=self.request.hostname or "unknown"))
