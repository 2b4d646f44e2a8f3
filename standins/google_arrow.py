"""Arrow as BigQuery's Storage Read API sends it, made from the emulator's Arrow.

The emulator (DuckDB underneath) answers ReadRows with its own Arrow types; the storage
gate re-encodes each record batch by the table's BigQuery schema (tables.get) into the
types Google sends, so the app is tested against Google's encoding, not the emulator's:

=============  ================================================  =================================
BigQuery       Google's Arrow                                    the emulator sends
=============  ================================================  =================================
INT64          int64                                             int32 for small literals (CTAS)
FLOAT64        double                                            double
NUMERIC        decimal128(38, 9)                                 decimal128(38, 9)
BIGNUMERIC     decimal256(76, 38)                                decimal128(38, 18) (38, 38 ...)
STRING, BYTES  string, binary                                    the same
BOOL, DATE     bool, date32                                      the same
TIME           time64[us]                                        the same
TIMESTAMP      timestamp[us, tz=UTC]                             the same
DATETIME       timestamp[us], extension google:sqlType:datetime  no extension metadata
GEOGRAPHY      string (WKT), extension google:sqlType:geography  no extension metadata; in a
                                                                 STRUCT, WKB (geoarrow.wkb)
JSON           string, extension google:sqlType:json            no extension metadata
INTERVAL       month_day_nano_interval                           its canonical text at the top
                                                                 level, month_day_nano nested
RANGE<T>       struct<start: T, end: T>                          struct<__range_start,
                                                                 __range_end>, an unbounded
                                                                 bound typed int32
STRUCT, ARRAY  struct, list                                      the same
=============  ================================================  =================================

Sources for Google's column: "Supported protocol buffer and Arrow data types"
(https://cloud.google.com/bigquery/docs/supported-data-types), and google-cloud-bigquery's
own Arrow mapping, written "to map as closely to the BQ Storage API as possible"
(google/cloud/bigquery/_pyarrow_helpers.py: pyarrow_numeric() decimal128(38, 9),
pyarrow_bignumeric() decimal256(76, 38), pyarrow_datetime() timestamp("us", tz=None),
pyarrow_time() time64("us"), pyarrow_timestamp() timestamp("us", tz="UTC"), JSON as
string; _pandas_helpers.py: BQ_FIELD_TYPE_TO_ARROW_FIELD_METADATA with the extension names
google:sqlType:geography ({"encoding": "WKT"}), google:sqlType:datetime and
google:sqlType:json, and bq_to_arrow_range_data_type(): struct [("start", T), ("end", T)]).
INTERVAL as Arrow's MONTH_DAY_NANO interval keeps BigQuery's three parts (months, days,
time), which no other Arrow interval type does.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow

_LEGACY_NAMES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
_SCALARS = {
    "INT64": pyarrow.int64(),
    "FLOAT64": pyarrow.float64(),
    "NUMERIC": pyarrow.decimal128(38, 9),
    "BIGNUMERIC": pyarrow.decimal256(76, 38),
    "STRING": pyarrow.string(),
    "BYTES": pyarrow.binary(),
    "BOOL": pyarrow.bool_(),
    "DATE": pyarrow.date32(),
    "TIME": pyarrow.time64("us"),
    "TIMESTAMP": pyarrow.timestamp("us", tz="UTC"),
    "DATETIME": pyarrow.timestamp("us"),
    "GEOGRAPHY": pyarrow.string(),
    "JSON": pyarrow.string(),
    "INTERVAL": pyarrow.month_day_nano_interval(),
}
_EXTENSIONS = {
    "GEOGRAPHY": {
        b"ARROW:extension:name": b"google:sqlType:geography",
        b"ARROW:extension:metadata": b'{"encoding": "WKT"}',
    },
    "DATETIME": {b"ARROW:extension:name": b"google:sqlType:datetime"},
    "JSON": {b"ARROW:extension:name": b"google:sqlType:json"},
}
# BigQuery's canonical INTERVAL text, [sign]Y-M [sign]D [sign]H:M:S[.F].
_INTERVAL = re.compile(r"(-?)(\d+)-(\d+) (-?\d+) (-?)(\d+):(\d+):(\d+)(?:\.(\d*))?")


def _type_name(field: Mapping[str, Any]) -> str:
    name = str(field.get("type") or "").upper()
    return _LEGACY_NAMES.get(name, name)


def _repeated(field: Mapping[str, Any]) -> bool:
    return str(field.get("mode") or "").upper() == "REPEATED"


def _value_type(field: Mapping[str, Any]) -> pyarrow.DataType:
    kind = _type_name(field)
    if kind == "STRUCT":
        return pyarrow.struct([arrow_field(child) for child in field.get("fields") or ()])
    if kind == "RANGE":
        element = _SCALARS[_type_name(field.get("rangeElementType") or {"type": "DATE"})]
        return pyarrow.struct([("start", element), ("end", element)])
    return _SCALARS[kind]


def arrow_field(field: Mapping[str, Any]) -> pyarrow.Field:
    """The Arrow field Google sends for one BigQuery schema field (tables.get form)."""
    value_type = _value_type(field)
    arrow_type = pyarrow.list_(value_type) if _repeated(field) else value_type
    return pyarrow.field(
        field["name"],
        arrow_type,
        nullable=not _repeated(field),
        metadata=_EXTENSIONS.get(_type_name(field)),
    )


def google_schema(fields: Sequence[Mapping[str, Any]]) -> pyarrow.Schema:
    return pyarrow.schema([arrow_field(field) for field in fields])


def google_batch(
    batch: pyarrow.RecordBatch, fields: Sequence[Mapping[str, Any]], schema: pyarrow.Schema
) -> pyarrow.RecordBatch:
    """The emulator's record batch in Google's types (`schema` is google_schema(fields))."""
    by_name = {field["name"]: field for field in fields}
    arrays = [
        _convert(
            batch.column(batch.schema.get_field_index(target.name)),
            by_name[target.name],
            target.type,
        )
        for target in schema
    ]
    return pyarrow.RecordBatch.from_arrays(arrays, schema=schema)


def _unwrapped_cells(values: pyarrow.Array, field: Mapping[str, Any]) -> pyarrow.Array:
    """The elements of an ARRAY<JSON | GEOGRAPHY | INTERVAL>, which the emulator sends as
    its REST cells (struct<v: the cell's JSON text>), as plain strings. Keyed on the column's
    type and not on the shape: a real ARRAY<STRUCT<v STRING>> is data."""
    if not (
        _type_name(field) in ("JSON", "GEOGRAPHY", "INTERVAL")
        and pyarrow.types.is_struct(values.type)
        and [child.name for child in values.type] == ["v"]
    ):
        return values
    cells = values.field(0).to_pylist()
    return pyarrow.array(
        [None if cell is None else json.loads(cell) for cell in cells], type=pyarrow.string()
    )


def _convert(
    array: pyarrow.Array, field: Mapping[str, Any], target: pyarrow.DataType
) -> pyarrow.Array:
    if array.null_count == len(array) and not _repeated(field):
        return pyarrow.nulls(len(array), type=target)
    if _repeated(field):
        element = {**field, "mode": "NULLABLE"}
        values = _convert(_unwrapped_cells(array.values, field), element, target.value_type)
        offsets = array.offsets
        return pyarrow.ListArray.from_arrays(offsets, values, type=target, mask=array.is_null())
    kind = _type_name(field)
    if kind in ("STRUCT", "RANGE"):
        children = (
            [
                _convert(array.field(i), child, target.field(i).type)
                for i, child in enumerate(field.get("fields") or ())
            ]
            if kind == "STRUCT"
            else [_bound(array.field(i), target.field(i).type) for i in range(2)]
        )
        return pyarrow.StructArray.from_arrays(children, fields=list(target), mask=array.is_null())
    if kind == "GEOGRAPHY" and pyarrow.types.is_binary(array.type):
        return pyarrow.array(
            [None if wkb is None else wkt(wkb) for wkb in array.to_pylist()], type=target
        )
    if kind == "INTERVAL" and pyarrow.types.is_string(array.type):
        return pyarrow.array(
            [None if text is None else _interval(text) for text in array.to_pylist()],
            type=target,
        )
    if array.type != target:
        return array.cast(target)
    return array


def _bound(array: pyarrow.Array, target: pyarrow.DataType) -> pyarrow.Array:
    """A RANGE bound; the emulator types an always-unbounded one as int32."""
    if array.null_count == len(array):
        return pyarrow.nulls(len(array), type=target)
    return array if array.type == target else array.cast(target)


def _interval(text: str) -> tuple[int, int, int]:
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(f"not an INTERVAL: {text!r}")
    ym_sign, years, months, days, time_sign, hours, minutes, seconds, fraction = match.groups()
    total_months = (-1 if ym_sign else 1) * (int(years) * 12 + int(months))
    nanos = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 1_000_000_000
    nanos += int((fraction or "")[:9].ljust(9, "0"))
    return total_months, int(days), (-1 if time_sign else 1) * nanos


# WKB geometry types (ISO, two dimensions), as GEOGRAPHY uses them.
_GEOMETRIES = {
    1: "POINT",
    2: "LINESTRING",
    3: "POLYGON",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    6: "MULTIPOLYGON",
    7: "GEOMETRYCOLLECTION",
}


def wkt(wkb: bytes) -> str:
    """A GEOGRAPHY's WKB (what the emulator sends for one nested in a STRUCT) as the WKT
    text the emulator's REST answer and its top-level Arrow give for it: DuckDB spatial's
    ST_AsText without a space before a parenthesis, each coordinate in its shortest form
    ("POINT(1 2)", "POINT(1e-07 37.422)")."""
    text, end = _geometry(memoryview(wkb), 0)
    if end != len(wkb):
        raise ValueError("trailing bytes after a WKB geometry")
    return text


def _geometry(wkb: memoryview, at: int) -> tuple[str, int]:
    order = "<" if wkb[at] == 1 else ">"
    (kind,) = struct.unpack_from(f"{order}I", wkb, at + 1)
    at += 5
    name = _GEOMETRIES.get(kind)
    if name is None:
        raise ValueError(f"unsupported WKB geometry type {kind}")
    if name == "POINT":
        x, y = struct.unpack_from(f"{order}dd", wkb, at)
        body = "EMPTY" if math.isnan(x) and math.isnan(y) else f"({_number(x)} {_number(y)})"
        return _tagged(name, body), at + 16
    (count,) = struct.unpack_from(f"{order}I", wkb, at)
    at += 4
    if name in ("LINESTRING", "POLYGON"):
        parts = []
        for _ in range(count):
            if name == "LINESTRING":
                x, y = struct.unpack_from(f"{order}dd", wkb, at)
                parts.append(f"{_number(x)} {_number(y)}")
                at += 16
                continue
            (points,) = struct.unpack_from(f"{order}I", wkb, at)
            at += 4
            coordinates = struct.unpack_from(f"{order}{2 * points}d", wkb, at)
            at += 16 * points
            pairs = zip(coordinates[::2], coordinates[1::2], strict=True)
            parts.append("(" + ", ".join(f"{_number(x)} {_number(y)}" for x, y in pairs) + ")")
        return _tagged(name, f"({', '.join(parts)})" if parts else "EMPTY"), at
    members = []
    for _ in range(count):
        member, at = _geometry(wkb, at)
        members.append(member)
    if name != "GEOMETRYCOLLECTION":
        # A MULTI* lists its members' bodies: MULTIPOINT((0 0), (1 1)) is written (0 0, 1 1).
        bodies = [member.split("(", 1)[1][:-1] if "(" in member else member for member in members]
        if name == "MULTIPOINT":
            members = bodies
        else:
            members = [f"({body})" for body in bodies]
    return _tagged(name, f"({', '.join(members)})" if members else "EMPTY"), at


def _tagged(name: str, body: str) -> str:
    return f"{name} {body}" if body == "EMPTY" else f"{name}{body}"


def _number(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text
