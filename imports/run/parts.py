"""A run split into parts: the result table's Storage Read API streams (IMPORT_RUN_PARTS of
them, or fewer if BigQuery returns fewer), each a unit any worker can take.

A part is claimed and fenced by its own lease exactly as a run is (see leases), and each of
its pages moves the part's committed offset and adds to the run's counters in the page's
transaction, so a part whose worker dies is taken over from its committed row by another
worker. The run ends once, by the part that ends last: under the import's and the run's row
locks, it finds every part done and the run still running. Stop is seen by every part.

A part whose stream cannot be read any more (its read session expired, about six hours
after the split) turns the run back into one run that reads the whole result table again
with REST paging, as a run of one stream does (see read_path.restart_with_rest).
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections import bigquery, crypto
from connections.google_errors import GoogleErrorKind
from connections.keys import connection_session
from imports import mapping as mapping_module
from imports import queue
from imports.models import ImportRun, RunPart
from imports.run import database, finish, high_water, leases, pages, read_path, scratch

logger = logging.getLogger(__name__)

READ_PATH = "parts"


def open_parts(run: ImportRun, session: bigquery.BigQuerySession) -> list[str]:
    """The result table's read streams when the run is to be split (IMPORT_RUN_PARTS > 1
    and BigQuery returns more than one); [] otherwise: the run then reads as one."""
    wanted = settings.IMPORT_RUN_PARTS
    if wanted <= 1 or not run.rows_expected:
        return []
    if not bigquery.STORAGE_INSTALLED or not settings.BIGQUERY_STORAGE_ENABLED:
        return []
    try:
        with bigquery.StorageReader(session) as storage:
            streams = storage.open_streams(run.result_table, wanted)
    except bigquery.GoogleCallError as error:
        logger.info("run %s: no split read session (%s); reading as one", run.pk, error)
        return []
    return streams if len(streams) > 1 else []


def split(run: ImportRun, owner: str, streams: list[str]) -> list[RunPart]:
    """Freeze the result table and the window's bound with the parts, in one transaction."""
    with transaction.atomic():
        leases.freeze(run, owner, read_path=READ_PATH, read_stream="")
        created = RunPart.objects.bulk_create(
            RunPart(run=run, number=number, read_stream=stream)
            for number, stream in enumerate(streams)
        )
    run.read_path = READ_PATH
    logger.info("run %s: %s rows in %s parts", run.pk, run.rows_expected, len(streams))
    return created


def start(run: ImportRun, created: list[RunPart]) -> str:
    """Send every part but the first to the workers and execute the first here; returns
    "parts" (whichever part ends the run releases its result table)."""
    for part in created[1:]:
        queue.enqueue_part(part.pk)
    execute_part(created[0].pk)
    return "parts"


def resend(run: ImportRun) -> str:
    """A split run sent again (the reaper, its lease ran out): send its parts that are
    queued or whose lease ran out; their workers carry on from their committed offsets."""
    for part_id in (
        RunPart.objects.filter(run=run)
        .exclude(status=RunPart.Status.DONE)
        .values_list("pk", flat=True)
    ):
        queue.enqueue_part(part_id)
    return "parts_sent"


def execute_part(part_id: int) -> str:
    """Claim and read one part; returns the run's status once it ended, else the part's."""
    owner = leases.new_owner()
    part = leases.part_claim(part_id=part_id, owner=owner)
    if part is None:
        logger.info("part %s not claimed (done, run ended or owned by another worker)", part_id)
        return "skipped"
    run = part.run
    status = _execute_claimed_part(run, part, owner)
    if status in finish.ENDED:
        scratch.release(run.import_obj.connection, run)
    return status


def _execute_claimed_part(run: ImportRun, part: RunPart, owner: str) -> str:
    """Read the part to its end; after a database error, reconnect and carry on from its
    committed row (see imports.run.database), as a whole run does."""
    connection = run.import_obj.connection
    what = f"run {run.pk} part {part.number}"
    database_errors = 0
    while True:
        try:
            if run.cancel_requested:
                raise pages.RunCancelled
            with connection_session(connection) as session:
                session.authenticate()
                reader = bigquery.ImportReader(session)
                with bigquery.StorageReader(session) as storage:
                    pages.read_pages(run, owner, reader, storage, part=part)
            return _part_done(run, part, owner)
        except database.ERRORS as error:
            database_errors += 1
            if not database.reconnect(error, what, database_errors):
                return database.give_up(what, partial(_end, run, ImportRun.Status.FAILED))
        except leases.RunEnded:
            logger.info("%s: the run has ended; stopped without writing more", what)
            return "run_ended"
        except leases.LeaseLost:
            return leases.lost(run.pk, what)
        except pages.RunCancelled:
            return _end(run, ImportRun.Status.CANCELLED, "Stopped.")
        except mapping_module.MappingError as error:
            return _end(run, ImportRun.Status.FAILED, finish.mapping_failure(error))
        except crypto.KeyDecryptionError as error:
            return _end(run, ImportRun.Status.FAILED, finish.key_failure(error))
        except bigquery.GoogleCallError as error:
            if error.kind is GoogleErrorKind.READ_STREAM_GONE:
                return _read_as_one_with_rest(run, part, owner, f"{what}: {error}")
            message = finish.google_failure(run, error, connection)
            return _end(run, ImportRun.Status.FAILED, message)
        except Exception:
            return _end(run, ImportRun.Status.FAILED, finish.unexpected_failure(what))


def _part_done(run: ImportRun, part: RunPart, owner: str) -> str:
    """Mark the part done; the part that finds every part done ends the run."""
    with transaction.atomic():
        if not leases.fenced_part(part, owner).update(status=RunPart.Status.DONE):
            raise leases.LeaseLost
        locked = _lock(run)
        if locked is None or locked.status != ImportRun.Status.RUNNING:
            return "part_done"
        if RunPart.objects.filter(run=run).exclude(status=RunPart.Status.DONE).exists():
            return "part_done"
        reached = RunPart.objects.filter(run=run).values_list("watermark_to", flat=True)
        cursor_type = run.import_obj.cursor_type
        # With the run's own: a run split before its parts kept theirs has it there.
        locked.watermark_to = high_water.highest([*reached, locked.watermark_to], cursor_type)
        locked.save(update_fields=["watermark_to"])
        return finish.succeed(run, locked.lease_owner)


def _read_as_one_with_rest(run: ImportRun, part: RunPart, owner: str, reason: str) -> str:
    """Undo the split and send the run again, to read its whole result table with REST
    paging from row 0; returns "rest" (or "lease_lost" when the part is not ours any more).

    The parts are deleted, so every other part's worker finds its lease gone at its next
    page and stops; what they wrote stays, and the replay writes nothing twice. The run is
    left claimable (its lease expired): the worker the message reaches claims it, or the
    reaper re-sends it when the broker is away.
    """
    with transaction.atomic():
        # Parts first, then the import and the run: the order a page and a part's end lock in.
        held = list(
            RunPart.objects.select_for_update()
            .filter(run=run)
            .order_by("pk")
            .values_list("pk", "lease_owner", "status")
        )
        if (part.pk, owner, RunPart.Status.RUNNING) not in held:
            logger.warning("%s; the part's lease is lost", reason)
            return "lease_lost"
        locked = _lock(run)
        if locked is None or locked.status != ImportRun.Status.RUNNING:
            return "lease_lost"
        RunPart.objects.filter(run=run).delete()
        # Take the run's lease to switch it, then leave it expired for the next claim.
        ImportRun.objects.filter(pk=run.pk).update(lease_owner=owner)
        read_path.restart_with_rest(run, owner, reason)
        ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())
    queue.enqueue_run(str(run.pk))
    return "rest"


def _end(run: ImportRun, status: str, message: str) -> str:
    """End the run as failed or cancelled, once (the first part to get here)."""
    with transaction.atomic():
        locked = _lock(run)
        if locked is None or locked.status != ImportRun.Status.RUNNING:
            return locked.status if locked is not None else "skipped"
        finish.finish(run, locked.lease_owner, status, message)
    return status


def _lock(run: ImportRun) -> ImportRun | None:
    """The run's row, locked after its import's (the order finish, Stop and delete use)."""
    finish.lock_import(run)
    return ImportRun.objects.select_for_update(no_key=True).filter(pk=run.pk).first()
