"""The SQL a run reads: the import's table or query, and for an incremental import the
window above its watermark, frozen once per run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


def window(import_obj: Import, reader: bigquery.ImportReader, location: str) -> Window:
    """Freeze the run's window once: rows with watermark <= cursor <= hi."""
    base = _source_sql(import_obj)
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        # Wrapped, as the form promises: a statement that passed the SELECT check runs only
        # as a subquery, never as anything else.
        return Window(sql=f"SELECT * FROM (\n{base}\n)", params=[], lo="", hi="")  # noqa: S608
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
