"""Turns a page of BigQuery rows into profile or event rows, or rejections with a reason.

Pure: no database, no Django. Everything that could make PostgreSQL refuse a whole page
(NUL characters, unpaired surrogates, NaN in JSON, over-long identities) is caught here,
row by row, so one bad row is rejected instead of failing the page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
    from imports.models import Import

MAX_IDENTITY_LENGTH = 255  # audience.Profile.identity / Event.identity
MAX_EVENT_NAME_LENGTH = 255  # audience.Event.name
MAX_PROPERTIES = 255
MAX_PROPERTY_BYTES = 64 * 1024
MAX_REJECTED_VALUE_BYTES = 1024
MAX_REASON_LENGTH = 255  # imports.RejectedRow.reason

# A str of this many characters cannot exceed 64 KiB as JSON even if every character
# needs the longest escape (\u001f is six bytes), so most strings skip the exact measure.
_SAFE_STR_LENGTH = (MAX_PROPERTY_BYTES - 2) // 6

# Epoch integers are read as seconds, milliseconds or microseconds by magnitude:
# 1e11 s is the year 5138 and 1e11 ms is 1973, so the ranges do not overlap in practice.
_EPOCH_MS_FROM = 10**11
_EPOCH_US_FROM = 10**14
_EPOCH_US_UNTIL = 10**17

# How BigQuery's own JSON writes the FLOAT64 values JSON has no number for.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

Target = Literal["profiles", "events"]


class MappingError(ValueError):
    """The import's definition cannot map any row (a configuration error, not a row error)."""


class _Unstorable(ValueError):
    """A value PostgreSQL text or jsonb would refuse."""


@dataclass
class ProfileRow:
    identity: str
    properties: dict[str, Any]
    seen_at: datetime


@dataclass
class EventRow:
    identity: str
    name: str
    timestamp: datetime
    properties: dict[str, Any]
    dedupe_key: str
    # The properties as canonical JSON, when the mapping already encoded them for the key.
    properties_json: str = ""


@dataclass
class Rejection:
    row_number: int
    reason: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Mapping:
    """The parts of an Import that decide how one source row becomes a profile or event."""

    target: Target
    identity_column: str
    event_name_column: str = ""
    event_name_fixed: str = ""
    timestamp_column: str = ""
    # (source column, property name), in the order of the import's column mapping.
    properties: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_import(cls, import_obj: Import) -> Mapping:
        """Read the mapping once per run; raises MappingError when no row could be mapped."""
        target = import_obj.target
        if target not in ("profiles", "events"):
            raise MappingError(f"Unknown import target {target!r}.")
        identity_column = import_obj.identity_column or ""
        if not identity_column:
            raise MappingError("The import has no identity column.")
        event_name_column = ""
        event_name_fixed = ""
        timestamp_column = ""
        # Columns consumed by the row itself are not repeated as properties. A profile
        # import has no timestamp or event name, so any such column stays a property.
        consumed = {identity_column}
        if target == "events":
            event_name_column = import_obj.event_name_column or ""
            event_name_fixed = import_obj.event_name_fixed or ""
            timestamp_column = import_obj.timestamp_column or ""
            if not event_name_column and not event_name_fixed.strip():
                raise MappingError("An events import needs an event name column or a fixed name.")
            if len(event_name_fixed) > MAX_EVENT_NAME_LENGTH:
                raise MappingError("The fixed event name is longer than 255 characters.")
            if not timestamp_column:
                # Without a source timestamp, a replayed page would get new timestamps and
                # new dedupe keys, and write every event twice.
                raise MappingError("An events import needs a timestamp column.")
            consumed |= {event_name_column, timestamp_column} - {""}
        return cls(
            target=target,
            identity_column=identity_column,
            event_name_column=event_name_column,
            event_name_fixed=event_name_fixed,
            timestamp_column=timestamp_column,
            properties=tuple(_included_properties(import_obj.column_mapping, consumed)),
        )


def _included_properties(
    column_mapping: Iterable[Any] | None, consumed: set[str]
) -> Iterable[tuple[str, str]]:
    for entry in column_mapping or ():
        if not isinstance(entry, MappingABC):
            continue
        column = entry.get("column")
        if not isinstance(column, str) or not column or column in consumed:
            continue
        if not entry.get("include", True):
            continue
        name = entry.get("property")
        yield column, name if isinstance(name, str) and name else column


def map_page(
    mapping: Mapping,
    rows: Sequence[MappingABC[str, Any]],
    *,
    first_row_number: int,
    now: datetime,
) -> tuple[list[ProfileRow] | list[EventRow], list[Rejection]]:
    """Map one page; every row either maps or is rejected with a reason a person can act on.

    The i-th row of the page is numbered `first_row_number + i`. `now` becomes each
    profile's `seen_at`; events keep their source timestamp so replays dedupe.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    mapped: list[Any] = []
    rejected: list[Rejection] = []
    map_row = _map_event if mapping.target == "events" else _map_profile
    for offset, row in enumerate(rows):
        try:
            result = map_row(mapping, row, now)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # A safety net: the checks below should have said why already.
            result = f"Row could not be converted ({type(exc).__name__})"
        if isinstance(result, str):
            rejected.append(
                Rejection(
                    row_number=first_row_number + offset,
                    reason=_clip(result, MAX_REASON_LENGTH),
                    data=rejected_row_data(row),
                )
            )
        else:
            mapped.append(result)
    return mapped, rejected


def _map_profile(mapping: Mapping, row: MappingABC[str, Any], now: datetime) -> ProfileRow | str:
    identity = _identity(mapping, row)
    if not isinstance(identity, _Ok):
        return identity
    properties = _properties(mapping, row)
    if isinstance(properties, str):
        return properties
    return ProfileRow(identity=identity.value, properties=properties, seen_at=now)


def _map_event(mapping: Mapping, row: MappingABC[str, Any], now: datetime) -> EventRow | str:
    identity = _identity(mapping, row)
    if not isinstance(identity, _Ok):
        return identity
    name = _event_name(mapping, row)
    if not isinstance(name, _Ok):
        return name
    column = mapping.timestamp_column
    raw_timestamp = row.get(column)
    if raw_timestamp is None or (isinstance(raw_timestamp, str) and not raw_timestamp.strip()):
        return f"Missing timestamp in column {column}"
    timestamp = parse_timestamp(raw_timestamp)
    if timestamp is None:
        return f"Unparsable timestamp in column {column}: {_short_repr(raw_timestamp)}"
    properties = _properties(mapping, row)
    if isinstance(properties, str):
        return properties
    properties_json = canonical_json(properties)
    return EventRow(
        identity=identity.value,
        name=name.value,
        timestamp=timestamp,
        properties=properties,
        dedupe_key=_dedupe_key(identity.value, name.value, timestamp, properties_json),
        properties_json=properties_json,
    )


@dataclass(frozen=True, slots=True)
class _Ok:
    value: str


def _identity(mapping: Mapping, row: MappingABC[str, Any]) -> _Ok | str:
    column = mapping.identity_column
    value = _key_text(row.get(column))
    if value is None:
        return f"Missing identity in column {column}"
    if isinstance(value, TypeError):
        return f"Identity in column {column} must be text or an integer, not {value}"
    if len(value) > MAX_IDENTITY_LENGTH:
        return f"Identity in column {column} is longer than {MAX_IDENTITY_LENGTH} characters"
    if not _storable_text(value):
        return f"Identity in column {column} contains characters PostgreSQL cannot store"
    return _Ok(value)


def _event_name(mapping: Mapping, row: MappingABC[str, Any]) -> _Ok | str:
    column = mapping.event_name_column
    if not column:
        return _Ok(mapping.event_name_fixed)
    value = _key_text(row.get(column))
    if value is None:
        return f"Missing event name in column {column}"
    if isinstance(value, TypeError):
        return f"Event name in column {column} must be text or an integer, not {value}"
    if len(value) > MAX_EVENT_NAME_LENGTH:
        return f"Event name in column {column} is longer than {MAX_EVENT_NAME_LENGTH} characters"
    if not _storable_text(value):
        return f"Event name in column {column} contains characters PostgreSQL cannot store"
    return _Ok(value)


def _key_text(value: Any) -> str | TypeError | None:
    """Identity and event name as text: None when absent or blank, a TypeError when unusable."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return TypeError(type(value).__name__)


def _properties(mapping: Mapping, row: MappingABC[str, Any]) -> dict[str, Any] | str:
    # Every row of a mapping has the same columns, so this is really a limit on the
    # mapping; it is checked per row so the run still reports what it could not import.
    if len(mapping.properties) > MAX_PROPERTIES:
        return f"More than {MAX_PROPERTIES} properties"
    properties: dict[str, Any] = {}
    for column, name in mapping.properties:
        # An absent column (as opposed to NULL) is left out so it cannot clear a
        # profile's existing value.
        if column not in row:
            continue
        value = row[column]
        kind = type(value)
        # The common scalar types inline: this loop runs for every cell of the import.
        if value is None or kind is int or kind is bool:
            pass
        elif kind is float:
            if not math.isfinite(value):
                value = _NON_FINITE[repr(value)]
        elif kind is str and ("\x00" not in value) and value.isascii():
            if len(value) > _SAFE_STR_LENGTH and _json_size(value) > MAX_PROPERTY_BYTES:
                return f"Property {name} is larger than 64 KiB"
        else:
            try:
                value = json_safe(value)
            except _Unstorable as exc:
                return f"Property {name} {exc}"
            if _json_size_may_exceed(value) and _json_size(value) > MAX_PROPERTY_BYTES:
                return f"Property {name} is larger than 64 KiB"
        properties[name] = value
    return properties


def json_safe(value: Any) -> Any:
    """A JSON value PostgreSQL's jsonb accepts, converted from what the BigQuery client returns.

    datetime/date/time become ISO 8601 (aware datetimes in UTC); a Decimal stays a number
    when its shortest float text is the same decimal (so the JSON text is exact), else a
    string; bytes become base64; NaN and infinities, which JSON lacks, become strings.
    Raises _Unstorable for NUL characters and unpaired surrogates.
    """
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str:
        _check_text(value)
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else _NON_FINITE[repr(value)]
    if isinstance(value, str):
        return json_safe(str(value))
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return json_safe(float(value))
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, MappingABC):
        result = {}
        for key, item in value.items():
            text_key = key if isinstance(key, str) else str(json_safe(key))
            _check_text(text_key)
            result[text_key] = json_safe(item)
        return result
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    # Types the client rarely returns (an INTERVAL's relativedelta, a timedelta): keep
    # their text rather than losing the row.
    return json_safe(str(value))


def _decimal(value: Decimal) -> float | str:
    if not value.is_finite():
        return str(value)
    as_float = float(value)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise _Unstorable("contains a NUL character, which PostgreSQL cannot store")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Unstorable("contains text that is not valid Unicode") from None


def _storable_text(text: str) -> bool:
    try:
        _check_text(text)
    except _Unstorable:
        return False
    return True


def _json_size_may_exceed(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) > _SAFE_STR_LENGTH
    return isinstance(value, dict | list)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from a TIMESTAMP, DATETIME, DATE, ISO string or epoch number."""
    try:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float | Decimal):
            return _from_epoch(value)
        if isinstance(value, str):
            return _from_text(value.strip())
    except (ValueError, OverflowError, OSError, ArithmeticError):
        return None
    return None


def _from_epoch(value: float | Decimal) -> datetime | None:
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return None
    magnitude = abs(value)
    if magnitude >= _EPOCH_US_UNTIL:
        return None
    if magnitude >= _EPOCH_US_FROM:
        seconds = Decimal(value) / 1_000_000
    elif magnitude >= _EPOCH_MS_FROM:
        seconds = Decimal(value) / 1000
    else:
        seconds = Decimal(value)
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    return datetime.fromtimestamp(whole, tz=UTC) + timedelta(microseconds=micros)


def _from_text(text: str) -> datetime | None:
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return _from_epoch(int(text))
    # BigQuery's own text form of a TIMESTAMP ends in " UTC".
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_stdlib_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: what an event's dedupe key hashes and jsonb stores.

    orjson is an order of magnitude faster than the standard library, which matters
    for a function that runs once per imported event; the rare value it refuses (an
    integer beyond 64 bits) goes through the standard library instead.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return _stdlib_canonical(value)


def event_dedupe_key(
    identity: str, name: str, timestamp: datetime, properties: dict[str, Any]
) -> str:
    """Content hash: identical source rows give the same key, so a replay writes nothing."""
    return _dedupe_key(identity, name, timestamp, canonical_json(properties))


def _dedupe_key(identity: str, name: str, timestamp: datetime, properties_json: str) -> str:
    # The head is a complete JSON array, so head + properties cannot be read two ways.
    head = canonical_json([identity, name, (timestamp - _EPOCH) // _MICROSECOND])
    return hashlib.sha256((head + properties_json).encode()).hexdigest()


def rejected_row_data(row: MappingABC[str, Any]) -> dict[str, Any]:
    """The source row as JSON PostgreSQL will store, each value cut to 1 KiB."""
    data: dict[str, Any] = {}
    try:
        items = list(row.items())
    except (AttributeError, TypeError):
        return {"row": _clip_bytes(_scrub(repr(row)))}
    for key, value in items:
        data[_scrub(key if isinstance(key, str) else repr(key))] = _preview(value)
    return data


def _preview(value: Any) -> Any:
    if isinstance(value, str):
        return _clip_bytes(_scrub(value))
    try:
        safe = json_safe(value)
        text = json.dumps(safe, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (ValueError, TypeError, OverflowError, RecursionError):
        return _clip_bytes(_scrub(_short_repr(value, limit=MAX_REJECTED_VALUE_BYTES + 1)))
    if isinstance(safe, str):
        return _clip_bytes(safe)
    if isinstance(safe, dict | list) and len(text.encode("utf-8")) > MAX_REJECTED_VALUE_BYTES:
        return _clip_bytes(text)
    return safe


def _scrub(text: str) -> str:
    return (
        text.replace("\x00", "\ufffd")
        .encode("utf-8", errors="replace")
        .decode("utf-8", errors="replace")
    )


def _clip_bytes(text: str, limit: int = MAX_REJECTED_VALUE_BYTES) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr(value: Any, limit: int = 40) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that fails still deserves a reason
        text = f"<{type(value).__name__}>"
    return _clip(text, limit)
