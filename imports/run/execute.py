"""Executes one ImportRun: claim it, run the source query into a result table, read that
table page by page (map, write), then finish the run.

Every page is written in one transaction together with the run's committed offset and
counters, and only while this worker holds the run's lease (see leases), so a stale
duplicate delivery writes nothing. Stop is cooperative: the run's row is re-read between
pages, and while the source query runs (which is then cancelled).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

from connections import bigquery, crypto
from connections.cost import job_options, over_limit_message
from connections.keys import connection_session
from connections.models import Connection
from imports import mapping as mapping_module
from imports.models import ImportRun
from imports.run import database, finish, leases, pages, parts, read_path, scratch
from imports.run.window import format_watermark, source_table, window

logger = logging.getLogger(__name__)


class OverLimit(Exception):
    """The run's dry run estimates more bytes than it may bill: fail before any billed job."""


def execute_run(run_id: str) -> str:
    """Execute a run (see _execute_run); once it has ended, delete its result table from
    the scratch dataset (a crashed run keeps it, to resume from)."""
    run = ImportRun.objects.select_related("import_obj__connection").filter(pk=run_id).first()
    status, released = _execute_run(run_id)
    if run is not None and status in finish.ENDED and not released:
        scratch.release(run.import_obj.connection, run)
    return status


def _execute_run(run_id: str) -> tuple[str, bool]:
    """Claim and execute a run; returns its final status (or 'skipped' if not claimed), and
    whether its result table is deleted already.

    A database error (the connection dropped because PostgreSQL restarted or the backend was
    terminated, a deadlock, a refused write) rolls back only the page in flight: the worker
    reconnects and resumes from the committed offset while it still holds the lease. If the
    database stays away, the lease expires and the reaper re-sends the run.
    """
    owner = leases.new_owner()
    run = leases.run_claim(run_id=run_id, owner=owner)
    if run is None:
        logger.info("run %s not claimed (finished, cancelled or owned by another worker)", run_id)
        return "skipped", False
    connection = run.import_obj.connection  # as claimed, for every attempt
    database_errors = 0
    while True:
        try:
            if database_errors:
                run = _resume(run, owner)
            if run.cancel_requested:
                raise pages.RunCancelled
            status = _with_session(run, owner, connection)
        except leases.LeaseLost:
            return leases.lost(run_id, f"run {run_id}"), False
        except pages.RunCancelled:
            finish.finish(run, owner, ImportRun.Status.CANCELLED, "Stopped.")
            return ImportRun.Status.CANCELLED, False
        except database.ERRORS as error:
            database_errors += 1
            if not database.reconnect(error, f"run {run.pk}", database_errors):
                fail = partial(_fail, run, owner)
                return database.give_up(f"run {run.pk}", fail), False
            continue
        except mapping_module.MappingError as error:
            return _fail(run, owner, finish.mapping_failure(error)), False
        except (OverLimit, scratch.ScratchDatasetError) as error:
            return _fail(run, owner, str(error)), False
        except crypto.KeyDecryptionError as error:
            return _fail(run, owner, finish.key_failure(error)), False
        except bigquery.GoogleCallError as error:
            return _fail(run, owner, finish.google_failure(run, error, connection)), False
        except Exception:
            return _fail(run, owner, finish.unexpected_failure(f"run {run_id}")), False
        return status, True


def _with_session(run: ImportRun, owner: str, connection: Connection) -> str:
    """Execute the run in a BigQuery session as the connection's service account, then
    delete its result table."""
    with connection_session(connection) as session:
        status = _execute(run, owner, session)
        if status in finish.ENDED:  # not a split run whose parts are still reading its table
            # In this session: another one would cost a key parse and a token exchange.
            scratch.release(connection, run, session)
        return status


def _execute(run: ImportRun, owner: str, session: bigquery.BigQuerySession) -> str:
    """The run's source query (once), its pages from the committed offset, and its end
    (succeeded, with rejections, or failed by the rejection threshold)."""
    session.authenticate()  # a key deleted since the last test is reported as such
    reader = bigquery.ImportReader(session)
    storage = None
    try:
        if not run.result_table:
            _run_source_query(run, owner, reader)
            streams = parts.open_parts(run, session)
            if streams:
                return parts.start(run, parts.split(run, owner, streams))
            storage, run.read_stream = read_path.open_storage(run, session)
            run.read_path = "storage" if storage is not None else "rest"
            leases.freeze(run, owner, read_path=run.read_path, read_stream=run.read_stream)
            logger.info(
                "run %s: %s rows in %s; reading with %s",
                run.pk,
                run.rows_expected,
                run.result_table,
                read_path.READ_PATH_NAMES[run.read_path],
            )
        elif run.read_path == parts.READ_PATH:
            return parts.resend(run)
        elif run.read_path == "storage":
            storage = read_path.resume_storage(run, owner, session)
        pages.read_pages(run, owner, reader, storage)
    finally:
        if storage is not None:
            storage.close()
    return finish.succeed(run, owner)


def _run_source_query(run: ImportRun, owner: str, reader: bigquery.ImportReader) -> None:
    """Estimate the window's query with a dry run (OverLimit when it exceeds the limit) and
    run it into its result table (renewing the lease while BigQuery works, and cancelling
    the query on Stop); notes the table, its size, the latest cursor value the run accepts
    and the bytes on `run` (not yet saved)."""
    import_obj = run.import_obj
    options = job_options(
        import_obj.connection,
        "run",
        maximum=import_obj.maximum_bytes_billed,
        labels={"import_id": import_obj.pk, "run_id": run.pk},
    )
    frozen = window(import_obj, source_table(import_obj, reader))
    # Where the jobs run: as Test Connection learned it, else asked.
    connection = import_obj.connection
    location = connection.location or reader.dataset_location(connection.dataset_id)
    estimate = reader.session.dry_run(
        frozen.sql, location=location, params=frozen.params, options=options
    ).total_bytes_processed
    leases.renew(run, owner, bytes_estimated=estimate, watermark_from=frozen.lo)
    limit = options.maximum_bytes_billed
    if estimate is not None and limit is not None and estimate > limit:
        raise OverLimit(over_limit_message(estimate, limit))
    dataset = scratch.prepare(reader.session, import_obj.connection, location)
    into_scratch = replace(
        options,
        destination=scratch.table_for(import_obj.connection, run, dataset),
        kms_key_name=import_obj.connection.scratch_kms_key_name,
    )
    job = reader.start_query(frozen.sql, frozen.params, location=location, options=into_scratch)
    leases.renew(run, owner, job_id=job.job_id)
    job = reader.wait(job, timeout=6 * 3600, on_wait=lambda: _while_the_query_runs(run, owner))
    scratch.expire(reader.session, import_obj.connection, job.destination)
    run.result_table = job.destination
    run.rows_expected = reader.table_rows(run.result_table)
    run.watermark_limit = format_watermark(frozen.limit)  # the upper bound: see high_water
    run.bytes_scanned = job.total_bytes_processed
    run.bytes_billed = job.total_bytes_billed


def _while_the_query_runs(run: ImportRun, owner: str) -> None:
    """Keep the lease while BigQuery works, and stop waiting on Stop (the wait then cancels
    the query, as when another worker has taken the run)."""
    leases.renew(run, owner)
    pages.check_cancel(run)


def _resume(run: ImportRun, owner: str) -> ImportRun:
    """The run as committed (offset, result table, read path) after a database error;
    LeaseLost if another worker took it over meanwhile."""
    leases.renew(run, owner)
    return ImportRun.objects.select_related(
        "import_obj", "import_obj__connection", "import_obj__workspace"
    ).get(pk=run.pk)


def _fail(run: ImportRun, owner: str, message: str) -> str:
    finish.finish(run, owner, ImportRun.Status.FAILED, message)
    return ImportRun.Status.FAILED
