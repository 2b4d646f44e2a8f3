"""The Create Import steps: source, target, sync, schedule and review, each a form.

Forms are offline: they check what was typed against the source's schema (which the
server fetched, never the browser), and return model field values. Calls to BigQuery
(table details, dry runs) are made by the view through imports.browse.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from common.byte_sizes import clean_limit
from common.validators import has_control_characters
from common.widgets import QuickSelect
from connections.identifiers import validate_table_id
from imports import schedules
from imports.mapping import MAX_PROPERTIES, TIMESTAMP_UNITS, ZONED_TIMESTAMP_TYPES
from imports.models import Import
from imports.sql import MAX_QUERY_CHARS, validate_select_query
from imports.type_contract import Field, type_name
from workspaces.timezones import is_time_zone, time_zone_names

MAX_PROPERTY_NAME = 255
MAX_EVENT_NAME = 255

IDENTITY_TYPES = frozenset({"STRING", "INT64"})
EVENT_NAME_TYPES = frozenset({"STRING"})
TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "DATETIME", "DATE", "INT64"})
CURSOR_TYPES = frozenset({"TIMESTAMP", "DATETIME", "DATE", "INT64"})


_CONTROL_MESSAGE = "%s must not contain control characters."


def _errors(label: str, **extra: str) -> dict[str, str]:
    return {"required": f"{label} is required.", **extra}


def _error(form: forms.Form, field: str | None, message: str, code: str) -> None:
    form.add_error(field, ValidationError(message, code=code))


# -- step 1: source ----------------------------------------------------------------------------


class SourceForm(forms.Form):
    source_kind = forms.ChoiceField(
        label="Source",
        choices=[("table", "A table of the dataset"), ("query", "A SQL query")],
        widget=forms.RadioSelect,
        error_messages=_errors("Source", invalid_choice="Choose a table or a SQL query."),
    )
    table = forms.CharField(
        label="Table",
        required=False,
        max_length=1024,
        strip=False,
        error_messages={
            "max_length": "Table name must be at most 1,024 characters.",
            "null_characters_not_allowed": _CONTROL_MESSAGE % "Table name",
        },
    )
    query = forms.CharField(
        label="SQL query",
        required=False,
        strip=False,
        max_length=MAX_QUERY_CHARS,
        widget=forms.Textarea(
            attrs={
                "rows": 10,
                "spellcheck": "false",
                "placeholder": "SELECT user_id, email FROM crm.users",
            }
        ),
        error_messages={
            "max_length": "The query must be at most %(limit_value)d characters.",
            "null_characters_not_allowed": _CONTROL_MESSAGE % "The query",
        },
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("source_kind")
        if kind in self.errors.keys() & {"table", "query"}:
            return cleaned  # refused already (too long, a NUL): one message is enough
        if kind == "table":
            table = cleaned.get("table") or ""
            if not table:
                self.add_error("table", ValidationError("Choose a table.", code="required"))
            else:
                try:
                    cleaned["table"] = validate_table_id(table)
                except ValidationError as exc:
                    self.add_error("table", exc)
            cleaned["query"] = ""
        elif kind == "query":
            try:
                cleaned["query"] = validate_select_query(cleaned.get("query") or "")
            except ValidationError as exc:
                self.add_error("query", exc)
            cleaned["table"] = ""
        return cleaned


# -- step 2: target ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    index: int
    name: str
    type: str
    mode: str = "NULLABLE"
    label: str = ""  # the full type: ARRAY<STRUCT<id INT64, ...>>

    @property
    def repeated(self) -> bool:
        return self.mode == "REPEATED"

    def fits(self, types: frozenset[str]) -> bool:
        return not self.repeated and self.type in types

    @property
    def type_label(self) -> str:
        return self.label or (f"ARRAY<{self.type}>" if self.repeated else self.type)


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in time_zone_names()]


def columns_of(schema: list[dict[str, Any]]) -> list[Column]:
    return [
        Column(
            i,
            c["name"],
            type_name(c.get("type", "")),
            (c.get("mode") or "NULLABLE").upper(),
            Field.from_api(c).label,
        )
        for i, c in enumerate(schema)
    ]


def _column_choices(columns: list[Column], types: frozenset[str]) -> list[tuple[str, str]]:
    return [("", "Choose a column")] + [
        (c.name, f"{c.name} ({c.type})") for c in columns if c.fits(types)
    ]


TIMESTAMP_UNIT_CHOICES = [
    ("seconds", "Seconds since 1970-01-01"),
    ("milliseconds", "Milliseconds since 1970-01-01"),
    ("microseconds", "Microseconds since 1970-01-01"),
]

_EVENT_TABLE_COLUMNS = ("event", "event_name")
_IDENTITY_GUESSES = ("user_id", "userid", "customer_id", "distinct_id", "id", "email")

EVENT_ID_HELP = (
    "Optional: a STRING or INT64 column that identifies each event. With it, rows with "
    "different IDs are all kept, and a row read again with a stored ID replaces that event "
    "(a corrected row updates it). Without it, rows identical in every imported column "
    "collapse into one event."
)


class SemanticsFields(forms.Form):
    """How identities, events and NULLs are treated: chosen at the mapping step of Create
    Import and on Edit. Subclasses set `by_name` (the source's columns by name)."""

    by_name: dict[str, Column]

    event_id_column = forms.CharField(
        label="Event ID column", required=False, help_text=EVENT_ID_HELP
    )
    null_policy = forms.ChoiceField(
        label="When a column is NULL",
        required=False,
        choices=Import.NullPolicy.choices,
        initial=Import.NullPolicy.KEEP,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose to keep the stored value or overwrite it."},
        help_text="Keep: a NULL leaves the property a profile already has as it is. Overwrite: "
        "the property becomes empty (null). A new profile stores the NULL either way.",
    )
    identity_trim = forms.BooleanField(label="Trim spaces around identities", required=False)
    identity_lowercase = forms.BooleanField(label="Lowercase identities", required=False)

    def semantics_widgets(self) -> None:
        columns = _column_choices(list(self.by_name.values()), IDENTITY_TYPES)[1:]
        self.fields["event_id_column"].widget = QuickSelect(
            choices=[("", "None: identical rows collapse into one event"), *columns]
        )

    def clean_null_policy(self) -> str:
        return self.cleaned_data.get("null_policy") or Import.NullPolicy.KEEP

    def event_id(self, target: str) -> str:
        """The checked event ID column ("" for profiles or when none is chosen)."""
        name = (self.cleaned_data.get("event_id_column") or "").strip()
        if target != Import.Target.EVENTS or not name or "event_id_column" in self.errors:
            return ""
        column = self.by_name.get(name)
        if column is None:
            _error(
                self, "event_id_column", f"Column “{name}” is not in the source.", "unknown_column"
            )
            return ""
        if not column.fits(IDENTITY_TYPES):
            _error(
                self,
                "event_id_column",
                f"The event ID column must be a STRING or INT64 column; “{name}” is "
                f"{column.type_label}.",
                "wrong_type",
            )
            return ""
        return name


class TargetForm(SemanticsFields):
    target = forms.ChoiceField(
        label="Import into",
        choices=Import.Target.choices,
        widget=forms.RadioSelect,
        error_messages=_errors("Target", invalid_choice="Choose User Profiles or Events."),
    )
    identity_column = forms.CharField(
        label="Identity column",
        required=False,
        help_text="Identifies the user: a STRING or INT64 column.",
    )
    event_name_source = forms.ChoiceField(
        label="Event name",
        choices=[("column", "From a column"), ("fixed", "A fixed name")],
        widget=forms.RadioSelect,
        required=False,
        error_messages={"invalid_choice": "Choose an event name from a column or a fixed one."},
    )
    event_name_column = forms.CharField(label="Event name column", required=False)
    event_name_fixed = forms.CharField(
        label="Fixed event name",
        required=False,
        error_messages={"null_characters_not_allowed": _CONTROL_MESSAGE % "The event name"},
    )
    timestamp_column = forms.CharField(
        label="Timestamp column",
        required=False,
        help_text="When the event happened: a TIMESTAMP, DATETIME, DATE or INT64 (time since "
        "1970-01-01) column.",
    )
    source_time_zone = forms.CharField(
        label="Source time zone",
        required=False,
        max_length=64,
        help_text="DATETIME and DATE columns hold wall-clock times without a zone: the zone "
        "they are in. 2024-06-01 09:00 in Europe/Berlin is stored as 07:00 UTC.",
        error_messages={
            "null_characters_not_allowed": _CONTROL_MESSAGE % "The time zone",
            "max_length": "Choose a time zone from the list.",
        },
    )
    timestamp_unit = forms.ChoiceField(
        label="The INT64 timestamp counts",
        required=False,
        choices=[("", "Choose the unit"), *TIMESTAMP_UNIT_CHOICES],
        error_messages={"invalid_choice": "Choose seconds, milliseconds or microseconds."},
    )

    def __init__(self, data: Any = None, *, schema: list[dict[str, str]], tz: str = "UTC") -> None:
        self.columns = columns_of(schema)
        self.tz = tz
        super().__init__(data, initial=None if data is not None else self._guess())
        self.by_name = {c.name: c for c in self.columns}
        self.fields["source_time_zone"].widget = QuickSelect(choices=time_zone_choices())
        self.fields["identity_column"].widget = QuickSelect(
            choices=_column_choices(self.columns, IDENTITY_TYPES)
        )
        self.fields["event_name_column"].widget = QuickSelect(
            choices=_column_choices(self.columns, EVENT_NAME_TYPES)
        )
        self.fields["timestamp_column"].widget = QuickSelect(
            choices=_column_choices(self.columns, TIMESTAMP_TYPES)
        )
        self.semantics_widgets()
        for column in self.columns:
            self.fields[f"include_{column.index}"] = forms.BooleanField(
                label=f"Import {column.name}", required=False, initial=True
            )
            self.fields[f"property_{column.index}"] = forms.CharField(
                label=f"Property name for {column.name}",
                required=False,
                initial=column.name,
                strip=True,
                error_messages={"null_characters_not_allowed": _CONTROL_MESSAGE % "Property name"},
            )

    def _guess(self) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "target": Import.Target.PROFILES,
            "event_name_source": "column",
            "source_time_zone": self.tz,
            "null_policy": Import.NullPolicy.KEEP,
        }
        names = {c.name.lower(): c for c in self.columns if c.fits(IDENTITY_TYPES)}
        for guess in _IDENTITY_GUESSES:
            if guess in names:
                initial["identity_column"] = names[guess].name
                break
        stamp = next((c for c in self.columns if c.fits(frozenset({"TIMESTAMP"}))), None)
        if stamp:
            initial["timestamp_column"] = stamp.name
        named = next(
            (
                c
                for c in self.columns
                if c.name.lower() in ("event", "event_name", "name") and c.fits(EVENT_NAME_TYPES)
            ),
            None,
        )
        if named:
            initial["event_name_column"] = named.name
            # A column called event (not name, which a user table has too) beside a time:
            # the table is most likely one of events.
            if stamp and named.name.lower() in _EVENT_TABLE_COLUMNS:
                initial["target"] = Import.Target.EVENTS
        return initial

    @property
    def mapping_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "column": c,
                "include": self[f"include_{c.index}"],
                "property": self[f"property_{c.index}"],
            }
            for c in self.columns
        ]

    def _column(self, field: str, label: str, types: frozenset[str], rule: str) -> str:
        if field in self.errors:
            return ""  # refused already (a NUL), one message is enough
        name = self.cleaned_data.get(field) or ""
        if not name:
            self.add_error(field, ValidationError(f"Choose the {label}.", code="required"))
            return ""
        column = self.by_name.get(name)
        if column is None:
            _error(
                self,
                field,
                f"Column “{name}” is not in the source.",
                "unknown_column",
            )
            return ""
        if not column.fits(types):
            _error(
                self,
                field,
                f"The {label} must be {rule}; “{name}” is {column.type_label}.",
                "wrong_type",
            )
            return ""
        return name

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        target = cleaned.get("target")
        identity = self._column(
            "identity_column", "identity column", IDENTITY_TYPES, "a STRING or INT64 column"
        )
        name_column = fixed = timestamp = ""
        if target == Import.Target.EVENTS and "event_name_source" not in self.errors:
            source = cleaned.get("event_name_source") or "column"
            if source == "column":
                name_column = self._column(
                    "event_name_column", "event name column", EVENT_NAME_TYPES, "a STRING column"
                )
            elif "event_name_fixed" not in self.errors:  # else a NUL was refused already
                fixed = (cleaned.get("event_name_fixed") or "").strip()
                if not fixed:
                    _error(
                        self,
                        "event_name_fixed",
                        "Enter the event name.",
                        "required",
                    )
                elif len(fixed) > MAX_EVENT_NAME:
                    _error(
                        self,
                        "event_name_fixed",
                        f"The event name must be at most {MAX_EVENT_NAME} characters "
                        f"(it has {len(fixed)}).",
                        "max_length",
                    )
                elif has_control_characters(fixed):
                    _error(
                        self,
                        "event_name_fixed",
                        "The event name must not contain control characters.",
                        "control",
                    )
            timestamp = self._column(
                "timestamp_column",
                "timestamp column",
                TIMESTAMP_TYPES,
                "a TIMESTAMP, DATETIME, DATE or INT64 (epoch) column",
            )
        cleaned["event_name_column"], cleaned["event_name_fixed"] = name_column, fixed
        cleaned["timestamp_column"] = timestamp
        cleaned["source_time_zone"], cleaned["timestamp_unit"] = self._time_settings(timestamp)
        cleaned["event_id_column"] = self.event_id(target or "")
        cleaned["column_mapping"] = self._mapping({identity, name_column, timestamp} - {""})
        return cleaned

    @property
    def column_types(self) -> dict[str, str]:
        """Column name -> type, for the page's script that shows the time settings."""
        return {c.name: c.type_label for c in self.columns}

    def _time_settings(self, timestamp: str) -> tuple[str, str]:
        """(source time zone, timestamp unit) for the chosen timestamp column: a zone for
        DATETIME and DATE (the workspace's unless another is chosen), a unit for INT64."""
        column = self.by_name.get(timestamp)
        kind = column.type if column else ""
        zone = unit = ""
        if kind in ZONED_TIMESTAMP_TYPES and "source_time_zone" not in self.errors:
            zone = (self.cleaned_data.get("source_time_zone") or "").strip() or self.tz
            if not is_time_zone(zone):
                _error(
                    self,
                    "source_time_zone",
                    f"“{zone[:64]}” is not a time zone; choose one from the list.",
                    "time_zone",
                )
                zone = ""
        if kind == "INT64" and "timestamp_unit" not in self.errors:
            unit = self.cleaned_data.get("timestamp_unit") or ""
            if unit not in TIMESTAMP_UNITS:
                _error(
                    self,
                    "timestamp_unit",
                    f"Choose whether {timestamp} counts seconds, milliseconds or microseconds "
                    "since 1970-01-01: the values are not guessed.",
                    "required",
                )
                unit = ""
        return zone, unit

    def _mapping(self, consumed: set[str]) -> list[dict[str, Any]]:
        mapping: list[dict[str, Any]] = []
        used: dict[str, str] = {}
        for column in self.columns:
            if column.name in consumed:
                continue
            include = bool(self.cleaned_data.get(f"include_{column.index}"))
            field = f"property_{column.index}"
            name = self.cleaned_data.get(field) or ""
            if include and field not in self.errors:
                error = self._property_error(name, column, used)
                if error:
                    self.add_error(field, ValidationError(error, code="property_name"))
                else:
                    used[name.casefold()] = column.name
            mapping.append(
                {"column": column.name, "property": name or column.name, "include": include}
            )
        if len(used) > MAX_PROPERTIES:
            _error(
                self,
                None,
                f"At most {MAX_PROPERTIES} columns can be imported as properties; "
                f"{len(used)} are chosen. Leave some out.",
                "too_many",
            )
        return mapping

    @staticmethod
    def _property_error(name: str, column: Column, used: dict[str, str]) -> str:
        if not name:
            return f"Enter a property name for column {column.name}, or leave the column out."
        if len(name) > MAX_PROPERTY_NAME:
            return (
                f"Property name must be at most {MAX_PROPERTY_NAME} characters "
                f"(it has {len(name)})."
            )
        if has_control_characters(name):
            return "Property name must not contain control characters."
        if name.casefold() in used:
            return (
                f"Property name “{name}” is already used for column {used[name.casefold()]}; "
                "each property needs its own name."
            )
        return ""


class SemanticsForm(SemanticsFields):
    """Edit: the event ID column (events), the NULL policy (profiles) and the identity
    normalization of a saved import."""

    def __init__(self, data: Any = None, *, import_obj: Import, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.target = import_obj.target
        self.by_name = {c.name: c for c in columns_of(import_obj.source_schema)}
        self.semantics_widgets()
        if self.target == Import.Target.EVENTS:
            del self.fields["null_policy"]  # events have no stored values to keep
            self.fields["event_id_column"].help_text = (
                f"{EVENT_ID_HELP} A change applies to the rows read from then on: events "
                "stored before keep their old key, so a row read again after the change is "
                "stored once more."
            )
        else:
            del self.fields["event_id_column"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.target == Import.Target.EVENTS:
            cleaned["event_id_column"] = self.event_id(self.target)
        return cleaned

    def definition(self) -> dict[str, Any]:
        """The Import fields this form sets (only those that apply to the target)."""
        names = ("event_id_column", "null_policy", "identity_trim", "identity_lowercase")
        return {name: self.cleaned_data[name] for name in names if name in self.fields}


class TimestampUnitForm(forms.Form):
    """Edit: the unit of an INT64 event time that an older import never asked for."""

    timestamp_unit = forms.ChoiceField(
        label="The INT64 timestamp counts",
        choices=[("", "Choose the unit"), *TIMESTAMP_UNIT_CHOICES],
        error_messages=_errors(
            "The timestamp unit", invalid_choice="Choose seconds, milliseconds or microseconds."
        ),
        help_text="Runs fail until this is chosen: the values are not guessed. Events already "
        "imported keep their times.",
    )


# -- step 3: sync ------------------------------------------------------------------------------

DEFAULT_REJECTION_THRESHOLD = Import._meta.get_field("rejection_threshold").default
THRESHOLD_MESSAGE = "Enter a rejection threshold from 0 to 100 (a percent of the rows read)."


def rejection_threshold_field() -> forms.IntegerField:
    """Percent of the rows read a run may reject; a run above it fails (and does not move
    the watermark). Empty means the default."""
    return forms.IntegerField(
        label="Rejection threshold (%)",
        required=False,
        min_value=0,
        max_value=100,
        initial=DEFAULT_REJECTION_THRESHOLD,
        help_text="A run that rejects more than this percent of the rows it reads fails "
        "instead of succeeding, and an incremental import then reads the same rows again. "
        f"0 fails a run on any rejected row. Empty means {DEFAULT_REJECTION_THRESHOLD} %.",
        error_messages={
            "invalid": THRESHOLD_MESSAGE,
            "min_value": THRESHOLD_MESSAGE,
            "max_value": THRESHOLD_MESSAGE,
        },
    )


def clean_threshold(value: int | None) -> int:
    return DEFAULT_REJECTION_THRESHOLD if value is None else value


class RejectionThresholdForm(forms.Form):
    """The threshold on Edit."""

    rejection_threshold = rejection_threshold_field()

    def clean_rejection_threshold(self) -> int:
        return clean_threshold(self.cleaned_data.get("rejection_threshold"))


def LookbackField() -> forms.TypedChoiceField:  # noqa: N802 - a field, named like one
    return forms.TypedChoiceField(
        label="Lookback window",
        choices=Import.Lookback.choices,
        coerce=int,
        initial=0,
        required=False,
        empty_value=0,  # type: ignore[arg-type]  # stubs: str only; Django takes any value
        error_messages=_errors("Lookback window", invalid_choice="Choose a lookback window."),
        help_text="Each run also reads this far back from the watermark, so rows that arrive "
        "late with an earlier cursor value are still imported; rows read again are not written "
        "twice. For a TIMESTAMP, DATETIME or DATE cursor.",
    )


def check_lookback(form: forms.Form, cursor_type: str) -> None:
    """A lookback window is a time: an INT64 cursor cannot look back over one."""
    if form.cleaned_data.get("lookback_seconds") and cursor_type in ("INT64", "INTEGER"):
        _error(
            form,
            "lookback_seconds",
            "A lookback window needs a TIMESTAMP, DATETIME or DATE cursor; this cursor is an "
            "INT64. Choose None.",
            "int_cursor",
        )


class LookbackForm(forms.Form):
    """Edit: the lookback window of an incremental import."""

    lookback_seconds = LookbackField()

    def __init__(self, *args: Any, cursor_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_type = cursor_type

    def clean(self) -> dict[str, Any]:
        super().clean()
        check_lookback(self, self.cursor_type)
        return self.cleaned_data


class SyncForm(forms.Form):
    sync_mode = forms.ChoiceField(
        label="Sync",
        choices=Import.SyncMode.choices,
        widget=forms.RadioSelect,
        initial=Import.SyncMode.FULL,
        error_messages=_errors("Sync", invalid_choice="Choose Full or Incremental."),
    )
    cursor_column = forms.CharField(
        label="Cursor column",
        required=False,
        help_text="A column that grows as rows are added or changed: TIMESTAMP, DATETIME, "
        "DATE or INT64.",
    )
    rejection_threshold = rejection_threshold_field()
    lookback_seconds = LookbackField()

    def __init__(self, data: Any = None, *, schema: list[dict[str, str]]) -> None:
        super().__init__(data)
        self.columns = columns_of(schema)
        self.by_name = {c.name: c for c in self.columns}
        self.fields["cursor_column"].widget = QuickSelect(
            choices=_column_choices(self.columns, CURSOR_TYPES)
        )
        if not self.is_bound and not self.initial.get("cursor_column"):
            updated = next(
                (c for c in self.columns if c.fits(CURSOR_TYPES) and "updated" in c.name.lower()),
                None,
            )
            if updated:
                self.initial["cursor_column"] = updated.name

    @property
    def has_cursor_columns(self) -> bool:
        return any(c.fits(CURSOR_TYPES) for c in self.columns)

    def clean_rejection_threshold(self) -> int:
        return clean_threshold(self.cleaned_data.get("rejection_threshold"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        cleaned["cursor_type"] = ""
        if cleaned.get("sync_mode") != Import.SyncMode.INCREMENTAL:
            cleaned["cursor_column"] = ""
            cleaned["lookback_seconds"] = 0
            return cleaned
        if "cursor_column" in self.errors:
            return cleaned  # refused already (a NUL), one message is enough
        name = cleaned.get("cursor_column") or ""
        column = self.by_name.get(name)
        if not name:
            _error(
                self,
                "cursor_column",
                "Choose the cursor column for an incremental import.",
                "required",
            )
        elif column is None:
            _error(
                self,
                "cursor_column",
                f"Column “{name}” is not in the source.",
                "unknown_column",
            )
        elif not column.fits(CURSOR_TYPES):
            _error(
                self,
                "cursor_column",
                f"The cursor column must be a TIMESTAMP, DATETIME, DATE or INT64 column; "
                f"“{name}” is {column.type_label}.",
                "wrong_type",
            )
        else:
            cleaned["cursor_type"] = column.type
            check_lookback(self, column.type)
        return cleaned


# -- step 4: schedule --------------------------------------------------------------------------

# "No schedule" last: the import is saved as ready and runs when someone clicks Run now.
SCHEDULE_KINDS = [
    *((kind, label) for kind, label in Import.ScheduleKind.choices if kind != "none"),
    ("none", Import.ScheduleKind.NONE.label),
]
WEEKDAYS = list(enumerate(schedules.WEEKDAY_NAMES))


class ScheduleForm(forms.Form):
    schedule_kind = forms.ChoiceField(
        label="Run",
        choices=SCHEDULE_KINDS,
        widget=forms.RadioSelect,
        initial="now",
        error_messages=_errors("Schedule", invalid_choice="Choose when the import runs."),
    )
    schedule_at = forms.CharField(
        label="Run at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    schedule_minute = forms.IntegerField(
        label="Minute past the hour",
        required=False,
        min_value=0,
        max_value=59,
        initial=0,
        error_messages={
            "invalid": "Minute must be a whole number from 0 to 59.",
            "min_value": "Minute must be from 0 to 59.",
            "max_value": "Minute must be from 0 to 59.",
        },
    )
    schedule_time = forms.TimeField(
        label="Time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        input_formats=["%H:%M", "%H:%M:%S"],
        error_messages={"invalid": "Enter a time such as 09:30."},
    )
    schedule_weekday = forms.TypedChoiceField(
        label="Day",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Choose a day"), *WEEKDAYS],
        error_messages={"invalid_choice": "Choose a day of the week."},
    )
    schedule_cron = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=100,
        help_text="Five fields: minute hour day month weekday, e.g. 0 9 * * 1-5.",
        error_messages={"max_length": "Cron expression must be at most %(limit_value)d chars."},
    )

    AT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")

    # The fields each kind uses; errors in the others (hidden on the page) do not count.
    KIND_FIELDS = {
        "none": (),
        "now": (),
        "once": ("schedule_at",),
        "hourly": ("schedule_minute",),
        "daily": ("schedule_time",),
        "weekly": ("schedule_weekday", "schedule_time"),
        "cron": ("schedule_cron",),
    }

    def __init__(self, data: Any = None, *, tz: str, now: dt.datetime | None = None) -> None:
        super().__init__(data)
        self.tz = tz
        self.now = now

    def clean_schedule_at(self) -> dt.datetime | None:
        raw = (self.cleaned_data.get("schedule_at") or "").strip()
        if not raw:
            return None
        for fmt in self.AT_FORMATS:
            try:
                wall = dt.datetime.strptime(raw, fmt)  # noqa: DTZ007 - a wall time in self.tz
            except ValueError:
                continue
            # At the ends of the calendar a time cannot be moved between zones (OverflowError).
            if wall.year >= 9999:
                raise ValidationError("Run at must be before the year 9999.", code="too_late")
            if wall.year <= 1:
                raise ValidationError(schedules.RUN_AT_PAST, code="past")
            return schedules.wall_time_to_utc(wall.replace(second=0), self.tz)
        raise ValidationError("Enter a date and time such as 2025-06-30 09:00.", code="invalid")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("schedule_kind")
        if not kind:
            return cleaned
        relevant = self.KIND_FIELDS[kind]
        for field in list(self.errors):
            if field.startswith("schedule_") and field != "schedule_kind" and field not in relevant:
                del self.errors[field]
        if any(field in self.errors for field in relevant):
            return cleaned
        values: dict[str, Any] = {
            "schedule_at": None,
            "schedule_time": None,
            "schedule_weekday": None,
            "schedule_cron": "",
        }
        if kind == "once":
            values["schedule_at"] = cleaned.get("schedule_at")
        elif kind == "hourly":
            values["schedule_time"] = dt.time(0, cleaned.get("schedule_minute") or 0)
        elif kind in ("daily", "weekly"):
            values["schedule_time"] = cleaned.get("schedule_time")
            if kind == "weekly":
                values["schedule_weekday"] = cleaned.get("schedule_weekday")
        elif kind == "cron":
            values["schedule_cron"] = " ".join((cleaned.get("schedule_cron") or "").split())
        cleaned.update(values)
        try:
            schedules.validate(self.schedule(), now=self.now)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                self.add_error(None if field == NON_FIELD_ERRORS else field, errors)
        return cleaned

    def schedule(self) -> schedules.Schedule:
        cleaned = self.cleaned_data
        return schedules.Schedule(
            kind=cleaned.get("schedule_kind") or "now",
            at=cleaned.get("schedule_at"),
            time=cleaned.get("schedule_time"),
            weekday=cleaned.get("schedule_weekday"),
            cron=cleaned.get("schedule_cron") or "",
            tz=self.tz,
        )


# -- step 5: review ----------------------------------------------------------------------------


class ReviewForm(forms.Form):
    name = forms.CharField(
        label="Import name",
        max_length=100,
        error_messages=_errors(
            "Import name",
            max_length="Import name must be at most %(limit_value)d characters.",
            null_characters_not_allowed=_CONTROL_MESSAGE % "Import name",
        ),
    )
    maximum_bytes_billed = forms.CharField(
        label="Maximum bytes billed",
        required=False,
        max_length=40,
        help_text="The most one query of this import may bill, such as 200 GB or 2 TB; a run "
        "whose estimate is larger fails before BigQuery bills anything. Leave it empty to use "
        "the connection's limit.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if has_control_characters(name):
            raise ValidationError(
                "Import name must not contain control characters.", code="control"
            )
        return name

    def clean_maximum_bytes_billed(self) -> int | None:
        text = self.cleaned_data.get("maximum_bytes_billed") or ""
        return clean_limit(text, label="Maximum bytes billed")  # blank: the connection's


def definition(
    *,
    source: dict[str, Any],
    target: TargetForm,
    sync: SyncForm,
    schedule: ScheduleForm,
    review: ReviewForm,
) -> dict[str, Any]:
    """The Import fields (services.DEFINITION_FIELDS) from the validated steps."""
    t, s, w = target.cleaned_data, sync.cleaned_data, schedule.cleaned_data
    return {
        "name": review.cleaned_data["name"],
        "source_kind": source["kind"],
        "source_table": source.get("table", "") if source["kind"] == "table" else "",
        "source_query": source.get("query", "") if source["kind"] == "query" else "",
        "source_schema": source["schema"],
        "target": t["target"],
        "identity_column": t["identity_column"],
        "event_name_column": t["event_name_column"],
        "event_name_fixed": t["event_name_fixed"],
        "timestamp_column": t["timestamp_column"],
        "source_time_zone": t["source_time_zone"],
        "timestamp_unit": t["timestamp_unit"],
        "column_mapping": t["column_mapping"],
        "event_id_column": t["event_id_column"],
        "null_policy": t["null_policy"],
        "identity_trim": t["identity_trim"],
        "identity_lowercase": t["identity_lowercase"],
        "sync_mode": s["sync_mode"],
        "cursor_column": s["cursor_column"],
        "cursor_type": s["cursor_type"],
        "rejection_threshold": s.get("rejection_threshold", DEFAULT_REJECTION_THRESHOLD),
        "lookback_seconds": s.get("lookback_seconds") or 0,
        "schedule_kind": w["schedule_kind"],
        "schedule_at": w["schedule_at"],
        "schedule_time": w["schedule_time"],
        "schedule_weekday": w["schedule_weekday"],
        "schedule_cron": w["schedule_cron"],
        "maximum_bytes_billed": review.cleaned_data.get("maximum_bytes_billed"),
    }


class ReimportForm(forms.Form):
    """Re-import everything (no day) or from the start of a day (the workspace's zone)."""

    from_day = forms.DateField(
        label="Re-import from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages=_errors("Re-import from", invalid="Enter the day as YYYY-MM-DD."),
    )

    def __init__(self, *args: Any, time_zone: str, **kwargs: Any) -> None:
        self.zone = zoneinfo.ZoneInfo(time_zone)
        super().__init__(*args, **kwargs)

    def clean_from_day(self) -> dt.date | None:
        day = self.cleaned_data["from_day"]
        if day is not None and day > timezone.now().astimezone(self.zone).date():
            raise forms.ValidationError(
                "Choose today or an earlier day: Re-import reads again rows already imported.",
                code="future",
            )
        return day
