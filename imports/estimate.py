"""The review step's cost estimate: dry runs (nothing billed) of the query an import's first
run and a typical incremental run would run. An aid: it never raises and never blocks Save."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from connections import bigquery
from connections.cost import job_options
from connections.google_errors import connection_explained
from connections.keys import connection_session
from imports import cost
from imports.browse import GOOGLE_CALLS
from imports.models import Import
from imports.run.window import CURSOR_PARAM_TYPES, source_table, window

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimates:
    first: int | None = None  # bytes the first run processes (every run, for a full sync)
    typical: int | None = None  # a later incremental run's (None: not estimated)
    typical_since: str = ""  # the window a typical run reads, in words
    limit: int | None = None
    error: str = ""
    incremental: bool = False


def typical_watermark(import_obj: Import, now: dt.datetime) -> tuple[str, str]:
    """A later run's watermark (one schedule interval ago, a day without a schedule) and
    that interval in words; ("", "") for an INT64 cursor, which has no time to go back."""
    kind = CURSOR_PARAM_TYPES.get(import_obj.cursor_type)
    per_month = cost.runs_per_month(import_obj, now)
    interval = dt.timedelta(days=cost.DAYS_PER_MONTH / per_month) if per_month else None
    interval = interval or dt.timedelta(days=1)
    words = "an hour" if interval <= dt.timedelta(hours=1) else (
        "a day" if interval <= dt.timedelta(days=1) else f"{interval.days} days"
    )  # fmt: skip
    since = now - interval
    if kind == "TIMESTAMP":
        return since.astimezone(dt.UTC).isoformat(), words
    if kind == "DATETIME":
        return since.replace(tzinfo=None).isoformat(), words
    if kind == "DATE":
        return since.date().isoformat(), words
    return "", ""


def review_estimates(import_obj: Import, user: User, now: dt.datetime | None = None) -> Estimates:
    """Dry-run the first run's query and a typical incremental run's; errors in words."""
    connection = import_obj.connection
    limit = cost.maximum_bytes_billed(connection, import_obj.maximum_bytes_billed)
    if wait := GOOGLE_CALLS.attempt(str(user.pk)):
        return Estimates(
            limit=limit,
            error=f"You asked BigQuery for previews and checks more than {GOOGLE_CALLS.limit} "
            f"times in a minute. Wait {wait} seconds and reload this page.",
        )
    now = now or timezone.now()
    options = job_options(connection, "preview", maximum=import_obj.maximum_bytes_billed)
    try:
        with connection_session(connection) as session:
            location = connection.location or None
            table = source_table(import_obj, bigquery.ImportReader(session))
            first = window(import_obj, table, now=now, watermark="")
            first_bytes = session.dry_run(
                first.sql, location=location, params=first.params, options=options
            ).total_bytes_processed
            typical_bytes, since = None, ""
            if import_obj.sync_mode == Import.SyncMode.INCREMENTAL:
                watermark, since = typical_watermark(import_obj, now)
                if watermark:
                    later = window(import_obj, table, now=now, watermark=watermark)
                    typical_bytes = session.dry_run(
                        later.sql, location=location, params=later.params, options=options
                    ).total_bytes_processed
    except bigquery.GoogleCallError as error:
        said = connection_explained(
            error, f"review estimate of connection {connection.pk}", connection
        )
        return Estimates(limit=limit, error=f"{said.detail} {said.fix}")
    except Exception:  # an aid: it must never take the review step down
        reference = uuid.uuid4().hex[:12]
        logger.exception("review estimate failed unexpectedly (reference %s)", reference)
        return Estimates(
            limit=limit,
            error=f"It failed unexpectedly. Reference: {reference} (in the server log).",
        )
    return Estimates(
        first=first_bytes,
        typical=typical_bytes,
        typical_since=since,
        limit=limit,
        incremental=import_obj.sync_mode == Import.SyncMode.INCREMENTAL,
    )
