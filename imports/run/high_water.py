"""The window's upper bound, taken from the rows as a run reads them.

An incremental run moves its import's watermark to the highest cursor value it read that is
no later than its limit (window.future_limit, frozen on the run as `watermark_limit`): the
same value as `SELECT MAX(cursor) ... WHERE cursor <= limit` over its result table, without
that query (a billed job, and a round trip, on every run). Each page's highest value commits
with the page (see write), so a resumed run carries on from it; a split run's parts keep
their own, and the part that ends the run takes the highest of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from imports.models import Import, ImportRun
from imports.run.window import format_watermark, parse_watermark
from imports.type_contract import Field, Wire, converter

PageHigh = Callable[[Sequence[Mapping[str, Any]]], Any]


def page_high(run: ImportRun, columns: Sequence[Field], wire: Wire) -> PageHigh | None:
    """For an incremental run, a function giving a page's highest cursor value no later than
    the run's limit (None when it has none); None for a full run."""
    import_obj = run.import_obj
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        return None
    column, cursor_type = import_obj.cursor_column, import_obj.cursor_type
    limit = parse_watermark(run.watermark_limit, cursor_type)
    value = _cursor_value(column, cursor_type, columns, wire)

    def high(rows: Sequence[Mapping[str, Any]]) -> Any:
        cells = (value(raw) for row in rows if (raw := row.get(column)) is not None)
        values = (found for found in cells if found is not None)
        if limit is None:
            return max(values, default=None)
        return max((found for found in values if found <= limit), default=None)

    return high


def _cursor_value(
    column: str, cursor_type: str, columns: Sequence[Field], wire: Wire
) -> Callable[[Any], Any]:
    """The cursor's value as parse_watermark gives it, from a cell read in `wire` form: the
    Storage Read API's Arrow values are those already (datetime, date, int); REST's JSON
    text goes through the type contract."""
    if wire == "arrow":
        return _as_is
    field = next((f for f in columns if f.name == column), None)
    if field is None:
        return _as_is  # the mapping reports a missing cursor column
    convert = converter(field, "rest")

    def from_rest(raw: Any) -> Any:
        try:
            return parse_watermark(str(convert(raw)), cursor_type)
        except (ValueError, TypeError):
            return None  # not a value of its type: the mapping rejects its row

    return from_rest


def _as_is(value: Any) -> Any:
    return value


def higher(current: str, found: Any, cursor_type: str) -> str:
    """The watermark text of the higher of `current` (text) and `found` (a value)."""
    if found is None:
        return current
    known = parse_watermark(current, cursor_type)
    return format_watermark(found if known is None or found > known else known)


def highest(texts: Iterable[str], cursor_type: str) -> str:
    """The highest of several watermark texts ("" when all are empty)."""
    values = [parse_watermark(text, cursor_type) for text in texts if text]
    return format_watermark(max(values)) if values else ""
