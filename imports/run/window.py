"""The SQL a run reads: the import's table or query, and for an incremental import the
window above its watermark, frozen once per run."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from connections import bigquery
from connections.identifiers import quote_identifier
from imports.models import Import

CURSOR_PARAM_TYPES = {
    "TIMESTAMP": "TIMESTAMP",
    "DATETIME": "DATETIME",
    "DATE": "DATE",
    "INT64": "INT64",
    "INTEGER": "INT64",
}


def source_sql(import_obj: Import) -> str:
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


# A cursor value later than this past the run's start is refused, not read as the watermark:
# one future-dated row would otherwise put every row before it out of reach.
FUTURE_TOLERANCE = dt.timedelta(hours=1)
TIME_CURSOR_TYPES = frozenset({"TIMESTAMP", "DATETIME", "DATE"})


@dataclass
class Window:
    sql: str
    params: list
    lo: str
    hi: str


def future_limit(import_obj: Import, now: dt.datetime) -> Any:
    """The latest cursor value a run starting at `now` accepts (None: any, for INT64).

    A DATETIME or DATE cursor is a wall-clock value, compared in the import's source time
    zone (UTC when it has none)."""
    kind = CURSOR_PARAM_TYPES[import_obj.cursor_type]
    limit = now + FUTURE_TOLERANCE
    if kind == "TIMESTAMP":
        return limit.astimezone(dt.UTC)
    if kind in ("DATETIME", "DATE"):
        zone = zoneinfo.ZoneInfo(import_obj.source_time_zone or "UTC")
        wall = limit.astimezone(zone).replace(tzinfo=None)
        return wall if kind == "DATETIME" else wall.date()
    return None


def lower_bound(import_obj: Import, watermark: str) -> Any:
    """Where a run reads from: the watermark moved back by the import's lookback window
    (whole days for a DATE cursor; an INT64 cursor has no time to look back over)."""
    lo = parse_watermark(watermark, import_obj.cursor_type)
    seconds = import_obj.lookback_seconds or 0
    if lo is None or not seconds or isinstance(lo, int):
        return lo
    if isinstance(lo, dt.datetime):
        return lo - dt.timedelta(seconds=seconds)
    return lo - dt.timedelta(days=-(-seconds // 86400))


def watermark_at_day(import_obj: Import, day: dt.date, time_zone: str) -> str:
    """The watermark that makes the next run read from the start of `day`: midnight in
    `time_zone` for a TIMESTAMP cursor, the wall-clock midnight for DATETIME, the day for
    DATE. An INT64 cursor has no dates (ValueError)."""
    kind = CURSOR_PARAM_TYPES.get(import_obj.cursor_type)
    midnight = dt.datetime.combine(day, dt.time())
    if kind == "TIMESTAMP":
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
        return format_watermark(midnight.replace(tzinfo=zone).astimezone(dt.UTC))
    if kind == "DATETIME":
        return format_watermark(midnight)
    if kind == "DATE":
        return format_watermark(day)
    raise ValueError(f"A {import_obj.cursor_type or 'missing'} cursor has no dates.")


def read_from(import_obj: Import, watermark: str | None = None) -> str:
    """The lower bound (as text) of the next run's window; "" when it reads every row."""
    text = import_obj.watermark if watermark is None else watermark
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        return ""
    return format_watermark(lower_bound(import_obj, text))


def window(
    import_obj: Import,
    reader: bigquery.ImportReader,
    location: str,
    *,
    options: bigquery.JobOptions,
    now: dt.datetime | None = None,
) -> Window:
    """Freeze the run's window once: rows with (watermark - lookback) <= cursor <= hi.

    hi is the highest cursor no later than an hour past `now`. Rows later than that are read
    too (cursor > limit), so that the run rejects each with its value (see imports.mapping);
    they never move the watermark, and are read again by every run until their time comes.
    """
    base = source_sql(import_obj)
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        # Wrapped, as the form promises: a statement that passed the SELECT check runs only
        # as a subquery, never as anything else.
        return Window(sql=f"SELECT * FROM (\n{base}\n)", params=[], lo="", hi="")  # noqa: S608
    column = quote_identifier(import_obj.cursor_column)
    kind = CURSOR_PARAM_TYPES[import_obj.cursor_type]
    limit = future_limit(import_obj, now or timezone.now())
    limit_params = [] if limit is None else [bigquery.query_parameter("limit", kind, limit)]
    below_limit = "" if limit is None else f" WHERE {column} <= @limit"
    hi = reader.scalar(
        f"SELECT MAX({column}) FROM ({base}){below_limit}",  # noqa: S608 - quoted identifier
        limit_params,
        location=location,
        options=options,
    )
    lo = lower_bound(import_obj, import_obj.watermark)
    if hi is None:
        upper, params = "FALSE", []
    else:
        upper, params = f"{column} <= @hi", [bigquery.query_parameter("hi", kind, hi)]
    if limit is not None:
        upper, params = f"({upper} OR {column} > @limit)", [*params, *limit_params]
    conditions = [upper]
    if lo is not None:
        # >= and not >: rows that arrive late with the boundary value are not lost;
        # the destination's keys make the re-read rows harmless.
        conditions.insert(0, f"{column} >= @lo")
        params.append(bigquery.query_parameter("lo", kind, lo))
    sql = f"SELECT * FROM ({base}) WHERE {' AND '.join(conditions)}"  # noqa: S608
    return Window(sql=sql, params=params, lo=format_watermark(lo), hi=format_watermark(hi))


def reimport_estimate_sql(import_obj: Import, watermark: str) -> tuple[str, list]:
    """The query a re-import from `watermark` ("" for everything) reads, for a dry run."""
    base = source_sql(import_obj)
    lo = lower_bound(import_obj, watermark)
    if lo is None:
        return base, []
    column = quote_identifier(import_obj.cursor_column)
    kind = CURSOR_PARAM_TYPES[import_obj.cursor_type]
    sql = f"SELECT * FROM ({base}) WHERE {column} >= @lo"  # noqa: S608 - quoted identifier
    return sql, [bigquery.query_parameter("lo", kind, lo)]
