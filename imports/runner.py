"""Executes one ImportRun: source query → result table → pages → map → write.

Every page is written in one transaction together with the run's committed
offset and counters, and only while this worker holds the run's lease
(`... WHERE lease_owner = me`), so a stale duplicate delivery writes nothing.
Stop is cooperative: the run's row is re-read between pages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from audience import services as audience_services
from audience import writers
from connections import bigquery
from connections import services as connection_services
from connections.google_errors import GoogleErrorKind, explained
from connections.identifiers import quote_identifier
from imports import mapping as mapping_module
from imports import schedules
from imports.models import Import, ImportRun, RejectedRow
from imports.prefetch import MappedPage, PagePrefetcher
from imports.signals import announce_run_finished
from imports.type_contract import Wire, schema_fields

logger = logging.getLogger(__name__)

REJECTED_KEPT = 1000
TRANSIENT_RETRIES = 5


def lease_seconds() -> int:
    return int(getattr(settings, "IMPORT_LEASE_SECONDS", 300))


def page_size() -> int:
    return int(getattr(settings, "IMPORT_PAGE_SIZE", 10_000))


class LeaseLost(Exception):
    """Another worker owns this run now (or it was deleted): stop without writing."""


class RunCancelled(Exception):
    pass


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_claim(*, run_id: str, owner: str) -> ImportRun | None:
    """Take the run if it is queued, or running with an expired lease; None otherwise."""
    now = timezone.now()
    claimed = (
        ImportRun.objects.filter(pk=run_id)
        .filter(
            Q(status=ImportRun.Status.QUEUED)
            | Q(status=ImportRun.Status.RUNNING, lease_until__lt=now)
        )
        .update(
            status=ImportRun.Status.RUNNING,
            lease_owner=owner,
            lease_until=now + dt.timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    if not claimed:
        return None
    return ImportRun.objects.select_related(
        "import_obj", "import_obj__connection", "import_obj__workspace"
    ).get(pk=run_id)


def _fenced(run: ImportRun, owner: str):
    return ImportRun.objects.filter(pk=run.pk, lease_owner=owner, status=ImportRun.Status.RUNNING)


def _renew(run: ImportRun, owner: str, **fields: Any) -> None:
    updated = _fenced(run, owner).update(
        lease_until=timezone.now() + dt.timedelta(seconds=lease_seconds()), **fields
    )
    if not updated:
        raise LeaseLost


# -- SQL -----------------------------------------------------------------------------------------

CURSOR_PARAM_TYPES = {
    "TIMESTAMP": "TIMESTAMP",
    "DATETIME": "DATETIME",
    "DATE": "DATE",
    "INT64": "INT64",
    "INTEGER": "INT64",
}


def _source_sql(import_obj: Import) -> str:
    if import_obj.source_kind == Import.SourceKind.QUERY:
        return import_obj.source_query.strip().rstrip(";")
    connection = import_obj.connection
    table = quote_identifier(connection.project_id, connection.dataset_id, import_obj.source_table)
    return f"SELECT * FROM {table}"  # noqa: S608 - identifiers validated and quoted


def parse_watermark(text: str, cursor_type: str) -> Any:
    if text == "":
        return None
    kind = CURSOR_PARAM_TYPES[cursor_type]
    if kind == "INT64":
        return int(text)
    if kind == "DATE":
        return dt.date.fromisoformat(text)
    value = dt.datetime.fromisoformat(text)
    return value


def format_watermark(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


@dataclass
class Window:
    sql: str
    params: list
    lo: str
    hi: str


def _window(import_obj: Import, reader: bigquery.ImportReader, location: str) -> Window:
    """Freeze the run's window once: rows with watermark <= cursor <= hi."""
    base = _source_sql(import_obj)
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        return Window(sql=base, params=[], lo="", hi="")
    column = quote_identifier(import_obj.cursor_column)
    kind = CURSOR_PARAM_TYPES[import_obj.cursor_type]
    hi = reader.scalar(
        f"SELECT MAX({column}) FROM ({base})",  # noqa: S608 - quoted identifier
        [],
        location=location,
    )
    lo_text = import_obj.watermark
    conditions, params = [f"{column} <= @hi"], [bigquery.query_parameter("hi", kind, hi)]
    if lo_text:
        # >= and not >: rows that arrive late with the boundary value are not lost;
        # the destination's keys make the re-read rows harmless.
        conditions.insert(0, f"{column} >= @lo")
        params.append(
            bigquery.query_parameter("lo", kind, parse_watermark(lo_text, import_obj.cursor_type))
        )
    if hi is None:
        conditions = ["FALSE"]
        params = []
    sql = f"SELECT * FROM ({base}) WHERE {' AND '.join(conditions)}"  # noqa: S608
    return Window(sql=sql, params=params, lo=lo_text, hi=format_watermark(hi))


# -- the run -------------------------------------------------------------------------------------


def execute_run(run_id: str) -> str:
    """Claim and execute a run; returns its final status (or 'skipped' if not claimed).

    A database error (the connection dropped because PostgreSQL restarted or the backend was
    terminated, a deadlock, a refused write) rolls back only the page in flight: the worker
    reconnects and resumes from the committed offset while it still holds the lease. If the
    database stays away, the lease expires and the reaper re-sends the run.
    """
    owner = new_owner()
    run = run_claim(run_id=run_id, owner=owner)
    if run is None:
        logger.info("run %s not claimed (finished, cancelled or owned by another worker)", run_id)
        return "skipped"
    import_obj = run.import_obj
    connection = import_obj.connection
    email, project, dataset = connection.client_email, connection.project_id, connection.dataset_id
    database_errors = 0
    while True:
        try:
            if database_errors:
                _renew(run, owner)  # LeaseLost if another worker took over meanwhile
                run = ImportRun.objects.select_related(
                    "import_obj", "import_obj__connection", "import_obj__workspace"
                ).get(pk=run_id)  # as committed: offset, result table, read path
            if run.cancel_requested:
                raise RunCancelled
            key_info = connection_services.connection_key_info(connection)
            with bigquery.BigQuerySession(key_info, project) as session:
                _execute(run, owner, session)
        except LeaseLost:
            logger.warning("run %s: lease lost; another worker owns it now", run_id)
            return "lease_lost"
        except RunCancelled:
            _finish(run, owner, ImportRun.Status.CANCELLED, "Stopped.")
            return ImportRun.Status.CANCELLED
        except (OperationalError, InterfaceError) as error:
            # A broken connection stays broken (Django reconnects only once it is closed).
            transaction.get_connection().close()
            if database_errors >= 5:
                reference = uuid.uuid4().hex[:12]
                logger.exception("run %s: database error again (reference %s)", run_id, reference)
                try:
                    _finish(
                        run, owner, ImportRun.Status.FAILED,
                        f"The database kept refusing the import's writes. Reference: {reference} "
                        "(in the server log).",
                    )  # fmt: skip
                except (OperationalError, InterfaceError):
                    # Still unreachable: the lease expires and the reaper re-sends the run.
                    transaction.get_connection().close()
                    return "database_unavailable"
                return ImportRun.Status.FAILED
            database_errors += 1
            pause = min(30, 2 ** (database_errors - 1))
            logger.warning(
                "run %s: database error (%s); resuming from the committed row in %s s",
                run_id, str(error).strip(), pause,
            )  # fmt: skip
            time.sleep(pause)
            continue
        except mapping_module.MappingError as error:
            _finish(
                run, owner, ImportRun.Status.FAILED, f"The import's mapping cannot work: {error}"
            )
            return ImportRun.Status.FAILED
        except bigquery.GoogleCallError as error:
            said = explained(
                error,
                f"run {run_id}",
                email=email,
                project_id=project,
                dataset_id=dataset,
                level=logging.WARNING,
            )
            _finish(run, owner, ImportRun.Status.FAILED, f"{said.detail} {said.fix}")
            return ImportRun.Status.FAILED
        except Exception:
            reference = uuid.uuid4().hex[:12]
            logger.exception("run %s failed unexpectedly (reference %s)", run_id, reference)
            _finish(
                run, owner, ImportRun.Status.FAILED,
                f"The import failed unexpectedly. Reference: {reference} (in the server log).",
            )  # fmt: skip
            return ImportRun.Status.FAILED
        return ImportRun.Status.SUCCEEDED


def _execute(run: ImportRun, owner: str, session: bigquery.BigQuerySession) -> None:
    import_obj = run.import_obj
    session.authenticate()  # a key deleted since the last test is reported as such
    reader = bigquery.ImportReader(session)
    location = reader.dataset_location(import_obj.connection.dataset_id)
    storage = None
    try:
        if not run.result_table:
            window = _window(import_obj, reader, location)
            job = reader.start_query(window.sql, window.params, location=location)
            _renew(run, owner, job_id=job.job_id, watermark_from=window.lo, watermark_to=window.hi)
            job = reader.wait(job, timeout=6 * 3600, on_wait=lambda: _renew(run, owner))
            run.result_table = job.destination
            run.rows_expected = reader.table_rows(run.result_table)
            run.watermark_to = window.hi
            storage, run.read_stream = _open_storage(run, session)
            run.read_path = "storage" if storage is not None else "rest"
            _renew(
                run, owner,
                result_table=run.result_table,
                rows_expected=run.rows_expected,
                bytes_scanned=job.total_bytes_processed,
                read_path=run.read_path,
                read_stream=run.read_stream,
            )  # fmt: skip
            logger.info(
                "run %s: %s rows in %s; reading with %s", run.pk, run.rows_expected,
                run.result_table, READ_PATH_NAMES[run.read_path],
            )  # fmt: skip
        elif run.read_path == "storage":
            storage = _resume_storage(run, owner, session)
        _read_pages(run, owner, reader, storage)
    finally:
        if storage is not None:
            storage.close()
    _succeed(run, owner)


READ_PATH_NAMES = {"storage": "the Storage Read API (Arrow)", "rest": "REST paging"}


def _open_storage(run: ImportRun, session: bigquery.BigQuerySession):
    """(StorageReader, stream name) when the Storage Read API can read the result table;
    (None, "") otherwise, with the reason logged: the run then reads with REST paging."""
    if run.rows_expected == 0:
        return None, ""  # nothing to read; REST answers an empty table in one call
    if not bigquery.STORAGE_INSTALLED:
        reason = "google-cloud-bigquery-storage is not installed"
    elif not getattr(settings, "BIGQUERY_STORAGE_ENABLED", True):
        reason = "disabled by BIGQUERY_STORAGE_ENABLED"
    else:
        storage = None
        try:
            storage = bigquery.StorageReader(session)
            return storage, storage.open_stream(run.result_table)
        except bigquery.GoogleCallError as error:
            if storage is not None:
                storage.close()
            reason = error.kind
            if error.kind is GoogleErrorKind.ACCESS_DENIED:
                reason += (
                    "; granting the service account BigQuery Read Session User"
                    " (roles/bigquery.readSessionUser) makes imports faster"
                )
            logger.info("run %s: Storage Read API: %s %s", run.pk, error, error.internal_message)
    logger.warning(
        "run %s: Storage Read API unavailable (%s); reading with REST paging", run.pk, reason
    )
    return None, ""


def _resume_storage(run: ImportRun, owner: str, session: bigquery.BigQuerySession):
    """The StorageReader for a resumed storage run, or None after switching it to REST."""
    if run.read_stream and bigquery.STORAGE_INSTALLED:
        if getattr(settings, "BIGQUERY_STORAGE_ENABLED", True):
            try:
                return bigquery.StorageReader(session)
            except bigquery.GoogleCallError:
                pass
    _restart_with_rest(run, owner, "the Storage Read API is no longer available")
    return None


def _restart_with_rest(run: ImportRun, owner: str, reason: str) -> None:
    """Read the result table again from row 0 with REST paging.

    REST may order the rows differently from the stream, so the committed offset of the
    stream means nothing there: the whole table is replayed (the idempotent writes make
    that harmless). rows_read and rows_rejected restart with it, so that they count one
    pass; rows_written keeps counting what actually changed.
    """
    logger.warning(
        "run %s: %s; reading %s again from row 0 with REST paging (was at row %s)",
        run.pk, reason, run.result_table, run.committed_offset,
    )  # fmt: skip
    with transaction.atomic():
        _renew(
            run, owner,
            read_path="rest", read_stream="", committed_offset=0, rows_read=0, rows_rejected=0,
        )  # fmt: skip
        RejectedRow.objects.filter(run=run).delete()
    run.read_path, run.read_stream, run.committed_offset = "rest", "", 0


def _run_mapping(run: ImportRun, reader: bigquery.ImportReader) -> mapping_module.Mapping:
    """The import's mapping over the result table's schema, with the workspace's type of
    each property: this import's types are recorded where the workspace has none yet
    (first seen wins), and a property the workspace keeps as another type is cast."""
    import_obj = run.import_obj
    columns = schema_fields(reader.table_schema(run.result_table))
    page_mapping = mapping_module.Mapping.from_import(import_obj, columns=columns)
    kept = audience_services.property_types_record(
        workspace_id=import_obj.workspace_id,
        types=page_mapping.property_type_labels(),
        import_id=import_obj.pk,
        import_name=import_obj.name,
    )
    return dataclasses.replace(page_mapping, property_types=tuple(sorted(kept.items())))


def _read_pages(run: ImportRun, owner: str, reader: bigquery.ImportReader, storage=None) -> None:
    import_obj = run.import_obj
    page_mapping = _run_mapping(run, reader)
    failures = 0
    while True:
        offset = ImportRun.objects.values_list("committed_offset", flat=True).get(pk=run.pk)
        if run.rows_expected is not None and offset >= run.rows_expected:
            return
        wire: Wire
        if storage is not None:
            pages = storage.pages(run.read_stream, offset=offset, page_size=page_size())
            wire = "arrow"
        else:
            pages = reader.pages(run.result_table, start_index=offset, page_size=page_size())
            wire = "rest"

        def map_page(rows: list, offset: int, wire: Wire = wire) -> tuple[list, list]:
            return mapping_module.map_page(
                page_mapping, rows, wire=wire, first_row_number=offset + 1, now=timezone.now()
            )

        try:
            # The next page is read and mapped while this one is written.
            with PagePrefetcher(pages, map_page, offset=offset) as prefetched:
                for page in prefetched:
                    _check_cancel(run)
                    _write_page(run, owner, import_obj, page)
                    offset += page.size
                    failures = 0
                    _let_other_writers_in()
            return
        except bigquery.GoogleCallError as error:
            if storage is not None and error.kind is GoogleErrorKind.READ_STREAM_GONE:
                storage.close()
                storage = None
                _restart_with_rest(run, owner, f"the read stream cannot be read ({error})")
                continue
            retries = getattr(settings, "IMPORT_TRANSIENT_RETRIES", TRANSIENT_RETRIES)
            if error.permanent or failures >= retries:
                raise
            failures += 1
            base = getattr(settings, "IMPORT_RETRY_BASE_SECONDS", 2.0)
            pause = min(30, base * 2 ** (failures - 1))  # 2, 4, 8, 16, 30 s by default
            logger.warning("run %s: transient %s; retrying from row %s in %s s", run.pk, error,
                           offset, pause)  # fmt: skip
            time.sleep(pause)
            _renew(run, owner)


def _check_cancel(run: ImportRun) -> None:
    if ImportRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled


def _write_page(run: ImportRun, owner: str, import_obj: Import, page: MappedPage) -> None:
    rows, mapped, rejected = page.size, page.mapped, page.rejected
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        # Lock the run row first: a stale worker waits here and then finds the lease gone.
        # A lock and then one UPDATE, not two UPDATEs: PostgreSQL re-checks a row's foreign
        # keys when a transaction updates a row version it created itself, and that check's
        # KEY SHARE lock on the import deadlocks with a Stop or a connection delete.
        if not list(_fenced(run, owner).select_for_update(no_key=True).values_list("pk")):
            raise LeaseLost
        write = (
            writers.write_profiles
            if import_obj.target == Import.Target.PROFILES
            else writers.write_events
        )
        # Counts what changed: a replayed page or a duplicate event adds nothing.
        written = write(workspace_id=import_obj.workspace_id, run_id=run.pk, rows=mapped)
        kept = RejectedRow.objects.filter(run=run).count() if rejected else 0
        if rejected and kept < REJECTED_KEPT:
            RejectedRow.objects.bulk_create(
                [
                    RejectedRow(run=run, row_number=r.row_number, reason=r.reason, data=r.data)
                    for r in rejected[: REJECTED_KEPT - kept]
                ],
                ignore_conflicts=True,
            )
        _renew(
            run, owner,
            committed_offset=F("committed_offset") + rows,
            rows_read=F("rows_read") + rows,
            rows_rejected=F("rows_rejected") + len(rejected),
            rows_written=F("rows_written") + written,
        )  # fmt: skip


# SQLite's busy handler retries a waiting write at most every 100 ms.
SQLITE_WRITER_GAP_SECONDS = 0.12


def _let_other_writers_in() -> None:
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
def _succeed(run: ImportRun, owner: str) -> None:
    import_obj = _lock_import(run)
    if import_obj is None or not _fenced(run, owner).update(
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
def _finish(run: ImportRun, owner: str, status: str, message: str) -> None:
    import_obj = _lock_import(run)
    if import_obj is None or not _fenced(run, owner).update(
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
