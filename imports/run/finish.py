"""The end of a run: its status, the import's watermark and error, where the import goes
next (its schedule, or completed or failed), and the announcement once committed."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from connections import bigquery, crypto
from connections.google_errors import connection_explained
from connections.models import Connection
from imports import schedules
from imports.models import Import, ImportRun, RejectedRow
from imports.run import high_water
from imports.run.leases import LeaseLost, fenced
from imports.run.verdict import verdict
from imports.signals import announce_run_finished

logger = logging.getLogger(__name__)

# The statuses a run ends in.
ENDED = {*ImportRun.SUCCEEDED_STATUSES, ImportRun.Status.FAILED, ImportRun.Status.CANCELLED}


def lock_import(run: ImportRun) -> Import | None:
    """Lock the run's import before the run row, the order Stop and delete lock them in
    (import, then run): the opposite order deadlocks with them."""
    return (
        Import.objects.select_for_update(no_key=True, of=("self",))
        .select_related("workspace")
        .filter(pk=run.import_obj_id)
        .first()
    )


def _top_reason(run: ImportRun) -> str:
    """The reason most of the run's kept rejected rows share."""
    top = (
        RejectedRow.objects.filter(run=run)
        .values("reason")
        .annotate(rows=Count("pk"))
        .order_by("-rows", "reason")
        .first()
    )
    return top["reason"] if top else ""


@transaction.atomic
def succeed(run: ImportRun, owner: str) -> str:
    """End a run that read all its rows; returns its status. It succeeds (with rejections,
    if any) unless it rejected more than the import's threshold: then it fails and the
    watermark stays where it was."""
    import_obj = lock_import(run)
    if import_obj is None:
        raise LeaseLost
    read, rejected, watermark_to = ImportRun.objects.values_list(
        "rows_read", "rows_rejected", "watermark_to"
    ).get(pk=run.pk)
    incremental = import_obj.sync_mode == Import.SyncMode.INCREMENTAL
    end = verdict(
        read=read,
        rejected=rejected,
        threshold=import_obj.rejection_threshold,
        top_reason=_top_reason(run) if rejected else "",
        incremental=incremental,
    )
    if not fenced(run, owner).update(
        status=end.status, finished_at=timezone.now(), error_message=end.message
    ):
        raise LeaseLost
    failed = end.status == ImportRun.Status.FAILED
    if failed:
        import_obj.last_error = end.message
    else:
        if incremental and watermark_to:
            # The highest imported so far: with a lookback, a run whose latest rows are gone
            # from the source (deleted, or their cursor moved back) reads only earlier ones.
            import_obj.watermark = high_water.highest(
                [import_obj.watermark, watermark_to], import_obj.cursor_type
            )
        import_obj.last_error = ""
    _after_run(import_obj, failed=failed)
    import_obj.save()
    _announce(run, end.status)
    return end.status


@transaction.atomic
def finish(run: ImportRun, owner: str, status: str, message: str) -> None:
    """End the run as `status` (failed or cancelled) with `message`; nothing if the lease
    is no longer this worker's."""
    import_obj = lock_import(run)
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


def google_failure(run: ImportRun, error: bigquery.GoogleCallError, connection: Connection) -> str:
    """The user's message for a Google error (Google's own text goes to the log)."""
    said = connection_explained(error, f"run {run.pk}", connection, level=logging.WARNING)
    return f"{said.detail} {said.fix}"


def mapping_failure(error: Exception) -> str:
    """The user's message for a mapping the run's result table cannot satisfy."""
    return f"The import's mapping cannot work: {error}"


def key_failure(error: crypto.KeyDecryptionError) -> str:
    """The user's message for a stored key FERNET_KEYS cannot open, with what to do."""
    return f"{error} {crypto.KEY_DECRYPTION_FIX}"


def unexpected_failure(what: str) -> str:
    """Log the error being handled under a new reference, for the user's message naming it."""
    reference = uuid.uuid4().hex[:12]
    logger.exception("%s failed unexpectedly (reference %s)", what, reference)
    return f"The import failed unexpectedly. Reference: {reference} (in the server log)."
