"""Reads for the import pages: lists, history, progress of a running run, rejected rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from connections.models import Connection
from imports import schedules
from imports.filters import ImportFilter
from imports.models import Import, ImportRun, RejectedRow, RunPart
from imports.run.window import read_from
from workspaces.models import Workspace

READ_PATHS = {
    "storage": "BigQuery Storage Read API",
    "rest": "REST paging (tabledata.list)",
    "parts": "BigQuery Storage Read API, in parts (one stream each)",
}


def imports_for_workspace(*, workspace: Workspace) -> QuerySet[Import]:
    """The workspace's imports, newest first, each with the id of its latest run."""
    latest_run = (
        ImportRun.objects.filter(import_obj=OuterRef("pk")).order_by("-created_at", "-pk")
    ).values("pk")[:1]
    # Import declares `latest_run_id` for the code that gets plain Import lists;
    # django-stubs' plugin takes that for a clash with the annotation.
    return (
        Import.objects.filter(workspace=workspace)  # type: ignore[no-redef]
        .select_related("connection")
        .annotate(latest_run_id=Subquery(latest_run))
        .order_by("-created_at", "pk")
    )


def imports_for_list(*, workspace: Workspace, params: Any) -> ImportFilter:
    """A bound filter set over the workspace's imports (`.qs` is the filtered list)."""
    return ImportFilter(
        params, queryset=imports_for_workspace(workspace=workspace), workspace=workspace
    )


def imports_for_connection(*, connection: Connection) -> list[Import]:
    """The connection's imports, for its detail page (a connection has a handful)."""
    return list(Import.objects.filter(connection=connection).order_by("name", "pk"))


def with_import_counts(connections: list[Connection]) -> list[Connection]:
    """Set `import_count` on each connection of a page, with one grouped query.

    Counting per page rather than in the list's query: a correlated count there runs for
    every row a deep page skips, not only for the rows it shows.
    """
    counts = dict(
        Import.objects.filter(connection__in=connections)
        .order_by()
        .values("connection")
        .annotate(count=Count("pk"))
        .values_list("connection", "count")
    )
    for connection in connections:
        connection.import_count = counts.get(connection.pk, 0)
    return connections


def import_schedule_text(*, import_obj: Import, time_zone: str) -> str:
    return schedules.describe(schedules.Schedule.from_import(import_obj, time_zone))


def import_mapping_rows(*, import_obj: Import) -> list[dict[str, Any]]:
    """The column mapping as (column, property, included) rows for display."""
    rows = []
    for entry in import_obj.column_mapping or ():
        if not isinstance(entry, dict) or not entry.get("column"):
            continue
        rows.append(
            {
                "column": entry["column"],
                "property": entry.get("property") or entry["column"],
                "include": bool(entry.get("include", True)),
            }
        )
    return rows


def attach_latest_runs(imports: list[Import]) -> None:
    """Set `latest_run` on imports from `imports_for_workspace`, in one query for them all.

    One index lookup per import finds its latest run's id; a window function over every
    run of the page's imports, as a sliced prefetch does, was the list's slowest query.
    """
    runs = ImportRun.objects.in_bulk([i.latest_run_id for i in imports if i.latest_run_id])
    for import_obj in imports:
        import_obj.latest_run = runs.get(import_obj.latest_run_id)


def import_active_run(*, import_obj: Import) -> ImportRun | None:
    return (
        import_obj.runs.filter(status__in=ImportRun.ACTIVE_STATUSES)
        .order_by("-created_at", "-pk")
        .first()
    )


def import_runs(*, import_obj: Import) -> QuerySet[ImportRun]:
    return ImportRun.objects.filter(import_obj=import_obj).order_by("-created_at", "-pk")


def import_has_schedule_to_resume(*, import_obj: Import, now: dt.datetime | None = None) -> bool:
    """Whether a stopped import's schedule still has a run to come (Resume schedule)."""
    if import_obj.schedule_kind in ("none", "now"):
        return False
    schedule = schedules.Schedule.from_import(import_obj, import_obj.workspace.time_zone)
    try:
        return schedules.first_run(schedule, now or timezone.now()) is not None
    except ValidationError:
        return False


def import_allowed_actions(*, import_obj: Import, active_run: ImportRun | None) -> set[str]:
    """The buttons to offer; the services have the final word on every transition."""
    status = import_obj.status
    running = status == Import.Status.RUNNING or active_run is not None
    allowed = {"delete"}
    if not running:
        allowed |= {"run-now", "edit"}
        if import_obj.sync_mode == Import.SyncMode.INCREMENTAL:
            allowed.add("reimport")
    if status == Import.Status.SCHEDULED or (
        status == Import.Status.RUNNING and import_obj.next_run_at is not None
    ):
        allowed.add("pause")
    if status == Import.Status.PAUSED:
        allowed.add("resume")
    if status == Import.Status.STOPPED and import_has_schedule_to_resume(import_obj=import_obj):
        allowed.add("resume-schedule")
    # A Ready import with no run and nothing scheduled has nothing to stop.
    stoppable = (Import.Status.SCHEDULED, Import.Status.PAUSED, Import.Status.RUNNING)
    if running or import_obj.next_run_at is not None or status in stoppable:
        allowed.add("stop")
    return allowed


@dataclass
class WatermarkNote:
    at: dt.datetime
    reason: str
    reads_from: str  # the next run's lower bound; "" when it reads every row


def import_watermark_note(*, import_obj: Import) -> WatermarkNote | None:
    """Why the watermark was last reset, until a run has succeeded since."""
    at = import_obj.watermark_reset_at
    if at is None or import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        return None
    if import_obj.runs.filter(status__in=ImportRun.SUCCEEDED_STATUSES, finished_at__gt=at).exists():
        return None
    return WatermarkNote(
        at=at, reason=import_obj.watermark_reset_reason, reads_from=read_from(import_obj)
    )


# An import due this soon (or due this recently, waiting for the dispatcher's next tick) has
# its page follow it live: after saving a "Once, now" import its run shows up by itself.
LIVE_BEFORE_DUE = dt.timedelta(minutes=2)
LIVE_AFTER_DUE = dt.timedelta(minutes=5)


def import_is_live(
    *, import_obj: Import, active_run: ImportRun | None, now: dt.datetime | None = None
) -> bool:
    """Whether the import's page should poll: a run is queued or running, or one is due."""
    if active_run is not None:
        return True
    if import_obj.status != Import.Status.SCHEDULED or import_obj.next_run_at is None:
        return False
    now = now or timezone.now()
    return now - LIVE_AFTER_DUE <= import_obj.next_run_at <= now + LIVE_BEFORE_DUE


def _rejected(run: ImportRun, reason: str | None) -> QuerySet[RejectedRow]:
    rows = RejectedRow.objects.filter(run=run)
    return rows.filter(reason=reason) if reason else rows


def run_rejected_rows(*, run: ImportRun, reason: str | None = None) -> QuerySet[RejectedRow]:
    """The run's kept rejected rows (with `reason` only), in row order."""
    return _rejected(run, reason).order_by("row_number", "pk")


REASONS_SHOWN = 100


def run_parts(*, run: ImportRun) -> list[RunPart]:
    """The parts of a run split into parts (see imports.run.parts), in order; [] otherwise."""
    return list(RunPart.objects.filter(run=run).order_by("number"))


def run_rejected_reasons(*, run: ImportRun) -> list[tuple[str, int]]:
    """The reasons of the run's kept rejected rows with how many rows each, most first
    (the first REASONS_SHOWN: a reason that quotes its value can be one per row)."""
    return list(
        RejectedRow.objects.filter(run=run)
        .values("reason")
        .annotate(rows=Count("pk"))
        .order_by("-rows", "reason")
        .values_list("reason", "rows")[:REASONS_SHOWN]
    )


def run_rejected_rows_iter(*, run: ImportRun, reason: str | None = None) -> Iterator[RejectedRow]:
    return _rejected(run, reason).order_by("row_number").iterator(chunk_size=500)


def run_rejected_columns(*, run: ImportRun) -> list[str]:
    """Every source column seen in the kept rows, in the source's order.

    jsonb does not keep key order, so the import's source schema gives it; columns
    the schema does not know follow in the order they were first seen.
    """
    seen: dict[str, None] = {}
    for data in (
        RejectedRow.objects.filter(run=run)
        .order_by("row_number")
        .values_list("data", flat=True)
        .iterator(chunk_size=500)
    ):
        seen.update(dict.fromkeys(data if isinstance(data, dict) else ["data"]))
    schema = source_columns(run.import_obj)
    return [c for c in schema if c in seen] + [c for c in seen if c not in schema]


def source_columns(import_obj: Import) -> list[str]:
    names = []
    for field in import_obj.source_schema or ():
        name = field.get("name") if isinstance(field, dict) else None
        if isinstance(name, str):
            names.append(name)
    return names


@dataclass(frozen=True)
class RunProgress:
    """What the live progress bar shows for one run."""

    run: ImportRun
    done: int
    expected: int | None
    percent: int | None
    rows_per_second: float | None
    seconds_left: float | None
    elapsed: dt.timedelta | None

    @property
    def active(self) -> bool:
        return self.run.status in ImportRun.ACTIVE_STATUSES


def run_progress(*, run: ImportRun, now: dt.datetime | None = None) -> RunProgress:
    """Rows done of rows expected, rows processed per second since the start, and time
    left at that pace.

    The rate counts every row read (written, unchanged or rejected): a re-run that finds
    everything already stored works as hard as the first run, and must not read 0 rows/s.
    """
    now = now or timezone.now()
    done = run.committed_offset
    expected = run.rows_expected
    percent = None
    if run.status in ImportRun.SUCCEEDED_STATUSES:
        percent = 100
    elif expected:
        percent = min(100, int(done * 100 / expected))
    elapsed = None
    rate = None
    seconds_left = None
    if run.started_at:
        elapsed = (run.finished_at or now) - run.started_at
        seconds = elapsed.total_seconds()
        if seconds >= 1:
            rate = run.rows_read / seconds
            pace = done / seconds
            if expected is not None and pace > 0 and run.status == ImportRun.Status.RUNNING:
                seconds_left = max(0, expected - done) / pace
    return RunProgress(
        run=run,
        done=done,
        expected=expected,
        percent=percent,
        rows_per_second=rate,
        seconds_left=seconds_left,
        elapsed=elapsed,
    )
