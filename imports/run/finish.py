"""The end of a run: its status, the import's watermark and error, where the import goes
next (its schedule, or completed or failed), and the announcement once committed."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from imports import schedules
from imports.models import Import, ImportRun
from imports.run.leases import LeaseLost, fenced
from imports.signals import announce_run_finished


def _lock_import(run: ImportRun) -> Import | None:
    """Lock the run's import before the run row, the order Stop and delete lock them in
    (import, then run): the opposite order deadlocks with them."""
    return (
        Import.objects.select_for_update(no_key=True, of=("self",))
        .select_related("workspace")
        .filter(pk=run.import_obj_id)
        .first()
    )


@transaction.atomic
def succeed(run: ImportRun, owner: str) -> None:
    import_obj = _lock_import(run)
    if import_obj is None or not fenced(run, owner).update(
        status=ImportRun.Status.SUCCEEDED, finished_at=timezone.now()
    ):
        raise LeaseLost
    if import_obj.sync_mode == Import.SyncMode.INCREMENTAL and run.watermark_to:
        import_obj.watermark = run.watermark_to
    import_obj.last_error = ""
    _after_run(import_obj, failed=False)
    import_obj.save()
    _announce(run, ImportRun.Status.SUCCEEDED)


@transaction.atomic
def finish(run: ImportRun, owner: str, status: str, message: str) -> None:
    """End the run as `status` (failed or cancelled) with `message`; nothing if the lease
    is no longer this worker's."""
    import_obj = _lock_import(run)
    if import_obj is None or not fenced(run, owner).update(
        status=status, finished_at=timezone.now(), error_message=message
    ):
        return
    if status == ImportRun.Status.FAILED:
        import_obj.last_error = message
    _after_run(import_obj, failed=status == ImportRun.Status.FAILED)
    import_obj.save()
    _announce(run, status)


def _announce(run: ImportRun, status: str) -> None:
    """Tell listeners (alerts) once the run's end is committed: see imports/signals.py."""
    announce_run_finished(
        run_id=str(run.pk),
        import_id=str(run.import_obj_id),
        workspace_id=str(run.workspace_id),
        status=status,
    )


def _after_run(import_obj: Import, *, failed: bool) -> None:
    """Where the import goes after a run: back on its schedule while it has one (a recurring
    one even after a failure), else completed or failed. A Pause or Stop an admin chose
    meanwhile (or before a Run now of a paused import) is kept."""
    if import_obj.status != Import.Status.RUNNING:
        return
    now = timezone.now()
    if import_obj.schedule_kind in schedules.RECURRING_KINDS:
        if import_obj.next_run_at is None:
            schedule = schedules.Schedule.from_import(import_obj, import_obj.workspace.time_zone)
            import_obj.next_run_at = schedules.next_run_after(schedule, now)
    elif import_obj.next_run_at is not None and import_obj.next_run_at <= now:
        import_obj.next_run_at = None  # a one-time run that is due: this run was it
    if import_obj.next_run_at is not None:
        # Recurring, or a one-time run still to come after a Run now before it.
        import_obj.status = Import.Status.SCHEDULED
    elif failed:
        import_obj.status = Import.Status.FAILED
    else:
        import_obj.status = Import.Status.COMPLETED
