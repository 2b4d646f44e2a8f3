"""The one type contract: the stored JSON form of every BigQuery type.

A value is converted by its column's BigQuery type, as the result table's schema gives it,
never by the Python type it arrived as. Both read paths deliver Google's documented wire
forms: REST paging (tabledata.list) sends every scalar as a string inside the f/v JSON
(with ``formatOptions.useInt64Timestamp``), the Storage Read API sends Arrow (NUMERIC as
decimal128(38, 9), BIGNUMERIC as decimal256(76, 38), JSON and GEOGRAPHY as strings,
INTERVAL as month_day_nano, RANGE as struct<start, end>). Each type has one decoder per
wire, and both end in the same stored JSON, so a row is stored byte for byte alike
whichever path a run took. README ("How BigQuery types land") lists the forms and why.

Pure: no database, no Django, no Google library.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Literal

Wire = Literal["rest", "arrow"]
Converter = Callable[[Any], Any]

# GoogleSQL names for the legacy names the REST API reports.
_LEGACY_NAMES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}

# Wide enough for every digit of a BIGNUMERIC (77 of them, 38 after the point): the
# default context (28 digits) would round while normalising.
_DECIMALS = Context(prec=200, Emax=999_999, Emin=-999_999)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NON_FINITE = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}
_FLOAT_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

# BigQuery's canonical INTERVAL text: [sign]Y-M [sign]D [sign]H:M:S[.F]
# (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#interval_type).
_INTERVAL = re.compile(
    r"(?P<ym_sign>-?)(?P<years>\d+)-(?P<months>\d+) (?P<days>-?\d+) "
    r"(?P<time_sign>-?)(?P<hours>\d+):(?P<minutes>\d+):(?P<seconds>\d+)(?:\.(?P<fraction>\d*))?"
)
_NANOS_PER_SECOND = 1_000_000_000


def type_name(bq_type: str) -> str:
    """The GoogleSQL name of a column type (INTEGER -> INT64, RECORD -> STRUCT, ...)."""
    upper = (bq_type or "").upper()
    return _LEGACY_NAMES.get(upper, upper)


class Unstorable(ValueError):
    """A value that cannot be stored. The text completes "Property <name> ...": it says why."""


@dataclass(frozen=True)
class Field:
    """One column (or STRUCT field) of a BigQuery schema, as far as storing needs it."""

    name: str
    type: str
    repeated: bool = False
    fields: tuple[Field, ...] = ()
    element_type: str = ""  # RANGE<element_type>

    @classmethod
    def from_api(cls, resource: Mapping[str, Any]) -> Field:
        """From a schema field as tables.get gives it (and Import.source_schema keeps it)."""
        range_type = resource.get("rangeElementType") or {}
        return cls(
            name=str(resource.get("name") or ""),
            type=type_name(str(resource.get("type") or "")),
            repeated=str(resource.get("mode") or "").upper() == "REPEATED",
            fields=tuple(cls.from_api(f) for f in resource.get("fields") or ()),
            element_type=type_name(str(range_type.get("type") or ""))
            if isinstance(range_type, Mapping)
            else "",
        )

    @property
    def label(self) -> str:
        """The full type in GoogleSQL's words: ARRAY<STRUCT<id INT64, tags ARRAY<STRING>>>."""
        if self.type == "STRUCT" and self.fields:
            inner = f"STRUCT<{', '.join(f'{f.name} {f.label}' for f in self.fields)}>"
        elif self.type == "RANGE" and self.element_type:
            inner = f"RANGE<{self.element_type}>"
        else:
            inner = self.type
        return f"ARRAY<{inner}>" if self.repeated else inner


def schema_fields(schema: Iterable[Mapping[str, Any]]) -> tuple[Field, ...]:
    return tuple(Field.from_api(item) for item in schema or () if isinstance(item, Mapping))


# -- the stored forms -----------------------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """NUMERIC and BIGNUMERIC as BigQuery prints them: every digit, no exponent, no trailing
    zeros after the point ('0.1', '20', '0.00000000000000000000000000000000000001')."""
    if not value.is_finite():
        raise Unstorable(f"is not a finite number ({value})")
    text = format(value.normalize(_DECIMALS), "f")
    return "0" if text == "-0" else text


def timestamp_text(value: dt.datetime) -> str:
    """TIMESTAMP as ISO 8601 in UTC: 2024-06-01T07:00:00+00:00, 2024-06-01T07:00:00.500000+00:00
    (six digits of fraction when there is one, so that text order is time order)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """INTERVAL as an ISO 8601 duration that keeps BigQuery's three parts apart, each with
    its own sign: P1Y2M3DT4H5M6.789S, P-1Y-2M, PT25H (25 hours is not a day and an hour)."""
    parts = ["P"]
    if months:
        sign = "-" if months < 0 else ""
        years, rest = divmod(abs(months), 12)
        if years:
            parts.append(f"{sign}{years}Y")
        if rest:
            parts.append(f"{sign}{rest}M")
    if days:
        parts.append(f"{days}D")
    if nanoseconds:
        sign = "-" if nanoseconds < 0 else ""
        hours, rest = divmod(abs(nanoseconds), 3600 * _NANOS_PER_SECOND)
        minutes, rest = divmod(rest, 60 * _NANOS_PER_SECOND)
        seconds, fraction = divmod(rest, _NANOS_PER_SECOND)
        parts.append("T")
        if hours:
            parts.append(f"{sign}{hours}H")
        if minutes:
            parts.append(f"{sign}{minutes}M")
        if seconds or fraction:
            digits = f".{fraction:09d}".rstrip("0") if fraction else ""
            parts.append(f"{sign}{seconds}{digits}S")
    return "".join(parts) if len(parts) > 1 else "PT0S"


def float_value(value: float) -> float | str:
    """FLOAT64 as a JSON number; NaN and the infinities, which JSON has no number for, as
    the strings BigQuery's own JSON uses."""
    if math.isfinite(value):
        return value
    return _FLOAT_NAMES[repr(value)]


def check_text(text: str) -> str:
    """Text PostgreSQL can store (no NUL, valid Unicode), or Unstorable."""
    if "\x00" in text:
        raise Unstorable("contains a NUL character, which PostgreSQL cannot store")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Unstorable("contains text that is not valid Unicode") from None
    return text


def _check_json(value: Any) -> Any:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)
    return value


def _no_constants(name: str) -> Any:
    raise Unstorable(f"is JSON with {name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise Unstorable(f"is JSON with a number beyond FLOAT64 ({text[:40]})")
    return number


def json_value(text: str) -> Any:
    """A JSON column's text parsed, as the JSON it is (SQL NULL and JSON null both store as
    null). Integers keep every digit; BigQuery keeps JSON numbers within INT64, UINT64 and
    FLOAT64, which Python's parser reads exactly. A number beyond FLOAT64 (1e400), which
    Python would read as infinity, has no stored form: its row is rejected."""
    return _check_json(json.loads(text, parse_constant=_no_constants, parse_float=_finite_float))


# -- REST (tabledata.list) decoders: every scalar is a string --------------------------------------


def _rest_string(value: str) -> str:
    if value.isascii() and "\x00" not in value:
        return value
    return check_text(value)


def _rest_bytes(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unstorable("is not valid base64 BYTES") from None
    return base64.b64encode(raw).decode("ascii")


def _rest_float(value: str) -> float | str:
    if value in _NON_FINITE:
        return value
    return float_value(float(value))


def _rest_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "t", "1"):
        return True
    if lowered in ("false", "f", "0"):
        return False
    raise Unstorable(f"is not a BOOL ({value[:20]!r})")


def _rest_timestamp(value: str) -> str:
    # Integer microseconds (useInt64Timestamp); older answers send float seconds ("1.7E9").
    if value.lstrip("-").isdigit():
        micros = int(value)
    else:
        micros = int(Decimal(value) * 1_000_000)
    return timestamp_text(_EPOCH + dt.timedelta(microseconds=micros))


def _rest_date(value: str) -> str:
    return dt.date.fromisoformat(value).isoformat()


def _rest_time(value: str) -> str:
    return dt.time.fromisoformat(value).isoformat()


def _rest_datetime(value: str) -> str:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise Unstorable(f"is a DATETIME with a time zone ({value[:40]!r})")
    return parsed.isoformat()


def parse_interval(text: str) -> tuple[int, int, int]:
    """(months, days, nanoseconds) from BigQuery's canonical INTERVAL text."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise Unstorable(f"is not an INTERVAL in BigQuery's form ({text[:40]!r})")
    ym_sign = -1 if match["ym_sign"] else 1
    months = ym_sign * (int(match["years"]) * 12 + int(match["months"]))
    time_sign = -1 if match["time_sign"] else 1
    fraction = (match["fraction"] or "")[:9].ljust(9, "0")
    seconds = int(match["hours"]) * 3600 + int(match["minutes"]) * 60 + int(match["seconds"])
    nanos = time_sign * (seconds * _NANOS_PER_SECOND + int(fraction))
    return months, int(match["days"]), nanos


def _rest_interval(value: str) -> str:
    return interval_text(*parse_interval(value))


def _rest_json(value: str) -> Any:
    return json_value(value)


def _rest_numeric(value: str) -> str:
    try:
        return decimal_text(Decimal(value))
    except InvalidOperation:
        raise Unstorable(f"is not a decimal number ({value[:40]!r})") from None


_REST_SCALARS: dict[str, Converter] = {
    "STRING": _rest_string,
    "GEOGRAPHY": _rest_string,
    "BYTES": _rest_bytes,
    "INT64": int,
    "FLOAT64": _rest_float,
    "NUMERIC": _rest_numeric,
    "BIGNUMERIC": _rest_numeric,
    "BOOL": _rest_bool,
    "TIMESTAMP": _rest_timestamp,
    "DATE": _rest_date,
    "TIME": _rest_time,
    "DATETIME": _rest_datetime,
    "INTERVAL": _rest_interval,
    "JSON": _rest_json,
}


def _rest_range(element: Converter) -> Converter:
    # "[2024-01-01, UNBOUNDED)"; TIMESTAMP bounds are integer microseconds.
    def convert(value: str) -> dict[str, Any]:
        if not (value.startswith("[") and value.endswith(")")) or ", " not in value:
            raise Unstorable(f"is not a RANGE in BigQuery's form ({value[:40]!r})")
        start, end = value[1:-1].split(", ", 1)
        return {
            "start": None if start == "UNBOUNDED" else element(start),
            "end": None if end == "UNBOUNDED" else element(end),
        }

    return convert


def _rest_struct(fields: tuple[tuple[str, Converter], ...]) -> Converter:
    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        cells = value["f"]
        return {name: field(cell["v"]) for (name, field), cell in zip(fields, cells, strict=True)}

    return convert


# -- Arrow (Storage Read API) decoders: the Python values pyarrow gives --------------------------


def _arrow_string(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    if value.isascii() and "\x00" not in value:
        return value
    return check_text(value)


def _arrow_bytes(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _arrow_int(value: int) -> int:
    if type(value) is not int:
        raise TypeError(type(value).__name__)
    return value


def _arrow_float(value: float) -> float | str:
    return float_value(float(value))


def _arrow_numeric(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(type(value).__name__)
    return decimal_text(value)


def _arrow_bool(value: bool) -> bool:
    if type(value) is not bool:
        raise TypeError(type(value).__name__)
    return value


def _arrow_timestamp(value: dt.datetime) -> str:
    if not isinstance(value, dt.datetime):
        raise TypeError(type(value).__name__)
    return timestamp_text(value)


def _arrow_date(value: dt.date) -> str:
    if type(value) is not dt.date:
        raise TypeError(type(value).__name__)
    return value.isoformat()


def _arrow_time(value: dt.time) -> str:
    if not isinstance(value, dt.time):
        raise TypeError(type(value).__name__)
    return value.isoformat()


def _arrow_datetime(value: dt.datetime) -> str:
    if not isinstance(value, dt.datetime) or value.tzinfo is not None:
        raise TypeError(type(value).__name__)
    return value.isoformat()


def _arrow_interval(value: Any) -> str:
    # pyarrow's MonthDayNano(months, days, nanoseconds) for month_day_nano_interval.
    months, days, nanoseconds = value.months, value.days, value.nanoseconds
    return interval_text(int(months), int(days), int(nanoseconds))


def _arrow_json(value: str) -> Any:
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    return json_value(value)


_ARROW_SCALARS: dict[str, Converter] = {
    "STRING": _arrow_string,
    "GEOGRAPHY": _arrow_string,
    "BYTES": _arrow_bytes,
    "INT64": _arrow_int,
    "FLOAT64": _arrow_float,
    "NUMERIC": _arrow_numeric,
    "BIGNUMERIC": _arrow_numeric,
    "BOOL": _arrow_bool,
    "TIMESTAMP": _arrow_timestamp,
    "DATE": _arrow_date,
    "TIME": _arrow_time,
    "DATETIME": _arrow_datetime,
    "INTERVAL": _arrow_interval,
    "JSON": _arrow_json,
}


def _arrow_range(element: Converter) -> Converter:
    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        start, end = value["start"], value["end"]
        return {
            "start": None if start is None else element(start),
            "end": None if end is None else element(end),
        }

    return convert


def _arrow_struct(fields: tuple[tuple[str, Converter], ...]) -> Converter:
    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        return {name: field(value[name]) for name, field in fields}

    return convert


# -- compiling a column's converter ----------------------------------------------------------------


def converter(field: Field, wire: Wire) -> Converter:
    """The function that turns one wire value of `field` into its stored JSON form.

    It raises Unstorable (with a reason) for a value that cannot be stored, and TypeError,
    ValueError or KeyError for one that is not in the wire form the type documents.
    """
    single = _single(field, wire)

    def nullable(value: Any) -> Any:
        return None if value is None else single(value)

    if not field.repeated:
        return nullable
    if wire == "rest":

        def rest_array(value: Any) -> list[Any]:
            # An ARRAY is never NULL in BigQuery: no elements is an empty list.
            return [] if value is None else [nullable(item["v"]) for item in value]

        return rest_array

    def arrow_array(value: Any) -> list[Any]:
        return [] if value is None else [nullable(item) for item in value]

    return arrow_array


def _single(field: Field, wire: Wire) -> Converter:
    if field.type == "STRUCT":
        parts = tuple((f.name, converter(f, wire)) for f in field.fields)
        return _rest_struct(parts) if wire == "rest" else _arrow_struct(parts)
    if field.type == "RANGE":
        element = _single(Field(name="", type=field.element_type or "DATE"), wire)
        return _rest_range(element) if wire == "rest" else _arrow_range(element)
    scalars = _REST_SCALARS if wire == "rest" else _ARROW_SCALARS
    known = scalars.get(field.type)
    if known is not None:
        return known
    unknown = f"has the type {field.type or '(none)'}, which this version cannot store"

    def refuse(value: Any) -> Any:
        raise Unstorable(unknown)

    return refuse
