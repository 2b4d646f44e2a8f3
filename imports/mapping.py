"""Turns a page of BigQuery rows into profile or event rows, or rejections with a reason.

Pure: no database, no Django. Values are converted by their column's BigQuery type
(imports.type_contract), so both read paths store the same JSON. Everything that could make
PostgreSQL refuse a whole page (NUL characters, unpaired surrogates, over-long identities,
times out of range) is caught here, row by row, so one bad row is rejected instead of
failing the page.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from audience.rows import EventRow, ProfileRow, canonical_json_bytes
from imports import property_casts
from imports.type_contract import Converter, Field, Unstorable, Wire, converter, schema_fields

if TYPE_CHECKING:
    from imports.models import Import

MAX_IDENTITY_LENGTH = 1024  # audience.Profile.identity / Event.identity, as CleverTap allows
# PostgreSQL's B-tree index entries hold at most 2,704 bytes, and (workspace, identity) is
# indexed: 1,024 characters of Chinese or emoji (3 or 4 bytes each) would fail the whole page.
MAX_IDENTITY_BYTES = 2600
MAX_EVENT_ID_LENGTH = 1024
MAX_EVENT_NAME_LENGTH = 255  # audience.Event.name
MAX_PROPERTIES = 255
MAX_PROPERTY_BYTES = 64 * 1024
MAX_REJECTED_VALUE_BYTES = 1024
MAX_REASON_LENGTH = 255  # imports.RejectedRow.reason

# A str of this many characters cannot exceed 64 KiB as JSON even if every character
# needs the longest escape (\u001f is six bytes), so most strings skip the exact measure.
_SAFE_STR_LENGTH = (MAX_PROPERTY_BYTES - 2) // 6

IDENTITY_TYPES = frozenset({"STRING", "INT64"})
EVENT_NAME_TYPES = frozenset({"STRING", "INT64"})
TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "DATETIME", "DATE", "INT64"})
# Event times from these types are wall-clock times: they need the source's time zone.
ZONED_TIMESTAMP_TYPES = frozenset({"DATETIME", "DATE"})
TIMESTAMP_UNITS = {"seconds": 1_000_000, "milliseconds": 1_000, "microseconds": 1}

Target = Literal["profiles", "events"]
_TARGETS: dict[str, Target] = {"profiles": "profiles", "events": "events"}
_ROW_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError)


class MappingError(ValueError):
    """The import's definition cannot map any row (a configuration error, not a row error)."""


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
    # The source's schema: at run time the result table's, which decides every conversion.
    columns: tuple[Field, ...] = field(default_factory=tuple)
    # IANA zone of the source's DATETIME or DATE event times; the unit of INT64 ones.
    source_time_zone: str = ""
    timestamp_unit: str = ""
    # (property name, type) the workspace keeps; a property of another type here is cast.
    property_types: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # An incremental run's time cursor and the highest value it accepts (its window's upper
    # bound; None when the window holds only rows from the future): a row past it is
    # future-dated and rejected, so it neither lands nor moves the watermark.
    cursor_column: str = ""
    cursor_ceiling: dt.datetime | dt.date | None = None
    # Events with an ID column deduplicate by it (see event_id_dedupe_key).
    event_id_column: str = ""
    # Applied to every identity before it is checked and written.
    identity_trim: bool = False
    identity_lowercase: bool = False

    @classmethod
    def from_import(
        cls,
        import_obj: Import,
        *,
        columns: Iterable[Field] | None = None,
        property_types: MappingABC[str, str] | None = None,
    ) -> Mapping:
        """Read the mapping once per run; raises MappingError when no row could be mapped.

        `columns` is the schema rows will arrive in (the run's result table); without it,
        the schema the import was created with.
        """
        target = _TARGETS.get(import_obj.target)
        if target is None:
            raise MappingError(f"Unknown import target {import_obj.target!r}.")
        identity_column = import_obj.identity_column or ""
        if not identity_column:
            raise MappingError("The import has no identity column.")
        schema = tuple(columns) if columns is not None else schema_fields(import_obj.source_schema)
        by_name = {column.name: column for column in schema}
        _require(by_name, identity_column, "identity", IDENTITY_TYPES)
        event_name_column = ""
        event_name_fixed = ""
        timestamp_column = ""
        event_id_column = ""
        zone = ""
        unit = ""
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
            if event_name_column:
                _require(by_name, event_name_column, "event name", EVENT_NAME_TYPES)
            kind = _require(by_name, timestamp_column, "timestamp", TIMESTAMP_TYPES)
            # The event ID column stays a property when it is mapped as one: the ID is then
            # visible on the stored event.
            event_id_column = getattr(import_obj, "event_id_column", "") or ""
            if event_id_column:
                _require(by_name, event_id_column, "event ID", IDENTITY_TYPES)
            zone, unit = _time_settings(import_obj, timestamp_column, kind)
            consumed |= {event_name_column, timestamp_column} - {""}
        return cls(
            target=target,
            identity_column=identity_column,
            event_name_column=event_name_column,
            event_name_fixed=event_name_fixed,
            timestamp_column=timestamp_column,
            properties=tuple(_included_properties(import_obj.column_mapping, consumed)),
            columns=schema,
            source_time_zone=zone,
            timestamp_unit=unit,
            property_types=tuple(sorted((property_types or {}).items())),
            event_id_column=event_id_column,
            identity_trim=bool(getattr(import_obj, "identity_trim", False)),
            identity_lowercase=bool(getattr(import_obj, "identity_lowercase", False)),
        )

    def property_type_labels(self) -> dict[str, str]:
        """The type this mapping gives each of its properties (by the source's columns)."""
        by_name = {column.name: column for column in self.columns}
        return {
            name: by_name[column].label for column, name in self.properties if column in by_name
        }


def _require(by_name: dict[str, Field], column: str, role: str, types: frozenset[str]) -> str:
    """The type of the column in that role, or MappingError when the source has no such
    column (of a fitting type) any more."""
    if not by_name:
        return ""  # no schema known: the rows decide
    found = by_name.get(column)
    if found is None:
        raise MappingError(f"The source has no column {column} (the {role} column) any more.")
    if found.repeated or found.type not in types:
        allowed = ", ".join(sorted(types))
        raise MappingError(
            f"The {role} column {column} is {found.label} in the source; it must be one of "
            f"{allowed}."
        )
    return found.type


def _time_settings(import_obj: Import, column: str, kind: str) -> tuple[str, str]:
    zone = getattr(import_obj, "source_time_zone", "") or ""
    unit = getattr(import_obj, "timestamp_unit", "") or ""
    if kind in ZONED_TIMESTAMP_TYPES:
        if not zone:
            raise MappingError(
                f"The timestamp column {column} is {kind}, a time without a time zone: choose "
                "the source time zone its times are in."
            )
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"The source time zone {zone!r} is not a known time zone.") from None
    if kind == "INT64" and unit not in TIMESTAMP_UNITS:
        raise MappingError(
            f"The timestamp column {column} is INT64: choose whether it counts seconds, "
            "milliseconds or microseconds since 1970-01-01 (Edit the import)."
        )
    return zone, unit


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
    wire: Wire,
    first_row_number: int,
    now: datetime,
) -> tuple[list[ProfileRow] | list[EventRow], list[Rejection]]:
    """Map one page read in `wire` form ("rest" or "arrow"); every row either maps or is
    rejected with a reason a person can act on.

    The i-th row of the page is numbered `first_row_number + i`. `now` becomes each
    profile's `seen_at`; events keep their source timestamp so replays dedupe.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    compiled = _compile(mapping, wire)
    mapped: list[Any] = []
    rejected: list[Rejection] = []
    map_row = compiled.event if mapping.target == "events" else compiled.profile
    for offset, row in enumerate(rows):
        try:
            mapped.append(map_row(row, now))
            continue
        except _Refused as refused:
            reason = refused.reason
        except _ROW_ERRORS as exc:
            # A safety net: the checks below should have said why already.
            reason = f"Row could not be converted ({type(exc).__name__})"
        rejected.append(
            Rejection(
                row_number=first_row_number + offset,
                reason=_clip(reason, MAX_REASON_LENGTH),
                data=compiled.rejected_data(row),
            )
        )
    return mapped, rejected


@functools.lru_cache(maxsize=16)
def _compile(mapping: Mapping, wire: Wire) -> _PageMapper:
    return _PageMapper(mapping, wire)


class _Refused(Exception):
    """The row is rejected, for this reason (raised from deep in a row, caught per row)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# A column the row does not have (as opposed to one that is NULL).
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class _Property:
    column: str
    name: str
    convert: Converter
    cast: property_casts.Cast | None
    source_type: str
    kept_type: str
    # The Python type whose values are stored as they arrive (a STRING column's str when
    # it is short, ASCII and without NUL; an Arrow INT64's int): the common case skips the
    # converter. None when every value goes through it.
    as_is: type | None = None


class _PageMapper:
    """A mapping compiled for one wire form: one converter per column, chosen once."""

    def __init__(self, mapping: Mapping, wire: Wire) -> None:
        self.mapping = mapping
        by_name = {column.name: column for column in mapping.columns}
        self.by_name = by_name
        self.converters = {name: converter(column, wire) for name, column in by_name.items()}
        self.types = {name: column.type for name, column in by_name.items()}
        kept = dict(mapping.property_types)
        self.properties = []
        for column, name in mapping.properties:
            if column not in by_name:
                continue  # not in the source any more: left out, like an absent column
            source_type = by_name[column].label
            kept_type = kept.get(name, source_type)
            self.properties.append(
                _Property(
                    column=column,
                    name=name,
                    convert=self.converters[column],
                    cast=property_casts.caster(source_type, kept_type),
                    source_type=source_type,
                    kept_type=kept_type,
                    as_is=_stored_as_is(source_type, kept_type, wire),
                )
            )
        self.property_plan = tuple((p.column, p.name, p.as_is, p) for p in self.properties)
        # Identity and event name columns whose plain text is stored as it arrives.
        self.text_columns = frozenset(
            name for name, column in by_name.items() if column.label in _TEXT_TYPES
        )
        self.timestamp = _timestamp_reader(mapping, self.types.get(mapping.timestamp_column, ""))
        time_column = by_name.get(mapping.timestamp_column)
        # The Storage Read API gives a TIMESTAMP column as datetimes (see event).
        self.arrow_timestamp = (
            wire == "arrow"
            and time_column is not None
            and time_column.type == "TIMESTAMP"
            and not time_column.repeated
        )

    # -- rows ----------------------------------------------------------------------------------

    def profile(self, row: MappingABC[str, Any], now: datetime) -> ProfileRow:
        """The row's profile; raises _Refused with the reason it cannot be imported."""
        self._check_cursor(row)
        identity = self._identity(row)
        properties = self._properties(row)
        return ProfileRow(identity, properties, now, canonical_json_bytes(properties).decode())

    def event(self, row: MappingABC[str, Any], now: datetime) -> EventRow:
        """The row's event; raises _Refused with the reason it cannot be imported."""
        if self.mapping.cursor_column:
            self._check_cursor(row)
        mapping = self.mapping
        identity = self._identity(row)
        if mapping.event_name_column:
            name = self._key(row, mapping.event_name_column, "Event name", MAX_EVENT_NAME_LENGTH)
        else:
            name = mapping.event_name_fixed
        event_id = None
        if mapping.event_id_column:
            event_id = self._key(row, mapping.event_id_column, "Event ID", MAX_EVENT_ID_LENGTH)
        timestamp = self._timestamp(row)
        properties = self._properties(row)
        properties_json = canonical_json_bytes(properties)
        if event_id is None:
            key = _dedupe_key(identity, name, timestamp, properties_json)
        else:
            key = event_id_dedupe_key(event_id)
        # Positional arguments: under half the cost of keywords, once per event.
        return EventRow(identity, name, timestamp, properties, key, properties_json.decode())

    def _timestamp(self, row: MappingABC[str, Any]) -> datetime:
        column = self.mapping.timestamp_column
        raw = row.get(column)
        if raw is None:
            raise _Refused(f"Missing timestamp in column {column}")
        if self.arrow_timestamp and type(raw) is datetime and raw.tzinfo in _UTC_ZONES:
            # The instant itself: what the stored form (its ISO text in UTC) parses back
            # to, without writing and parsing the text. astimezone gives the same datetime
            # as replace(tzinfo=UTC, fold=0) for a zone that is UTC, in half the time.
            if raw.tzinfo is None or raw.fold:
                return raw.replace(tzinfo=UTC, fold=0)
            return raw.astimezone(UTC)
        try:
            stored = self.converters[column](raw)
        except Unstorable as exc:
            raise _Refused(f"Timestamp in column {column} {exc}") from None
        except _ROW_ERRORS:
            reason = _unreadable(f"Timestamp in column {column}", self.types.get(column, ""), raw)
            raise _Refused(reason) from None
        timestamp = self.timestamp(stored)
        if isinstance(timestamp, str):
            raise _Refused(timestamp)
        return timestamp

    def _check_cursor(self, row: MappingABC[str, Any]) -> None:
        """Refuse the row when its cursor is future-dated."""
        column = self.mapping.cursor_column
        if not column or row.get(column) is None:
            return
        stored = self.converters[column](row[column])
        ceiling = self.mapping.cursor_ceiling
        value: dt.date = (
            dt.date.fromisoformat(stored)
            if self.types.get(column) == "DATE"
            else datetime.fromisoformat(stored)
        )
        if ceiling is not None and value <= ceiling:
            return
        raise _Refused(
            f"Cursor {column} is {stored}, more than 1 hour after the run started: "
            "future-dated rows are not imported and do not move the watermark"
        )

    def _identity(self, row: MappingABC[str, Any]) -> str:
        column = self.mapping.identity_column
        text = self._key(row, column, "Identity", MAX_IDENTITY_LENGTH, normalize=True)
        if not text.isascii() and len(text.encode()) > MAX_IDENTITY_BYTES:
            raise _Refused(
                f"Identity in column {column} is longer than {MAX_IDENTITY_BYTES:,} bytes"
            )
        return text

    def _key(
        self,
        row: MappingABC[str, Any],
        column: str,
        what: str,
        limit: int,
        *,
        normalize: bool = False,
    ) -> str:
        """Identity, event name or event ID as text (STRING as it is, INT64 as digits)."""
        raw = row.get(column)
        if type(raw) is str and column in self.text_columns and raw.isascii() and "\x00" not in raw:
            text = raw  # what the converter would give
        else:
            text = self._key_text(raw, column, what)
        if normalize:
            if self.mapping.identity_trim:
                text = text.strip()
            if self.mapping.identity_lowercase:
                text = text.lower()
        if not text.strip():
            raise _Refused(f"Missing {what[0].lower()}{what[1:]} in column {column}")
        if len(text) > limit:
            raise _Refused(f"{what} in column {column} is longer than {limit:,} characters")
        return text

    def _key_text(self, raw: Any, column: str, what: str) -> str:
        if raw is None:
            raise _Refused(f"Missing {what[0].lower()}{what[1:]} in column {column}")
        try:
            value = self.converters[column](raw)
        except Unstorable:
            raise _Refused(
                f"{what} in column {column} contains characters PostgreSQL cannot store"
            ) from None
        except _ROW_ERRORS:
            reason = _unreadable(f"{what} in column {column}", self.types.get(column, ""), raw)
            raise _Refused(reason) from None
        text = str(value) if type(value) is int else value
        if not isinstance(text, str):
            raise _Refused(f"{what} in column {column} must be text or an integer")
        return text

    def _properties(self, row: MappingABC[str, Any]) -> dict[str, Any]:
        # Every row of a mapping has the same columns, so this is really a limit on the
        # mapping; it is checked per row so the run still reports what it could not import.
        if len(self.properties) > MAX_PROPERTIES:
            raise _Refused(f"More than {MAX_PROPERTIES} properties")
        properties: dict[str, Any] = {}
        get = row.get
        for column, name, as_is, prop in self.property_plan:
            raw = get(column, _ABSENT)
            if type(raw) is as_is:
                if as_is is str and (
                    len(raw) > _SAFE_STR_LENGTH or not raw.isascii() or "\x00" in raw
                ):
                    raw = self._property(prop, raw)
            elif raw is None and as_is is not None:
                pass  # NULL, stored as null
            elif raw is _ABSENT:
                # An absent column (as opposed to NULL) is left out so it cannot clear a
                # profile's existing value.
                continue
            else:
                raw = self._property(prop, raw)
            properties[name] = raw
        return properties

    def _property(self, prop: _Property, raw: Any) -> Any:
        """One property's stored value, by its converter and cast."""
        try:
            value = prop.convert(raw)
        except Unstorable as exc:
            raise _Refused(f"Property {prop.name} {exc}") from None
        except _ROW_ERRORS:
            raise _Refused(_unreadable(f"Property {prop.name}", prop.source_type, raw)) from None
        if prop.cast is not None:
            try:
                value = prop.cast(value)
            except property_casts.Uncastable:
                raise _Refused(
                    f"Property {prop.name} is {prop.kept_type} in this workspace; value "
                    f"{_short_json(value)} cannot be stored as {prop.kept_type}"
                ) from None
        if _json_size_may_exceed(value) and _json_size(value) > MAX_PROPERTY_BYTES:
            raise _Refused(f"Property {prop.name} is larger than 64 KiB")
        return value

    # -- rejected rows ---------------------------------------------------------------------------

    def rejected_data(self, row: MappingABC[str, Any]) -> dict[str, Any]:
        """The source row in its stored forms (raw text where a value cannot be stored),
        each value cut to 1 KiB."""
        data: dict[str, Any] = {}
        try:
            items = list(row.items())
        except (AttributeError, TypeError):
            return {"row": _clip_bytes(_scrub(repr(row)))}
        for key, raw in items:
            name = _scrub(key if isinstance(key, str) else repr(key))
            convert = self.converters.get(key) if isinstance(key, str) else None
            try:
                value = convert(raw) if convert is not None else raw
                data[name] = _preview(value)
            except _ROW_ERRORS:
                text = raw if isinstance(raw, str) else _short_repr(raw, MAX_REJECTED_VALUE_BYTES)
                data[name] = _clip_bytes(_scrub(text))
        return data


# Types whose plain text (ASCII, no NUL) is its stored form on either wire.
_TEXT_TYPES = frozenset({"STRING", "GEOGRAPHY"})


def _stored_as_is(source_type: str, kept_type: str, wire: Wire) -> type | None:
    """The Python type a property's values are stored as they arrive in (see _Property)."""
    if source_type != kept_type:
        return None  # cast
    if source_type in _TEXT_TYPES:
        return str
    if wire == "arrow" and source_type == "INT64":
        return int
    return None


# -- event time ----------------------------------------------------------------------------------


def _timestamp_reader(mapping: Mapping, kind: str) -> Callable[[Any], datetime | str]:
    """The event time (aware, UTC) from the time column's stored form, or a reason."""
    column = mapping.timestamp_column
    if kind == "TIMESTAMP" or not kind:

        def from_timestamp(stored: Any) -> datetime | str:
            if not isinstance(stored, str):
                return f"Unparsable timestamp in column {column}: {_short_repr(stored)}"
            return datetime.fromisoformat(stored).astimezone(UTC)

        return from_timestamp
    if kind in ZONED_TIMESTAMP_TYPES:
        zone_name = mapping.source_time_zone or "UTC"
        zone = zoneinfo.ZoneInfo(zone_name)

        def from_wall_time(stored: Any) -> datetime | str:
            wall = datetime.fromisoformat(stored)  # DATE "2024-06-01" is its midnight
            return wall_time_in_zone(wall, zone, zone_name, column)

        return from_wall_time
    multiplier = TIMESTAMP_UNITS[mapping.timestamp_unit]
    unit = mapping.timestamp_unit

    def from_epoch(stored: Any) -> datetime | str:
        try:
            return _EPOCH + timedelta(microseconds=stored * multiplier)
        except OverflowError:
            return (
                f"Timestamp in column {column}, {stored} {unit} since 1970-01-01, is outside "
                "the years 1 to 9999"
            )

    return from_epoch


def wall_time_in_zone(
    wall: datetime, zone: dt.tzinfo, zone_name: str, column: str
) -> datetime | str:
    """The instant a wall-clock time in `zone` names, or why there is none.

    A time the clocks skip (spring forward) does not exist and is refused; a time they
    pass twice (fall back) is its first occurrence, as in BigQuery's TIMESTAMP(datetime, zone).
    """
    local = wall.replace(tzinfo=zone, fold=0)
    try:
        instant = local.astimezone(UTC)
        back = instant.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        return (
            f"Timestamp in column {column}, {wall.isoformat(sep=' ')}, is outside the years "
            f"1 to 9999 in {zone_name}"
        )
    if back != wall:
        return (
            f"Timestamp in column {column}, {wall.isoformat(sep=' ')}, does not exist in "
            f"{zone_name} (the clocks skip it)"
        )
    return instant


# -- JSON ----------------------------------------------------------------------------------------


def _json_size_may_exceed(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) > _SAFE_STR_LENGTH
    return isinstance(value, dict | list)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The zones in which an Arrow TIMESTAMP's wall time is its UTC time: none (the type
# contract reads a naive one as UTC), UTC itself, and pyarrow's zoneinfo UTC.
_UTC_ZONES = (None, UTC, zoneinfo.ZoneInfo("UTC"))
_MICROSECOND = timedelta(microseconds=1)


def event_dedupe_key(
    identity: str, name: str, timestamp: datetime, properties: dict[str, Any]
) -> uuid.UUID:
    """Content hash: identical source rows give the same key, so a replay writes nothing."""
    return _dedupe_key(identity, name, timestamp, canonical_json_bytes(properties))


def event_id_dedupe_key(event_id: str) -> uuid.UUID:
    """The key of an event whose import names an ID column: the ID alone, so a corrected row
    replaces the stored event. A content key hashes a three-item array and then the
    properties, so the two kinds of key never hash the same text."""
    return _key(canonical_json_bytes(["event_id", event_id]))


def _dedupe_key(identity: str, name: str, timestamp: datetime, properties_json: bytes) -> uuid.UUID:
    # The head is a complete JSON array, so head + properties cannot be read two ways.
    head = canonical_json_bytes([identity, name, (timestamp - _EPOCH) // _MICROSECOND])
    return _key(head + properties_json)


def _key(text: bytes) -> uuid.UUID:
    """The first 128 bits of the (UTF-8) text's SHA-256, stored in 16 bytes (a PostgreSQL uuid):
    the unique index that every event write checks is less than half the size of one over
    64 hex characters. Keys stored before were the whole digest in hex; their migration
    kept its first 32 digits, which is this same value, so replays still match."""
    return _uuid_from_int(int.from_bytes(hashlib.sha256(text).digest()[:16]))


def _uuid_from_int(value: int) -> uuid.UUID:
    """uuid.UUID(int=value) without its argument checks, which cost about half a microsecond
    an event (Python 3.14 has this as UUID._from_int); `value` is 128 bits by construction."""
    key = _new_object(uuid.UUID)
    _set_attribute(key, "int", value)
    _set_attribute(key, "is_safe", _UNKNOWN_SAFETY)
    return key


_new_object = object.__new__
_set_attribute = object.__setattr__
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown  # an enum member read once: each read is a lookup


def _preview(value: Any) -> Any:
    """A value for a rejected row's data: JSON PostgreSQL will store, cut to 1 KiB."""
    if isinstance(value, str):
        return _clip_bytes(_scrub(value))
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode("utf-8")
    except (ValueError, TypeError, OverflowError, RecursionError):
        return _clip_bytes(_scrub(_short_repr(value, limit=MAX_REJECTED_VALUE_BYTES + 1)))
    if isinstance(value, dict | list):
        if "\\u0000" in text or len(text.encode("utf-8")) > MAX_REJECTED_VALUE_BYTES:
            return _clip_bytes(_scrub(text))
    return value


def _unreadable(what: str, bq_type: str, raw: Any) -> str:
    """A value not in the form BigQuery documents for its type (a bug, or a new format)."""
    return f"{what} is not in BigQuery's {bq_type} form: {_short_repr(raw)}"


def _short_json(value: Any) -> str:
    if isinstance(value, str):
        return _short_repr(value)
    try:
        return _clip(json.dumps(value, ensure_ascii=False), 40)
    except (ValueError, TypeError):
        return _short_repr(value)


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
