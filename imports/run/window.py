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


@dataclass(frozen=True)
class SourceTable:
    """What tables.get says of a table source (no job, nothing billed): its columns now,
    and the column it is partitioned on ("" when none)."""

    columns: frozenset[str]
    partition_field: str = ""


def source_table(import_obj: Import, reader: bigquery.ImportReader) -> SourceTable | None:
    """The table source's columns and partitioning; None for a query source."""
    if import_obj.source_kind == Import.SourceKind.QUERY:
        return None
    connection = import_obj.connection
    table = reader.table(
        f"{connection.project_id}.{connection.dataset_id}.{import_obj.source_table}"
    )
    names = frozenset(str(column.get("name")) for column in table.schema)
    return SourceTable(columns=names, partition_field=table.partition_field)


def mapped_columns(import_obj: Import) -> list[str]:
    """The columns a run uses, in order: identity, event name, time, event ID, cursor and
    the included properties (see imports.mapping)."""
    names = [import_obj.identity_column]
    if import_obj.target == "events":
        names += [import_obj.event_name_column, import_obj.timestamp_column]
        names.append(getattr(import_obj, "event_id_column", "") or "")
    if import_obj.sync_mode == Import.SyncMode.INCREMENTAL:
        names.append(import_obj.cursor_column)
    for entry in import_obj.column_mapping or ():
        if isinstance(entry, dict) and entry.get("include", True):
            names.append(entry.get("column") or "")
    return list(dict.fromkeys(name for name in names if isinstance(name, str) and name))


def source_sql(import_obj: Import, table: SourceTable | None = None, where: str = "") -> str:
    """The SELECT a run reads, filtered by `where` (conditions on the source's columns).

    A query source is wrapped: a statement that passed the SELECT check runs only as a
    subquery, never as anything else. A table source selects only its mapped columns that
    the table still has (BigQuery bills by the columns read; a column dropped since is left
    for the mapping to report), or every column when `table` is not known."""
    condition = f" WHERE {where}" if where else ""
    if import_obj.source_kind == Import.SourceKind.QUERY:
        query = import_obj.source_query.strip().rstrip(";")
        return f"SELECT * FROM (\n{query}\n){condition}"  # noqa: S608 - the user's own query
    connection = import_obj.connection
    path = quote_identifier(connection.project_id, connection.dataset_id, import_obj.source_table)
    wanted = [] if table is None else [c for c in mapped_columns(import_obj) if c in table.columns]
    columns = ", ".join(quote_identifier(column) for column in wanted) or "*"
    return f"SELECT {columns} FROM {path}{condition}"  # noqa: S608 - quoted identifiers


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
    # The latest cursor value the run accepts (see future_limit).
    limit: Any = None


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
    try:
        if isinstance(lo, dt.datetime):
            return lo - dt.timedelta(seconds=seconds)
        return lo - dt.timedelta(days=-(-seconds // 86400))
    except OverflowError:  # a watermark within the lookback of year 1: read from the start
        return CURSOR_MINIMUM[CURSOR_PARAM_TYPES[import_obj.cursor_type]]


def watermark_at_day(import_obj: Import, day: dt.date, time_zone: str) -> str:
    """The watermark that makes the next run read from the start of `day`: midnight in
    `time_zone` for a TIMESTAMP cursor, the wall-clock midnight for DATETIME, the day for
    DATE. An INT64 cursor has no dates (ValueError)."""
    kind = CURSOR_PARAM_TYPES.get(import_obj.cursor_type)
    midnight = dt.datetime.combine(day, dt.time())
    if kind == "TIMESTAMP":
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
        try:
            return format_watermark(midnight.replace(tzinfo=zone).astimezone(dt.UTC))
        except OverflowError:  # Jan 1, 0001 east of UTC began before any TIMESTAMP
            return format_watermark(CURSOR_MINIMUM["TIMESTAMP"])
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


# The least value of each cursor type: a first run's filter on a partitioning cursor
# column, which reads every row and still lets BigQuery accept (and prune) the query.
CURSOR_MINIMUM = {
    "TIMESTAMP": dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    "DATETIME": dt.datetime(1, 1, 1),  # noqa: DTZ001 - a DATETIME has no time zone
    "DATE": dt.date(1, 1, 1),
    "INT64": -(2**63),
}


def window(
    import_obj: Import,
    table: SourceTable | None,
    *,
    now: dt.datetime | None = None,
    watermark: str | None = None,
) -> Window:
    """The run's one source query: rows with cursor >= (watermark - lookback).

    The window's upper bound hi (the highest cursor no later than its limit, an hour past
    `now`) is taken from the rows as the run reads them (imports.run.high_water), so an
    incremental run scans its source once and runs no other query. Rows later than the
    limit are read too, so that the run rejects each with its value (see imports.mapping);
    they never move the watermark, and are read again by every run until their time comes.
    Rows without a cursor are never read.
    """
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        return Window(sql=source_sql(import_obj, table), params=[], lo="")
    column = quote_identifier(import_obj.cursor_column)
    kind = CURSOR_PARAM_TYPES[import_obj.cursor_type]
    limit = future_limit(import_obj, now or timezone.now())
    lo = lower_bound(import_obj, import_obj.watermark if watermark is None else watermark)
    partitioned = table is not None and table.partition_field == import_obj.cursor_column
    if lo is None and partitioned:
        bound = CURSOR_MINIMUM[kind]
        where, params = f"{column} >= @lo", [bigquery.query_parameter("lo", kind, bound)]
    elif lo is None:
        where, params = f"{column} IS NOT NULL", []
    else:
        # >= and not >: rows that arrive late with the boundary value are not lost;
        # the destination's keys make the re-read rows harmless.
        where, params = f"{column} >= @lo", [bigquery.query_parameter("lo", kind, lo)]
    return Window(
        sql=source_sql(import_obj, table, where),
        params=params,
        lo=format_watermark(lo),
        limit=limit,
    )
