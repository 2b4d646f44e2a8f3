"""Import lifecycle: create, edit, actions, and the claims that schedule runs.

State transitions are checked here (IllegalTransition carries a message for the
user). Scheduling is in the database: the dispatcher claims due imports with
SELECT ... FOR UPDATE SKIP LOCKED, so any number of beat processes is safe, and a
partial unique index allows one queued-or-running run per import.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from connections import services as connection_services
from connections.models import Connection
from imports import queue, schedules, selectors
from imports.models import Import, ImportRun, RunPart, WorkerHeartbeat
from imports.run.window import watermark_at_day
from workspaces.models import Workspace
from workspaces.services import audit_record

logger = logging.getLogger(__name__)

# The fields Schedule.from_import reads: a change to any of them plans the import again.
SCHEDULE_FIELDS = (
    "schedule_kind",
    "schedule_at",
    "schedule_time",
    "schedule_weekday",
    "schedule_cron",
)
DEFINITION_FIELDS = (
    "name",
    "source_kind",
    "source_table",
    "source_query",
    "source_schema",
    "target",
    "identity_column",
    "event_name_column",
    "event_name_fixed",
    "timestamp_column",
    "source_time_zone",
    "timestamp_unit",
    "column_mapping",
    "event_id_column",
    "null_policy",
    "identity_trim",
    "identity_lowercase",
    "sync_mode",
    "cursor_column",
    "cursor_type",
    "rejection_threshold",
    "lookback_seconds",
    *SCHEDULE_FIELDS,
    "maximum_bytes_billed",
)
# A change to any of these makes the old watermark meaningless; each with the reason the
# import's page gives (the first one changed is named).
WATERMARK_RESETS = {
    "source_kind": "the source changed",
    "source_table": "the source changed",
    "source_query": "the source changed",
    "cursor_column": "the cursor column changed",
    "cursor_type": "the cursor column changed",
    "sync_mode": "the sync mode changed",
    "source_time_zone": "the time settings changed",
    "timestamp_unit": "the time settings changed",
}


class IllegalTransition(Exception):
    """An action that the import's current state does not allow; the message is for the user."""


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return heartbeat


def _schedule_of(import_obj: Import) -> schedules.Schedule:
    return schedules.Schedule.from_import(import_obj, import_obj.workspace.time_zone)


def _plan(import_obj: Import, now: dt.datetime) -> None:
    """Set status and next_run_at from the schedule (for a new or edited import)."""
    first = schedules.first_run(_schedule_of(import_obj), now)
    import_obj.next_run_at = first
    import_obj.status = Import.Status.SCHEDULED if first else Import.Status.READY


def _start_if_due(import_obj: Import, now: dt.datetime) -> None:
    """Start a saved import's run at once when its schedule is due now ("Once, now"), as
    the dispatcher would on its next tick (up to DISPATCH_INTERVAL_SECONDS later): the admin
    who saves "Once, now" sees the run start. The caller holds the import (a new row, or
    locked), so the dispatcher cannot take the same run."""
    due = import_obj.next_run_at
    if import_obj.status != Import.Status.SCHEDULED or due is None or due > now:
        return
    run_create(import_obj=import_obj, scheduled_for=due, trigger=ImportRun.Trigger.SCHEDULE)
    import_obj.next_run_at = schedules.next_run_after(_schedule_of(import_obj), now)
    import_obj.save(update_fields=["status", "next_run_at", "updated_at"])


@transaction.atomic
def import_create(
    *, workspace: Workspace, connection: Connection, created_by: User, definition: dict[str, Any]
) -> Import:
    import_obj = Import(workspace=workspace, connection=connection, created_by=created_by)
    for name in DEFINITION_FIELDS:
        if name in definition:
            setattr(import_obj, name, definition[name])
    now = timezone.now()
    _plan(import_obj, now)
    import_obj.save()
    _start_if_due(import_obj, now)
    audit_record(
        workspace=workspace,
        actor=created_by,
        action="import.created",
        target=import_obj,
        details={"connection": connection.name, "target": import_obj.target},
    )
    return import_obj


@transaction.atomic
def import_update(*, import_obj: Import, actor: User, definition: dict[str, Any]) -> Import:
    import_obj = _locked(import_obj)
    if import_obj.status == Import.Status.RUNNING or _active_run(import_obj):
        raise IllegalTransition("The import is running. Stop it or wait for the run to finish.")
    changed = [
        n for n in DEFINITION_FIELDS if n in definition and getattr(import_obj, n) != definition[n]
    ]
    for name in changed:
        setattr(import_obj, name, definition[name])
    resets = [WATERMARK_RESETS[name] for name in changed if name in WATERMARK_RESETS]
    if resets and import_obj.watermark:
        _reset_watermark(import_obj, "", resets[0])
    # Only a new schedule is planned: a rename must not run a "Once, now" import again, nor
    # start a stopped or finished one.
    rescheduled = any(name in SCHEDULE_FIELDS for name in changed)
    now = timezone.now()
    if rescheduled and import_obj.status != Import.Status.PAUSED:
        _plan(import_obj, now)
    import_obj.save()
    if rescheduled:
        _start_if_due(import_obj, now)
    if changed:
        audit_record(
            workspace=import_obj.workspace,
            actor=actor,
            action="import.updated",
            target=import_obj,
            details={"fields": changed},
        )
    return import_obj


def _reset_watermark(import_obj: Import, watermark: str, reason: str) -> None:
    import_obj.watermark = watermark
    import_obj.watermark_reset_at = timezone.now()
    import_obj.watermark_reset_reason = reason


@transaction.atomic
def import_reimport(*, import_obj: Import, actor: Any, from_day: dt.date | None) -> Import:
    """Re-import everything (from_day None) or from the start of `from_day` (in the
    workspace's zone): the next run reads from there. Rows read again are deduplicated
    by the destination's keys."""
    import_obj = _locked(import_obj)
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        raise IllegalTransition("Only an incremental import has a watermark to move back.")
    if import_obj.status == Import.Status.RUNNING or _active_run(import_obj):
        raise IllegalTransition(
            "The import is running. Stop it or wait for the run to finish, then re-import."
        )
    previous = import_obj.watermark
    if from_day is None:
        watermark, reason = "", f"{actor.get_username()} chose Re-import everything"
    else:
        try:
            watermark = watermark_at_day(import_obj, from_day, import_obj.workspace.time_zone)
        except ValueError as exc:
            raise IllegalTransition(
                f"The cursor column {import_obj.cursor_column} is an integer, not a date: "
                "use Re-import everything."
            ) from exc
        reason = f"{actor.get_username()} chose Re-import from {from_day:%b %-d, %Y}"
    _reset_watermark(import_obj, watermark, reason)
    import_obj.save(
        update_fields=["watermark", "watermark_reset_at", "watermark_reset_reason", "updated_at"]
    )
    audit_record(
        workspace=import_obj.workspace,
        actor=actor,
        action="import.reimport",
        target=import_obj,
        details={"from": watermark or None, "previous_watermark": previous or None},
    )
    return import_obj


def _is(import_obj: Import) -> str:
    return f"this one is {import_obj.get_status_display().lower()}"


def _lock_for_change(queryset):
    """Lock import rows for a change of their state.

    FOR NO KEY UPDATE, not FOR UPDATE: a worker writing a page holds its run's row and may
    need a KEY SHARE lock on the import (the run's foreign key); FOR UPDATE would block it
    while we wait for that run row: a deadlock. Only the import row is locked.
    """
    return queryset.select_for_update(no_key=True, of=("self",))


def _locked(import_obj: Import) -> Import:
    """The import's row, locked; Http404 when another admin (or its connection's Delete)
    deleted it after the page fetched it."""
    locked = _lock_for_change(Import.objects.select_related("workspace")).filter(pk=import_obj.pk)
    return get_object_or_404(locked)


def _active_run(import_obj: Import) -> ImportRun | None:
    return import_obj.runs.filter(status__in=ImportRun.ACTIVE_STATUSES).first()


def _enqueue_on_commit(*runs: ImportRun) -> None:
    """Send the runs once the transaction commits."""
    run_ids = [str(run.pk) for run in runs]
    transaction.on_commit(lambda: queue.enqueue_runs(run_ids))


def run_create(
    *, import_obj: Import, scheduled_for: dt.datetime, trigger: str, enqueue: bool = True
) -> ImportRun:
    """Insert the queued run and (unless the caller sends it) enqueue it once the transaction
    commits. If the broker is down the run stays queued and the reaper sends it later.

    The import becomes running, except a paused one: it stays paused (its schedule does
    not fire) and the run ends leaving it so."""
    run = ImportRun.objects.create(
        import_obj=import_obj,
        workspace_id=import_obj.workspace_id,
        scheduled_for=scheduled_for,
        trigger=trigger,
        watermark_from=import_obj.watermark,
        enqueued_at=timezone.now(),
    )
    if import_obj.status != Import.Status.PAUSED:
        import_obj.status = Import.Status.RUNNING
    if enqueue:
        _enqueue_on_commit(run)
    return run


@transaction.atomic
def import_run_now(*, import_obj: Import, actor: User) -> ImportRun:
    import_obj = _locked(import_obj)
    if import_obj.status == Import.Status.RUNNING or _active_run(import_obj):
        raise IllegalTransition("The import is already running.")
    try:
        with transaction.atomic():
            run = run_create(
                import_obj=import_obj,
                scheduled_for=timezone.now(),
                trigger=ImportRun.Trigger.MANUAL,
            )
    except IntegrityError as exc:
        raise IllegalTransition("The import is already running.") from exc
    import_obj.save(update_fields=["status", "updated_at"])
    audit_record(
        workspace=import_obj.workspace, actor=actor, action="import.run_now", target=import_obj
    )
    return run


def _can_pause(import_obj: Import) -> bool:
    """Scheduled, or running with a schedule to keep (the run goes on; the schedule waits)."""
    if import_obj.status == Import.Status.SCHEDULED:
        return True
    return import_obj.status == Import.Status.RUNNING and import_obj.next_run_at is not None


@transaction.atomic
def import_pause(*, import_obj: Import, actor: User) -> Import:
    import_obj = _locked(import_obj)
    if not _can_pause(import_obj):
        raise IllegalTransition(f"Only a scheduled import can be paused; {_is(import_obj)}.")
    import_obj.status = Import.Status.PAUSED
    import_obj.save(update_fields=["status", "updated_at"])
    audit_record(
        workspace=import_obj.workspace, actor=actor, action="import.paused", target=import_obj
    )
    return import_obj


@transaction.atomic
def import_resume(*, import_obj: Import, actor: User) -> Import:
    """Resume a paused import, or the schedule of a stopped one, re-planned from now."""
    import_obj = _locked(import_obj)
    previous = import_obj.status
    if previous == Import.Status.STOPPED:
        if not selectors.import_has_schedule_to_resume(import_obj=import_obj):
            raise IllegalTransition(
                "The import was stopped and its schedule has no run to come; "
                "use Run now, or Edit to give it a new schedule."
            )
    elif previous != Import.Status.PAUSED:
        raise IllegalTransition(
            f"Only a paused or stopped import can be resumed; {_is(import_obj)}."
        )
    now = timezone.now()
    _plan(import_obj, now)
    if _active_run(import_obj):
        import_obj.status = Import.Status.RUNNING  # the run's end puts it back on schedule
    import_obj.save(update_fields=["status", "next_run_at", "updated_at"])
    _start_if_due(import_obj, now)
    audit_record(
        workspace=import_obj.workspace,
        actor=actor,
        action="import.resumed",
        target=import_obj,
        details={"from": previous, "next_run_at": _iso(import_obj.next_run_at)},
    )
    return import_obj


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _request_cancel(import_obj: Import) -> int:
    """Ask the active run to stop; the runner notices between pages and ends as cancelled."""
    queued = ImportRun.objects.filter(import_obj=import_obj, status=ImportRun.Status.QUEUED).update(
        status=ImportRun.Status.CANCELLED,
        finished_at=timezone.now(),
        error_message="Stopped before it started.",
    )
    running = ImportRun.objects.filter(
        import_obj=import_obj, status=ImportRun.Status.RUNNING
    ).update(cancel_requested=True)
    return queued + running


def _stop(import_obj: Import) -> None:
    _request_cancel(import_obj)
    import_obj.status = Import.Status.STOPPED
    import_obj.next_run_at = None
    import_obj.save(update_fields=["status", "next_run_at", "updated_at"])


@transaction.atomic
def import_stop(*, import_obj: Import, actor: User) -> Import:
    import_obj = _locked(import_obj)
    if import_obj.status not in Import.ACTIVE_STATUSES:
        raise IllegalTransition(
            f"The import is already {import_obj.get_status_display().lower()}; nothing to stop."
        )
    _stop(import_obj)
    audit_record(
        workspace=import_obj.workspace, actor=actor, action="import.stopped", target=import_obj
    )
    return import_obj


@transaction.atomic
def import_delete(*, import_obj: Import, actor: User) -> None:
    """Delete an import and its history. A running run is fenced out: its lease row is gone."""
    import_obj = _locked(import_obj)
    audit_record(
        workspace=import_obj.workspace,
        actor=actor,
        action="import.deleted",
        target=import_obj,
        details={"connection": import_obj.connection.name},
    )
    import_obj.delete()


def imports_stop_for_connection(*, connection: Connection, actor: User) -> list[str]:
    """Stop every active import of a connection (inside the caller's transaction)."""
    stopped = []
    for import_obj in _lock_for_change(
        Import.objects.filter(connection=connection, status__in=Import.ACTIVE_STATUSES)
    ).order_by("pk"):
        _stop(import_obj)
        stopped.append(import_obj.name)
    return stopped


@transaction.atomic
def connection_delete_with_imports(*, connection: Connection, actor: User) -> list[str]:
    """Stop the connection's active imports, then delete it with its imports and their runs;
    returns the names of the imports stopped.

    One transaction: a crash leaves either everything or nothing. A running run is
    cancelled cooperatively: a worker writing a page holds its run's row, so the delete
    waits for that one page to commit (its rows stay, counted in the run that is deleted
    with them); the worker's next page waits for the delete and then finds its run gone,
    writes nothing and stops. The imports are locked so that the page in flight can still
    commit (see _lock_for_change).
    """
    # Http404 when another admin deleted it after the page fetched it.
    connection = get_object_or_404(Connection.objects.select_for_update(), pk=connection.pk)
    stopped = imports_stop_for_connection(connection=connection, actor=actor)
    connection_services.connection_delete(
        connection=connection, actor=actor, stopped_imports=stopped
    )
    return stopped


# -- scheduling ---------------------------------------------------------------------------------

DISPATCH_BATCH = 100


def imports_dispatch_due(*, now: dt.datetime | None = None) -> int:
    """Claim due imports, create their runs and advance next_run_at; returns runs created.

    Each batch is one transaction holding row locks taken with SKIP LOCKED, so two
    dispatchers at once split the work instead of doubling it, and the unique
    (import, scheduled_for) constraint backs that up. The locks are FOR NO KEY UPDATE (the
    key is never changed here): FOR UPDATE would also pass over an import that another
    transaction only refers to, such as a worker recording an alert for its last run.
    """
    now = now or timezone.now()
    created = 0
    while True:
        with transaction.atomic():
            due = list(
                Import.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
                .select_related("workspace")
                .filter(status=Import.Status.SCHEDULED, next_run_at__lte=now)
                .order_by("next_run_at")[:DISPATCH_BATCH]
            )
            if not due:
                return created
            runs = []
            for import_obj in due:
                scheduled_for = import_obj.next_run_at
                if scheduled_for is None:  # never: the query picks a set next_run_at
                    continue
                try:
                    # Missed ticks collapse into one run: catching up means running once now.
                    following = schedules.next_run_after(_schedule_of(import_obj), now)
                except ValidationError as exc:
                    # One bad stored schedule must not stall everyone else's dispatch.
                    import_obj.status = Import.Status.FAILED
                    import_obj.next_run_at = None
                    import_obj.last_error = "The schedule is not valid: " + " ".join(exc.messages)
                    import_obj.save(update_fields=["status", "next_run_at", "last_error"])
                    continue
                if _active_run(import_obj):
                    import_obj.next_run_at = following
                    import_obj.save(update_fields=["next_run_at", "updated_at"])
                    continue
                try:
                    with transaction.atomic():
                        run = run_create(
                            import_obj=import_obj,
                            scheduled_for=scheduled_for,
                            trigger=ImportRun.Trigger.SCHEDULE,
                            enqueue=False,
                        )
                    runs.append(run)
                    created += 1
                except IntegrityError:
                    logger.info("run for %s at %s exists already", import_obj.pk, scheduled_for)
                import_obj.next_run_at = following
                import_obj.save(update_fields=["status", "next_run_at", "updated_at"])
            _enqueue_on_commit(*runs)
            if len(due) < DISPATCH_BATCH:
                return created


def runs_resend_lost(*, now: dt.datetime | None = None) -> int:
    """Re-send runs whose message was lost (queued too long) or whose worker died (its lease
    ran out); returns how many were sent."""
    now = now or timezone.now()
    stale_queue = now - dt.timedelta(seconds=settings.IMPORT_REQUEUE_AFTER_SECONDS)
    run_ids = list(
        ImportRun.objects.filter(
            Q(status=ImportRun.Status.QUEUED, enqueued_at__lt=stale_queue)
            | Q(status=ImportRun.Status.RUNNING, lease_until__lt=now)
        ).values_list("pk", flat=True)[:500]
    )
    sent = queue.enqueue_runs([str(run_id) for run_id in run_ids])
    if sent:
        ImportRun.objects.filter(pk__in=sent).update(enqueued_at=now)
        logger.info("reaper re-sent %d runs", len(sent))
    return len(sent) + _parts_resend_lost(now)


def _parts_resend_lost(now: dt.datetime) -> int:
    """Re-send the parts of running split runs whose worker died (their lease ran out)."""
    part_ids = RunPart.objects.filter(
        run__status=ImportRun.Status.RUNNING,
        status=RunPart.Status.RUNNING,
        lease_until__lt=now,
    ).values_list("pk", flat=True)[:500]
    sent = [part_id for part_id in part_ids if queue.enqueue_part(part_id)]
    if sent:
        logger.info("reaper re-sent %d run parts", len(sent))
    return len(sent)
