"""Recurring schedules follow their workspace's clock: when its time zone changes, the next
run of every hourly, daily, weekly and cron import moves to the new zone's clock.

A one-time run keeps its moment (it was saved as an instant). Connected in apps.ready to
workspaces.signals.time_zone_changed, because workspaces may not import imports.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from imports import schedules
from imports.models import Import
from workspaces.models import Workspace

RECURRING = (
    Import.ScheduleKind.HOURLY,
    Import.ScheduleKind.DAILY,
    Import.ScheduleKind.WEEKLY,
    Import.ScheduleKind.CRON,
)


def imports_follow_time_zone(*, workspace: Workspace) -> int:
    """Recompute next_run_at of the workspace's scheduled recurring imports; returns how many
    moved. Call inside the transaction that changed the zone."""
    now = timezone.now()
    moved = 0
    # A running import has its next run planned already (the dispatcher set it when it
    # started this one): it moves too, and so does a paused one's, which its Stop
    # confirmation quotes (Resume plans it again from then).
    due = Import.objects.select_for_update().filter(
        workspace=workspace,
        status__in=(Import.Status.SCHEDULED, Import.Status.RUNNING, Import.Status.PAUSED),
        schedule_kind__in=RECURRING,
        next_run_at__isnull=False,
    )
    for import_obj in due:
        schedule = schedules.Schedule.from_import(import_obj, workspace.time_zone)
        try:
            following = schedules.next_run_after(schedule, now)
        except ValidationError:
            continue  # the dispatcher fails an invalid stored schedule at its next tick
        if following != import_obj.next_run_at:
            import_obj.next_run_at = following
            import_obj.save(update_fields=["next_run_at", "updated_at"])
            moved += 1
    return moved


def on_time_zone_changed(sender: Any, *, workspace: Workspace, **kwargs: Any) -> None:
    imports_follow_time_zone(workspace=workspace)
