from celery import shared_task

from imports import services


@shared_task(name="imports.tasks.dispatch_due_imports")
def dispatch_due_imports() -> int:
    """Beat tick that starts due imports. No imports exist yet: nothing to claim."""
    return 0


@shared_task(name="imports.tasks.record_worker_heartbeat", bind=True)
def record_worker_heartbeat(self) -> str:
    return str(services.worker_heartbeat_record(hostname=self.request.hostname or "unknown"))
