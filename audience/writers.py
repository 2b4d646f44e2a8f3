"""Bulk, idempotent writes of mapped pages into profiles and events.

PostgreSQL is the supported production path: one COPY of the page into a temporary table,
then one INSERT … ON CONFLICT, so a page costs a handful of statements whatever its size
and client memory stays bounded by the page. Both writers run inside the caller's
transaction (which also records the run's committed offset), and calling them again with
the same rows changes nothing, so a replayed page after a crash is harmless.

Other databases (SQLite in the one-command local run) get a plain ORM fallback with the
same results, meant for small local imports only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import connection, transaction
from psycopg import errors as psycopg_errors
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format

from audience.models import Event, Profile
from audience.rows import EventRow, ProfileRow, stored_json

# Keeps each `IN (…)` of the fallback under SQLite's older 999-variable limit.
_FALLBACK_CHUNK = 900

_T = TypeVar("_T")


def write_profiles(
    *,
    workspace_id: uuid.UUID | str,
    run_id: uuid.UUID | str | None,
    rows: Sequence[ProfileRow],
    null_overwrites: bool = False,
    direct: bool = False,
) -> int:
    """Upsert profiles by identity; returns how many were inserted or actually changed.

    Properties merge into the stored ones (a new value for a key wins), first_seen is
    kept, and a profile whose merged properties equal the stored ones is not touched,
    which is what makes a replay write nothing. Within a page the last row of an
    identity wins. A null keeps the stored value of its property unless `null_overwrites`
    (a new profile stores its nulls either way: there is nothing to keep).

    `direct` first tries one COPY straight into the profiles table (a first import: every
    identity of the page is new), as writers.write_events does; a page with an identity
    twice or already stored is written the usual way.
    """
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        return _write_profiles_orm(
            workspace_id=workspace_id, run_id=run_id, rows=rows, null_overwrites=null_overwrites
        )
    if direct and _copy_profiles_directly(workspace_id, run_id, rows):
        return len(rows)
    temp = "_import_profile_page"
    # Input position orders DISTINCT ON: one INSERT may not update the same row twice
    # ("ON CONFLICT DO UPDATE command cannot affect row a second time").
    temp_columns = "pos int4, identity text, properties text, seen_at timestamptz"
    table, c = _table(Profile)
    # Pages without a null (most of them) skip the per-row key filter.
    drop_nulls = not null_overwrites and any(None in row.properties.values() for row in rows)
    unchanged = _merged_properties(f"s.{c['properties']}", "t.properties", drop_nulls)
    updated = _merged_properties(f"p.{c['properties']}", f"EXCLUDED.{c['properties']}", drop_nulls)
    # A stored profile the page leaves as it is, is left out before the INSERT: ON CONFLICT
    # would lock its row (a write, with its WAL) only to find nothing to change. OFFSET 0
    # keeps NOT EXISTS a lookup by identity in the unique index: as an anti-join, a planner
    # trusting the statistics of a table just filled (they still say it is small) read
    # every profile of the workspace for each page, and a 1M re-import took 30-54 s, not 8.
    sql = f"""
        INSERT INTO {table} AS p
            ({c["workspace"]}, {c["identity"]}, {c["properties"]},
             {c["first_seen"]}, {c["last_seen"]}, {c["updated_by_run"]})
        SELECT %s, t.identity, t.properties, t.seen_at, t.seen_at, %s
        FROM (
            SELECT DISTINCT ON (identity) identity, properties::jsonb AS properties, seen_at
            FROM {temp}
            ORDER BY identity, pos DESC
        ) AS t
        WHERE NOT EXISTS (
            SELECT FROM {table} AS s
            WHERE s.{c["workspace"]} = %s AND s.{c["identity"]} = t.identity
                AND {unchanged} = s.{c["properties"]}
            OFFSET 0
        )
        ON CONFLICT ({c["workspace"]}, {c["identity"]}) DO UPDATE SET
            {c["properties"]} = {updated},
            {c["last_seen"]} = GREATEST(p.{c["last_seen"]}, EXCLUDED.{c["last_seen"]}),
            {c["updated_by_run"]} = EXCLUDED.{c["updated_by_run"]}
        WHERE {updated} IS DISTINCT FROM p.{c["properties"]}
    """  # noqa: S608 - identifiers come from model metadata, values are parameters
    records = ((pos, row.identity, stored_json(row), row.seen_at) for pos, row in enumerate(rows))
    return _copy_then_insert(
        temp=temp,
        temp_columns=temp_columns,
        copy_types=["int4", "text", "text", "timestamptz"],
        records=records,
        sql=sql,
        params=[_uuid(workspace_id), _uuid(run_id), _uuid(workspace_id)],
    )


def _merged_properties(stored: str, incoming: str, drop_nulls: bool) -> str:
    """SQL for the stored properties with the incoming ones merged in (a new value for a
    key wins); with `drop_nulls`, the incoming top-level nulls keep the stored values (a
    null inside a JSON value is data)."""
    if drop_nulls:
        incoming = (
            f"({incoming} - ARRAY(SELECT key FROM jsonb_each({incoming}) "  # noqa: S608
            "WHERE jsonb_typeof(value) = 'null'))"
        )
    return f"({stored} || {incoming})"


def write_events(
    *,
    workspace_id: uuid.UUID | str,
    run_id: uuid.UUID | str | None,
    rows: Sequence[EventRow],
    replace: bool = False,
    direct: bool = False,
) -> int:
    """Append events, skipping any whose dedupe key the workspace already has.

    Returns how many were inserted; a replayed page, or a duplicate within a page,
    inserts nothing. With `replace` (keys from an event ID column) a row whose key is
    stored already replaces that event's identity, name, time and properties when any
    differ (and counts as written), and within a page the last row of a key wins.

    `direct` first tries one COPY straight into the events table, which costs about a
    fifth less than COPY + INSERT … ON CONFLICT when no key is stored yet; a key that is
    (or that comes twice in the page) makes the table's unique index refuse the COPY, which
    is then undone and the page written the usual way. The caller asks for it when the
    page before wrote every row.
    """
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        return _write_events_orm(
            workspace_id=workspace_id, run_id=run_id, rows=rows, replace=replace
        )
    if direct and _copy_events_directly(workspace_id, run_id, rows):
        return len(rows)
    temp = "_import_event_page"
    # Properties arrive as JSON text (already encoded for the dedupe key) and are parsed
    # by PostgreSQL in the INSERT: cheaper than encoding them again for a jsonb COPY.
    temp_columns = (
        "pos int4, identity text, name text, ts timestamptz, properties text, dedupe_key uuid"
    )
    table, c = _table(Event)
    replaced = ("identity", "name", "timestamp", "properties")
    on_conflict = (
        f"""DO UPDATE SET
            {", ".join(f"{c[f]} = EXCLUDED.{c[f]}" for f in (*replaced, "imported_by_run"))}
        WHERE ({", ".join(f"e.{c[f]}" for f in replaced)})
            IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c[f]}" for f in replaced)})"""
        if replace
        else "DO NOTHING"
    )
    # One INSERT may not update a row twice: with `replace`, DISTINCT ON keeps the last row
    # of each key (a plain append keeps any one of identical rows).
    distinct = "DISTINCT ON (dedupe_key)" if replace else ""
    sql = f"""
        INSERT INTO {table} AS e
            ({c["workspace"]}, {c["identity"]}, {c["name"]}, {c["timestamp"]},
             {c["properties"]}, {c["dedupe_key"]}, {c["imported_by_run"]})
        SELECT {distinct} %s, identity, name, ts, properties::jsonb, dedupe_key, %s
        FROM {temp}
        -- Key order: two transactions inserting the same keys wait on each other in
        -- the same order instead of deadlocking.
        ORDER BY dedupe_key, pos DESC
        ON CONFLICT ({c["workspace"]}, {c["dedupe_key"]}) {on_conflict}
    """  # noqa: S608 - identifiers come from model metadata, values are parameters
    records = (
        (
            pos,
            row.identity,
            row.name,
            row.timestamp,
            stored_json(row),
            row.dedupe_key,
        )
        for pos, row in enumerate(rows)
    )
    return _copy_then_insert(
        temp=temp,
        temp_columns=temp_columns,
        copy_types=["int4", "text", "text", "timestamptz", "text", "uuid"],
        records=records,
        sql=sql,
        params=[_uuid(workspace_id), _uuid(run_id)],
    )


class _JsonText(str):
    """Properties already encoded as JSON text, for a binary COPY into a jsonb column."""


class _JsonbFromText(Dumper):
    """jsonb's binary form is a version byte (1) and the JSON text: the text the dedupe key
    hashed is sent as it is, not decoded and encoded again as psycopg's Jsonb would."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


_EVENT_COPY_FIELDS = (
    "workspace",
    "identity",
    "name",
    "timestamp",
    "properties",
    "dedupe_key",
    "imported_by_run",
)


_PROFILE_COPY_FIELDS = (
    "workspace",
    "identity",
    "properties",
    "first_seen",
    "last_seen",
    "updated_by_run",
)


def _copy_events_directly(
    workspace_id: uuid.UUID | str, run_id: uuid.UUID | str | None, rows: Sequence[EventRow]
) -> bool:
    """COPY the page into the events table; False (and nothing written) when a key is
    stored already, or another transaction is writing the same keys."""
    workspace, run = _uuid(workspace_id), _uuid(run_id)
    return _copy_directly(
        Event,
        _EVENT_COPY_FIELDS,
        ["uuid", "text", "text", "timestamptz", "jsonb", "uuid", "uuid"],
        (
            (
                workspace,
                row.identity,
                row.name,
                row.timestamp,
                _JsonText(stored_json(row)),
                row.dedupe_key,
                run,
            )
            for row in rows
        ),
    )


def _copy_profiles_directly(
    workspace_id: uuid.UUID | str, run_id: uuid.UUID | str | None, rows: Sequence[ProfileRow]
) -> bool:
    """COPY a page of new profiles into the table, stored as the upsert would store them
    (nulls kept: a new profile has nothing to keep); False (and nothing written) when an
    identity comes twice in the page or is stored already, or another transaction is
    writing the same identities."""
    if len({row.identity for row in rows}) != len(rows):
        return False  # the last row of an identity wins: the upsert's DISTINCT ON decides
    workspace, run = _uuid(workspace_id), _uuid(run_id)
    return _copy_directly(
        Profile,
        _PROFILE_COPY_FIELDS,
        ["uuid", "text", "jsonb", "timestamptz", "timestamptz", "uuid"],
        (
            (
                workspace,
                row.identity,
                _JsonText(stored_json(row)),
                row.seen_at,
                row.seen_at,
                run,
            )
            for row in rows
        ),
    )


def _copy_directly(
    model: type[Profile] | type[Event],
    fields: Sequence[str],
    types: list[str],
    records: Iterable[tuple[Any, ...]],
) -> bool:
    """COPY records straight into the model's table inside a savepoint; False (and the
    COPY undone) when its unique index refuses a row or the COPY would deadlock."""
    table, c = _table(model)
    columns = ", ".join(c[f] for f in fields)
    copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
    # wrap_database_errors: psycopg's own errors out of the raw cursor come out as Django's
    # (a dropped connection as OperationalError, which the runner reconnects after).
    with (
        transaction.atomic(savepoint=False),
        connection.cursor() as cursor,
        connection.wrap_database_errors,
    ):
        raw = cursor.cursor
        raw.adapters.register_dumper(_JsonText, _JsonbFromText)
        raw.execute("SAVEPOINT direct_copy")
        started = time.monotonic()
        try:
            with raw.copy(copy_sql) as copy:
                copy.set_types(types)
                for record in records:
                    copy.write_row(record)
        except (psycopg_errors.UniqueViolation, psycopg_errors.DeadlockDetected):
            # Undo the COPY and nothing else: the caller's transaction goes on.
            raw.execute("ROLLBACK TO SAVEPOINT direct_copy")
            return False
        raw.execute("RELEASE SAVEPOINT direct_copy")
        if connection.queries_logged:
            connection.queries_log.append(
                {"sql": copy_sql, "time": f"{time.monotonic() - started:.3f}"}
            )
        return True


def _copy_then_insert(
    *,
    temp: str,
    temp_columns: str,
    copy_types: list[str],
    records: Iterable[tuple[Any, ...]],
    sql: str,
    params: list[Any],
) -> int:
    # atomic(savepoint=False) joins the caller's transaction without a savepoint round
    # trip, and opens one when there is none: the temp table lives only until commit,
    # so under autocommit the COPY would be gone before the INSERT read it.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # ON COMMIT DROP leaves nothing behind in a pooled session; TRUNCATE empties it
        # when one transaction writes several pages.
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} ({temp_columns}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {temp}")
        # Binary COPY through psycopg itself (Django's cursor has no COPY): the fastest
        # write measured, with rows streamed from the page rather than buffered.
        copy_sql = f"COPY {temp} FROM STDIN (FORMAT BINARY)"
        started = time.monotonic()
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            copy.set_types(copy_types)
            for record in records:
                copy.write_row(record)
        if connection.queries_logged:
            # Django only logs what runs through its own cursor; listing the COPY keeps
            # query counts (and the debug log) honest.
            connection.queries_log.append(
                {"sql": copy_sql, "time": f"{time.monotonic() - started:.3f}"}
            )
        cursor.execute(sql, params)
        return cursor.rowcount


def _table(model: type[Profile] | type[Event]) -> tuple[str, dict[str, str]]:
    quote = connection.ops.quote_name
    columns = {f.name: quote(f.column) for f in model._meta.concrete_fields}
    return quote(model._meta.db_table), columns


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _chunks(items: Sequence[_T], size: int = _FALLBACK_CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_profiles_orm(
    *,
    workspace_id: uuid.UUID | str,
    run_id: uuid.UUID | str | None,
    rows: Sequence[ProfileRow],
    null_overwrites: bool = False,
) -> int:
    """The same upsert with the ORM, for databases without COPY (local SQLite runs)."""
    latest: dict[str, ProfileRow] = {}
    for row in rows:
        latest.pop(row.identity, None)  # last row wins, and keeps its position
        latest[row.identity] = row
    identities = list(latest)
    with transaction.atomic(savepoint=False):
        existing: dict[str, Profile] = {}
        for chunk in _chunks(identities):
            for profile in Profile.objects.filter(workspace_id=workspace_id, identity__in=chunk):
                existing[profile.identity] = profile
        to_create: list[Profile] = []
        to_update: list[Profile] = []
        for identity, row in latest.items():
            current = existing.get(identity)
            if current is None:
                to_create.append(
                    Profile(
                        workspace_id=workspace_id,
                        identity=identity,
                        properties=row.properties,
                        first_seen=row.seen_at,
                        last_seen=row.seen_at,
                        updated_by_run_id=run_id,
                    )
                )
                continue
            incoming = row.properties
            if not null_overwrites:
                incoming = {k: v for k, v in incoming.items() if v is not None}
            merged = {**current.properties, **incoming}
            if merged == current.properties:
                continue
            current.properties = merged
            current.last_seen = max(current.last_seen, row.seen_at)
            current.updated_by_run_id = run_id
            to_update.append(current)
        Profile.objects.bulk_create(to_create, batch_size=_FALLBACK_CHUNK)
        Profile.objects.bulk_update(
            to_update,
            ["properties", "last_seen", "updated_by_run"],
            batch_size=_FALLBACK_CHUNK,
        )
    return len(to_create) + len(to_update)


def _write_events_orm(
    *,
    workspace_id: uuid.UUID | str,
    run_id: uuid.UUID | str | None,
    rows: Sequence[EventRow],
    replace: bool = False,
) -> int:
    """The same append with the ORM, for databases without COPY (local SQLite runs)."""
    fresh: dict[uuid.UUID, EventRow] = {}
    for row in rows:
        if replace:
            fresh[row.dedupe_key] = row  # the last row of a key wins
        else:
            fresh.setdefault(row.dedupe_key, row)
    to_update: list[Event] = []
    with transaction.atomic(savepoint=False):
        for chunk in _chunks(list(fresh)):
            for stored in Event.objects.filter(workspace_id=workspace_id, dedupe_key__in=chunk):
                row = fresh.pop(stored.dedupe_key)
                new = (row.identity, row.name, row.timestamp, row.properties)
                if replace and new != (
                    stored.identity,
                    stored.name,
                    stored.timestamp,
                    stored.properties,
                ):
                    stored.identity, stored.name, stored.timestamp, stored.properties = new
                    stored.imported_by_run_id = run_id
                    to_update.append(stored)
        Event.objects.bulk_update(
            to_update,
            ["identity", "name", "timestamp", "properties", "imported_by_run"],
            batch_size=_FALLBACK_CHUNK,
        )
        Event.objects.bulk_create(
            [
                Event(
                    workspace_id=workspace_id,
                    identity=row.identity,
                    name=row.name,
                    timestamp=row.timestamp,
                    properties=row.properties,
                    dedupe_key=row.dedupe_key,
                    imported_by_run_id=run_id,
                )
                for row in fresh.values()
            ],
            batch_size=_FALLBACK_CHUNK,
            ignore_conflicts=True,
        )
    return len(fresh) + len(to_update)
