"""Downloads of a run's data (the run page and the API share them)."""

from __future__ import annotations

from collections.abc import Iterator

from common.csv_stream import csv_lines
from imports import selectors
from imports.models import ImportRun


def rejected_rows_csv(*, run: ImportRun, reason: str | None = None) -> Iterator[str]:
    """The run's kept rejected rows (those with `reason`, if given): row number, reason,
    then every source column seen."""
    columns = selectors.run_rejected_columns(run=run)

    def rows() -> Iterator[list]:
        for row in selectors.run_rejected_rows_iter(run=run, reason=reason):
            data = row.data if isinstance(row.data, dict) else {"data": row.data}
            yield [row.row_number, row.reason, *(data.get(column) for column in columns)]

    return csv_lines(["row_number", "reason", *columns], rows())
