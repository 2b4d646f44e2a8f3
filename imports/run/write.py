"""One page's transaction: the mapped rows, the rejected ones and the run's committed offset
and counters commit together, and only while this worker holds the run's lease."""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import BigIntegerField, F, Value
from django.db.models.functions import Greatest

from audience import writers
from imports.models import Import, ImportRun, RejectedRow, RunPart
from imports.prefetch import MappedPage
from imports.run.high_water import higher
from imports.run.leases import LeaseLost, fenced, fenced_part, renew, renew_part

REJECTED_KEPT = 1000

# SQLite's busy handler retries a waiting write at most every 100 ms.
SQLITE_WRITER_GAP_SECONDS = 0.12


def write_page(
    run: ImportRun,
    owner: str,
    import_obj: Import,
    page: MappedPage,
    *,
    direct: bool = False,
    part: RunPart | None = None,
) -> int:
    """Write the page; returns how many rows it wrote. `direct`: see writers.write_events
    and writers.write_profiles. A page of a `part` is fenced by the part's lease and moves
    the part's offset (and adds to the run's counters) instead of the run's."""
    rows, mapped, rejected = page.size, page.mapped, page.rejected
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        # Lock the run row first: a stale worker waits here and then finds the lease gone.
        # A lock and then one UPDATE, not two UPDATEs: PostgreSQL re-checks a row's foreign
        # keys when a transaction updates a row version it created itself, and that check's
        # KEY SHARE lock on the import deadlocks with a Stop or a connection delete.
        lease = fenced(run, owner) if part is None else fenced_part(part, owner)
        locked = list(lease.select_for_update(no_key=True).values_list("watermark_to"))
        if not locked:
            raise LeaseLost
        # Counts what changed: a replayed page or a duplicate event adds nothing.
        if import_obj.target == Import.Target.PROFILES:
            written = writers.write_profiles(
                workspace_id=import_obj.workspace_id,
                run_id=run.pk,
                rows=mapped,
                null_overwrites=import_obj.null_policy == Import.NullPolicy.OVERWRITE,
                direct=direct,
            )
        else:
            written = writers.write_events(
                workspace_id=import_obj.workspace_id,
                run_id=run.pk,
                rows=mapped,
                replace=bool(import_obj.event_id_column),
                direct=direct,
            )
        kept = RejectedRow.objects.filter(run=run).count() if rejected else 0
        if rejected and kept < REJECTED_KEPT:
            RejectedRow.objects.bulk_create(
                [
                    RejectedRow(run=run, row_number=r.row_number, reason=r.reason, data=r.data)
                    for r in rejected[: REJECTED_KEPT - kept]
                ],
                ignore_conflicts=True,
            )
        counters = {
            "committed_offset": F("committed_offset") + rows,
            "rows_read": F("rows_read") + rows,
            "rows_rejected": F("rows_rejected") + len(rejected),
            "rows_written": F("rows_written") + written,
            "rows_unchanged": _unchanged(rows, len(rejected), written),
        }
        # The highest cursor value read, with the rows it came from (see high_water).
        (watermark_to,) = locked[0]
        high = higher(watermark_to, page.high, import_obj.cursor_type)
        own = {**counters, "watermark_to": high} if high != watermark_to else counters
        if part is None:
            renew(run, owner, **own)
        else:
            renew_part(part, owner, run_fields=counters, **own)
    return written


def _unchanged(read: int, rejected: int, written: int) -> Greatest:
    """rows_unchanged after this page: every row read is rejected, written or unchanged
    (already stored as it is, or a duplicate of another row), so it is what the other two
    leave of the rows read.

    Derived rather than added up page by page: after a restart with REST paging
    (read_path.restart_with_rest) rows_read counts one pass again while rows_written keeps
    the first pass's writes, and the rows they were would otherwise count twice, as written
    and then as unchanged. In an UPDATE the columns on the right are the row's old values.
    """
    left = F("rows_read") + read - F("rows_rejected") - rejected - F("rows_written") - written
    return Greatest(Value(0), left, output_field=BigIntegerField())


def let_other_writers_in() -> None:
    """On SQLite, pause between pages (the next one is read meanwhile).

    SQLite has one write lock for the whole file, and a process waiting for it only retries
    every 100 ms or so: a worker committing page after page would keep a Stop, a delete or
    the heartbeat waiting until the run ends, and then fail them with "database is locked".
    """
    if transaction.get_connection().vendor == "sqlite":
        time.sleep(SQLITE_WRITER_GAP_SECONDS)


def _commit_without_waiting_for_disk() -> None:
    """Let this page's COMMIT return before its WAL reaches the disk.

    Safe here: the page and the run's committed offset are in the same transaction, so a
    database crash can only lose the last few pages together with their offsets, and the
    run then reads them again. The run's final commit waits as usual, and makes every
    earlier page durable with it. Saves a disk flush per page.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
