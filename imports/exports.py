"""Downloads of a run's data (the run page and the API share them)."""

from __future__ import annotations

from collections.abc import Iterator

from common.csv_stream import csv_lines
from imports import selectors
from imports.models import ImportRun
from imports.run import parts


def rejected_rows_csv(*, run: ImportRun, reason: str | None = None) -> Iterator[str]:
    """The run's kept rejected rows (those with `reason`, if given): row number (a split
    run's: part, then row number in its part, as the run page says), reason, then every
    source column seen."""
    columns = selectors.run_rejected_columns(run=run)
    split = run.read_path == parts.READ_PATH

    def rows() -> Iterator[list]:
        for row in selectors.run_rejected_rows_iter(run=run, reason=reason):
            data = row.data if isinstance(row.data, dict) else {"data": row.data}
            where = [row.part, row.row_in_part] if split else [row.row_number]
            yield [*where, row.reason, *(data.get(column) for column in columns)]

    position = ["part", "row_number"] if split else ["row_number"]
    return csv_lines([*position, "reason", *columns], rows())
