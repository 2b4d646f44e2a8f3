"""The review step's typed preview: what up to 20 sample rows of the source would store.

The sample is read the way a run reads (imports.run.read_path: the Storage Read API when
the service account may create read sessions, REST paging otherwise) and mapped with the
runner's own mapping (imports.mapping, with the workspace's property types), so what the
preview shows is what the first run would store. A table is read as it is (no query, no
bytes billed); a query or a view runs once: the query a first run makes (its mapped
columns, its filter on a partitioning cursor) with ``LIMIT 20``.

Nothing here blocks the review: a Google error, a mapping the source no longer fits, or
anything unexpected comes back as a message in the preview (Google's own text goes to the
server log only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import uuid
from collections import Counter
from collections.abc import Generator
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from audience import selectors as audience_selectors
from audience.rows import EventRow, ProfileRow
from connections import bigquery
from connections.cost import job_options
from connections.google_errors import GoogleErrorKind, connection_explained
from connections.keys import connection_session
from connections.models import Connection
from imports import mapping as mapping_module
from imports import property_casts
from imports.browse import GOOGLE_CALLS
from imports.forms import ReviewForm, definition
from imports.models import Import
from imports.run import read_path
from imports.run.window import TIME_CURSOR_TYPES, future_limit, source_table, window
from imports.type_contract import Wire, converter, schema_fields
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 20
# The sample must not hold up the review: a query that takes longer is left to the run.
QUERY_TIMEOUT = 30.0
READ_TIMEOUT = 30.0
VALUES_SHOWN = 3
VALUE_CHARS = 60
# Beyond this an integer is stored exactly, but readers that take every JSON number as a
# double (JavaScript, many JSON tools) see it rounded.
SAFE_INTEGER = 2**53 - 1
# Tables BigQuery can read without a query (tabledata.list and read sessions); views and
# the like are read through a query.
READABLE_KINDS = frozenset({"TABLE", "SNAPSHOT"})
PATH_NAMES = {"storage": "the Storage Read API", "rest": "REST paging"}


@dataclasses.dataclass
class Flag:
    """Something about a property the admin should know before saving. `kind` is one of
    mixed, rejected, precision, no_zone, conflict."""

    kind: str
    text: str
    rejects: bool = False  # the run would reject rows over it


@dataclasses.dataclass
class PropertySample:
    name: str
    column: str
    source_type: str
    stored_type: str  # the workspace's type when it keeps one, else the column's
    values: list[str]  # a few distinct stored values, as JSON text
    rows_with_value: int
    flags: list[Flag]


@dataclasses.dataclass
class SampleRejection:
    row_number: int
    reason: str


@dataclasses.dataclass
class EventTime:
    stored: str  # the time column's value as read
    utc: str  # the event's time as stored


@dataclasses.dataclass
class SamplePreview:
    read_path: str = ""  # storage | rest
    rest_reason: str = ""  # why REST, in the user's words ("" on the Storage path)
    by_query: bool = False
    rows_read: int = 0
    rows_mapped: int = 0
    no_cursor: int = 0  # rows an incremental run never reads (NULL cursor)
    properties: list[PropertySample] = dataclasses.field(default_factory=list)
    rejections: list[SampleRejection] = dataclasses.field(default_factory=list)
    identities: int = 0
    existing: int = 0  # profiles: sample identities already stored
    events: int = 0  # events: distinct sample events (by dedupe key)
    events_stored: int = 0  # events: of those, already stored in the workspace
    events_replace: bool = False  # stored events with the same ID are replaced, not skipped
    event_times: list[EventTime] = dataclasses.field(default_factory=list)
    error: str = ""
    fix: str = ""

    @property
    def read_path_label(self) -> str:
        return PATH_NAMES.get(self.read_path, "")

    @property
    def new_identities(self) -> int:
        return self.identities - self.existing

    @property
    def new_events(self) -> int:
        return self.events - self.events_stored

    @property
    def flagged(self) -> int:
        return sum(1 for prop in self.properties if prop.flags)


class _Failed(Exception):
    def __init__(self, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


@dataclasses.dataclass
class _Sample:
    rows: list[dict[str, Any]]
    schema: list[dict[str, Any]]
    wire: Wire
    path: str
    rest_reason: str
    by_query: bool


# -- the draft as an Import ------------------------------------------------------------------


def draft_import(
    *, workspace: Workspace, connection: Connection, source: dict[str, Any], forms: dict[str, Any]
) -> Import:
    """The Import that Save would create from these validated steps (not saved)."""
    review = ReviewForm({"name": "Preview"})
    review.is_valid()
    fields = definition(source=source, review=review, **forms)
    return Import(workspace=workspace, connection=connection, **fields)


# -- the preview -----------------------------------------------------------------------------


def sample_preview(
    *,
    import_obj: Import,
    user: User,
    table_kind: str = "TABLE",
    type_conflicts: list[dict[str, Any]] | None = None,
) -> SamplePreview:
    """Read, map and describe up to SAMPLE_ROWS rows of the import's source. Never raises:
    a failure is the preview's `error` and `fix`."""
    try:
        sample = _read(import_obj, user, table_kind)
        return _describe(import_obj, sample, type_conflicts or [])
    except _Failed as failed:
        return SamplePreview(error=failed.detail, fix=failed.fix)
    except mapping_module.MappingError as error:
        return SamplePreview(
            error=f"The mapping does not fit the source's rows: {error}",
            fix="Change the Target step, then come back to Review.",
        )
    except Exception:  # the preview is an aid: it must never take the review step down
        reference = uuid.uuid4().hex[:12]
        logger.exception("sample preview failed unexpectedly (reference %s)", reference)
        return SamplePreview(
            error=f"The sample could not be read. Reference: {reference} (in the server log).",
            fix="You can still save the import; its runs report their own errors.",
        )


def _read(import_obj: Import, user: User, table_kind: str) -> _Sample:
    connection = import_obj.connection
    wait = GOOGLE_CALLS.attempt(str(user.pk))
    if wait:
        raise _Failed(
            f"You asked BigQuery for previews and checks more than {GOOGLE_CALLS.limit} times "
            "in a minute, so the sample was not read.",
            f"Wait {wait} seconds and reload this page.",
        )
    try:
        with connection_session(connection) as session:
            return _read_in(session, import_obj, table_kind)
    except bigquery.GoogleCallError as error:
        if error.reason == "job_timeout":
            raise _Failed(
                f"BigQuery did not finish the sample query within {QUERY_TIMEOUT:.0f} seconds.",
                "You can still save the import: a run waits for its query as long as it takes.",
            ) from error
        said = connection_explained(
            error, f"sample preview of connection {connection.pk}", connection
        )
        raise _Failed(said.detail, said.fix) from error


def _read_in(session: bigquery.BigQuerySession, import_obj: Import, table_kind: str) -> _Sample:
    connection = import_obj.connection
    reader = bigquery.ImportReader(session)
    by_query = (
        import_obj.source_kind != Import.SourceKind.TABLE
        or table_kind not in READABLE_KINDS
        or ":" in connection.project_id  # a domain-scoped project: its path has a dot
    )
    if by_query:
        location = connection.location or reader.dataset_location(connection.dataset_id)
        # The run's own query (its mapped columns, and its filter on a partitioning cursor),
        # limited: LIMIT does not cut what a view or a query scans, the columns chosen do.
        frozen = window(import_obj, source_table(import_obj, reader))
        sql = f"{frozen.sql} LIMIT {SAMPLE_ROWS}"  # a query source comes wrapped
        options = job_options(
            connection,
            "preview",
            maximum=import_obj.maximum_bytes_billed,
            # A draft's id is not an import's yet: its jobs carry none.
            labels={} if import_obj._state.adding else {"import_id": import_obj.pk},
        )
        # A query still running after QUERY_TIMEOUT is cancelled (see ImportReader.wait).
        job = reader.wait(
            reader.start_query(sql, frozen.params, location=location, options=options),
            timeout=QUERY_TIMEOUT,
        )
        table = job.destination
    else:
        table = f"{connection.project_id}.{connection.dataset_id}.{import_obj.source_table}"
    schema = reader.table_schema(table)
    opened = read_path.try_storage(session, table, "sample preview")
    if opened.reader is not None:
        with opened.reader as storage:
            rows = _first_page(
                storage.pages(opened.stream, offset=0, page_size=SAMPLE_ROWS, timeout=READ_TIMEOUT)
            )
        return _Sample(rows, schema, "arrow", "storage", "", by_query)
    rows = _first_page(reader.pages(table, start_index=0, page_size=SAMPLE_ROWS))
    return _Sample(rows, schema, "rest", "rest", _rest_reason(opened), by_query)


def _first_page(pages: Generator[list[dict[str, Any]], None, None]) -> list[dict[str, Any]]:
    """The first page of a reader's pages; the rest of the stream is never fetched."""
    with contextlib.closing(pages):
        return next(pages, [])[:SAMPLE_ROWS]


def _rest_reason(opened: read_path.StorageOpened) -> str:
    if opened.kind is GoogleErrorKind.ACCESS_DENIED:
        return (
            "the service account may not create Storage Read API sessions (it lacks BigQuery "
            "Read Session User, roles/bigquery.readSessionUser): runs read with the slower "
            "REST paging, as this sample did"
        )
    if opened.kind is GoogleErrorKind.STORAGE_UNAVAILABLE:
        return "the source has no rows for the Storage Read API to stream"
    if opened.kind is not None:
        return "the Storage Read API did not answer; runs then read with REST paging"
    return f"the Storage Read API is off on this server ({opened.reason})"


# -- what the sample would store -------------------------------------------------------------


def _mapping(import_obj: Import, sample: _Sample) -> mapping_module.Mapping:
    """The runner's mapping (imports.run.pages) over the sample's schema, with the types the
    workspace keeps, without recording this import's types (nothing is saved yet)."""
    mapping = mapping_module.Mapping.from_import(import_obj, columns=schema_fields(sample.schema))
    types = mapping.property_type_labels()
    kept = audience_selectors.property_types_of(
        workspace_id=import_obj.workspace_id, names=list(types)
    )
    types.update({name: row.type for name, row in kept.items()})
    cursor: dict[str, Any] = {}
    if (
        import_obj.sync_mode == Import.SyncMode.INCREMENTAL
        and import_obj.cursor_type in TIME_CURSOR_TYPES
    ):
        # A first run's window ends at the latest cursor up to an hour from now.
        cursor = {
            "cursor_column": import_obj.cursor_column,
            "cursor_ceiling": future_limit(import_obj, timezone.now()),
        }
    return dataclasses.replace(mapping, property_types=tuple(sorted(types.items())), **cursor)


def _describe(
    import_obj: Import, sample: _Sample, conflicts: list[dict[str, Any]]
) -> SamplePreview:
    mapping = _mapping(import_obj, sample)
    rows = sample.rows
    no_cursor = 0
    if import_obj.sync_mode == Import.SyncMode.INCREMENTAL and import_obj.cursor_column:
        # `cursor >= lo AND cursor <= hi` never holds for NULL: a run does not read them.
        kept_rows = [row for row in rows if row.get(import_obj.cursor_column) is not None]
        no_cursor, rows = len(rows) - len(kept_rows), kept_rows
    mapped, rejected = mapping_module.map_page(
        mapping, rows, wire=sample.wire, first_row_number=1, now=timezone.now()
    )
    preview = SamplePreview(
        read_path=sample.path,
        rest_reason=sample.rest_reason,
        by_query=sample.by_query,
        rows_read=len(sample.rows),
        rows_mapped=len(mapped),
        no_cursor=no_cursor,
        rejections=[SampleRejection(r.row_number, r.reason) for r in rejected],
    )
    kept = dict(mapping.property_types)
    labels = {column.name: column.label for column in mapping.columns}
    by_property = {c["property"]: c for c in conflicts}
    for column, name in mapping.properties:
        if column not in labels:
            continue
        values = [row.properties[name] for row in mapped if name in row.properties]
        source_type = labels[column]
        stored_type = kept.get(name, source_type)
        reasons = [r.reason for r in rejected if r.reason.startswith(f"Property {name} ")]
        preview.properties.append(
            PropertySample(
                name=name,
                column=column,
                source_type=source_type,
                stored_type=stored_type,
                values=_shown(values),
                rows_with_value=sum(1 for value in values if value is not None),
                flags=_flags(values, source_type, stored_type, reasons, by_property.get(name)),
            )
        )
    if import_obj.target == Import.Target.PROFILES:
        identities = {row.identity for row in mapped if isinstance(row, ProfileRow)}
        preview.identities = len(identities)
        preview.existing = len(
            audience_selectors.profile_identities_stored(
                workspace_id=import_obj.workspace_id, identities=identities
            )
        )
    else:
        preview.event_times = _event_times(mapping, sample.wire, rows, mapped, rejected)
        keys = {row.dedupe_key for row in mapped if isinstance(row, EventRow)}
        preview.events = len(keys)
        preview.events_stored = len(
            audience_selectors.event_keys_stored(workspace_id=import_obj.workspace_id, keys=keys)
        )
        preview.events_replace = bool(import_obj.event_id_column)
    return preview


def _event_times(
    mapping: mapping_module.Mapping,
    wire: Wire,
    rows: list[dict[str, Any]],
    mapped: list[Any],
    rejected: list[mapping_module.Rejection],
) -> list[EventTime]:
    """The first events' time column as read (its stored form) beside the time stored."""
    column = mapping.timestamp_column
    fields = {field.name: field for field in mapping.columns}
    if column not in fields:
        return []
    convert = converter(fields[column], wire)
    skipped = {rejection.row_number for rejection in rejected}
    accepted = [row for number, row in enumerate(rows, start=1) if number not in skipped]
    return [
        EventTime(stored=_text(convert(row.get(column))), utc=event.timestamp.isoformat())
        for row, event in list(zip(accepted, mapped, strict=False))[:VALUES_SHOWN]
        if isinstance(event, EventRow)
    ]


def _flags(
    values: list[Any],
    source_type: str,
    stored_type: str,
    reasons: list[str],
    conflict: dict[str, Any] | None,
) -> list[Flag]:
    flags = []
    if conflict is not None:
        flags.append(
            Flag(
                "conflict",
                f"This workspace keeps {conflict['property']} as {conflict['kept']}"
                + (f" (set by import “{conflict['defined_by']}”)" if conflict["defined_by"] else "")
                + f"; the column is {source_type}.",
            )
        )
    kinds = Counter(_kind(value) for value in values if value is not None)
    if len(kinds) > 1:
        counted = ", ".join(f"{kind} in {count}" for kind, count in kinds.most_common())
        flags.append(Flag("mixed", f"Mixed JSON types across the sample rows: {counted}."))
    if reasons:
        numeric = source_type in property_casts.NUMBERS and stored_type in property_casts.NUMBERS
        kind = "precision" if numeric else "rejected"
        lead = "Digits would be lost: " if numeric else ""
        count = len(reasons)
        flags.append(
            Flag(
                kind,
                f"{lead}{count} sample row{'s' if count != 1 else ''} would be rejected: "
                f"{reasons[0]}.",
                rejects=True,
            )
        )
    if any(_beyond_double(value) for value in values):
        flags.append(
            Flag(
                "precision",
                "Integers beyond 2^53 are stored exactly, but readers that take JSON numbers "
                "as doubles (JavaScript, many tools) see them rounded.",
            )
        )
    if "DATETIME" in stored_type:
        flags.append(
            Flag(
                "no_zone",
                "DATETIME has no time zone: it is stored as a wall-clock time, not an instant.",
            )
        )
    return flags


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _beyond_double(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > SAFE_INTEGER
    if isinstance(value, list):
        return any(_beyond_double(item) for item in value)
    if isinstance(value, dict):
        return any(_beyond_double(item) for item in value.values())
    return False


def _shown(values: list[Any]) -> list[str]:
    """A few distinct stored values as JSON text, NULL last."""
    texts: list[str] = []
    for value in sorted(values, key=lambda v: v is None):
        text = _text(value)
        if text not in texts:
            texts.append(text)
        if len(texts) == VALUES_SHOWN:
            break
    return texts


def _text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
