"""Arrow record batches as Python rows: exactly what pyarrow's own to_pylist() gives, for
every type Google's Storage Read API sends (standins/google_arrow.py), with the faster
conversion of TIMESTAMP and DATETIME columns."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow
import pytest

from connections.arrow_rows import batch_rows, column_values
from standins.google_arrow import google_schema

FIELDS: list[dict[str, Any]] = [
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "dt", "type": "DATETIME"},
    {"name": "d", "type": "DATE"},
    {"name": "t", "type": "TIME"},
    {"name": "i", "type": "INT64"},
    {"name": "f", "type": "FLOAT64"},
    {"name": "n", "type": "NUMERIC"},
    {"name": "s", "type": "STRING"},
    {"name": "tss", "type": "TIMESTAMP", "mode": "REPEATED"},
    {"name": "rec", "type": "RECORD", "fields": [{"name": "at", "type": "TIMESTAMP"}]},
]
EXTREMES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 0, 123_456, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    None,
]


def google_batch(columns: dict[str, list[Any]]) -> pyarrow.RecordBatch:
    schema = google_schema(FIELDS)
    return pyarrow.RecordBatch.from_arrays(
        [pyarrow.array(columns[field.name], type=field.type) for field in schema], schema=schema
    )


def same(left: Any, right: Any) -> bool:
    """Equal, of the same type, with the same tzinfo object: not just == (an aware datetime
    equals the same instant in another zone)."""
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and list(left) == list(right)
            and all(same(left[k], right[k]) for k in left)
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(same(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, datetime):
        return (
            type(right) is datetime
            and repr(left) == repr(right)
            and left.tzinfo is right.tzinfo
            and left.fold == right.fold
        )
    return type(left) is type(right) and left == right


def test_every_column_type_gives_what_pyarrow_gives():
    count = len(EXTREMES)
    batch = google_batch(
        {
            "ts": EXTREMES,
            "dt": [None if v is None else v.replace(tzinfo=None) for v in EXTREMES],
            "d": [None if v is None else v.date() for v in EXTREMES],
            "t": [None if v is None else v.time() for v in EXTREMES],
            "i": [-(2**63), -1, 0, 1, 2**63 - 1, None],
            "f": [-1.5, 0.0, 1e300, float("inf"), 2.5, None],
            "n": [Decimal("-1.5"), Decimal(0), Decimal("123.000000001"), None, Decimal(1), None],
            "s": ["", "é", "a\u0000b", "x", "long " * 100, None],
            "tss": [[v for v in EXTREMES if v is not None][:i] for i in range(count)],
            "rec": [{"at": v} for v in EXTREMES],
        }
    )

    rows = batch_rows(batch)

    assert same(rows, batch.to_pylist())
    assert rows[3]["ts"] == datetime(2026, 3, 29, 1, 30, 0, 123_456, tzinfo=UTC)
    assert rows[3]["dt"] == datetime(2026, 3, 29, 1, 30, 0, 123_456, tzinfo=UTC).replace(
        tzinfo=None
    )


@pytest.mark.parametrize(
    "arrow_type",
    [
        pyarrow.timestamp("us", tz="UTC"),
        pyarrow.timestamp("us"),
        pyarrow.timestamp("us", tz="+00:00"),
        pyarrow.timestamp("us", tz="Europe/Paris"),
        pyarrow.timestamp("ns", tz="UTC"),
        pyarrow.timestamp("ms"),
    ],
)
def test_a_timestamp_column_of_any_unit_or_zone_gives_what_pyarrow_gives(arrow_type):
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    values = [start + timedelta(minutes=17 * i, microseconds=1000 * i) for i in range(300)]
    column = pyarrow.array([*values, None], type=pyarrow.timestamp("us", tz="UTC")).cast(arrow_type)

    assert same(column_values(column), column.to_pylist())


def test_a_sliced_batch_converts_only_its_rows():
    batch = google_batch({field["name"]: [None] * 4 for field in FIELDS})
    assert same(batch_rows(batch.slice(1, 2)), batch.slice(1, 2).to_pylist())
