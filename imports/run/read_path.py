"""How a run reads its result table: the Storage Read API (Arrow) when it can, else REST
paging, and the switch to REST (from row 0) when a stream can no longer be read."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from connections import bigquery
from connections.google_errors import GoogleErrorKind
from imports.models import ImportRun, RejectedRow
from imports.run import leases

logger = logging.getLogger(__name__)

READ_PATH_NAMES = {"storage": "the Storage Read API (Arrow)", "rest": "REST paging"}


def open_storage(run: ImportRun, session: bigquery.BigQuerySession):
    """(StorageReader, stream name) when the Storage Read API can read the result table;
    (None, "") otherwise, with the reason logged: the run then reads with REST paging."""
    if run.rows_expected == 0:
        return None, ""  # nothing to read; REST answers an empty table in one call
    opened = try_storage(session, run.result_table, f"run {run.pk}")
    if opened.reader is None:
        logger.warning(
            "run %s: Storage Read API unavailable (%s); reading with REST paging",
            run.pk,
            opened.reason,
        )
    return opened.reader, opened.stream


@dataclass
class StorageOpened:
    """A read stream on a table, or why the Storage Read API cannot read it (`kind` is
    the Google error's, when Google refused)."""

    reader: bigquery.StorageReader | None
    stream: str = ""
    reason: str = ""
    kind: GoogleErrorKind | None = None


def try_storage(session: bigquery.BigQuerySession, table: str, label: str) -> StorageOpened:
    """A one-stream read session on `table` when the Storage Read API is installed, enabled
    and allowed; else the reason (Google's own text goes to the log under `label`). The run
    and the review step's sample (imports.preview) both choose their read path here."""
    if not bigquery.STORAGE_INSTALLED:
        return StorageOpened(None, reason="google-cloud-bigquery-storage is not installed")
    if not settings.BIGQUERY_STORAGE_ENABLED:
        return StorageOpened(None, reason="disabled by BIGQUERY_STORAGE_ENABLED")
    storage = None
    try:
        storage = bigquery.StorageReader(session)
        return StorageOpened(storage, stream=storage.open_stream(table))
    except bigquery.GoogleCallError as error:
        if storage is not None:
            storage.close()
        reason = str(error.kind)
        if error.kind is GoogleErrorKind.ACCESS_DENIED:
            reason += (
                "; granting the service account BigQuery Read Session User"
                " (roles/bigquery.readSessionUser) makes imports faster"
            )
        logger.info("%s: Storage Read API: %s %s", label, error, error.internal_message)
        return StorageOpened(None, reason=reason, kind=error.kind)


def resume_storage(run: ImportRun, owner: str, session: bigquery.BigQuerySession):
    """The StorageReader for a resumed storage run, or None after switching it to REST."""
    if run.read_stream and bigquery.STORAGE_INSTALLED:
        if settings.BIGQUERY_STORAGE_ENABLED:
            try:
                return bigquery.StorageReader(session)
            except bigquery.GoogleCallError:
                pass
    restart_with_rest(run, owner, "the Storage Read API is no longer available")
    return None


def restart_with_rest(run: ImportRun, owner: str, reason: str) -> None:
    """Read the result table again from row 0 with REST paging.

    REST may order the rows differently from the stream, so the committed offset of the
    stream means nothing there: the whole table is replayed (the idempotent writes make
    that harmless). rows_read, rows_rejected and rows_unchanged restart with it, so that
    they count one pass; rows_written keeps counting what actually changed.
    """
    logger.warning(
        "run %s: %s; reading %s again from row 0 with REST paging (was at row %s)",
        run.pk,
        reason,
        run.result_table,
        run.committed_offset,
    )
    with transaction.atomic():
        leases.renew(
            run,
            owner,
            read_path="rest",
            read_stream="",
            committed_offset=0,
            rows_read=0,
            rows_rejected=0,
            rows_unchanged=0,
        )
        RejectedRow.objects.filter(run=run).delete()
    run.read_path, run.read_stream, run.committed_offset = "rest", "", 0
