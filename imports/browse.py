"""Browsing a connection's dataset for Create Import: the table list, a table's details and
first rows, and the dry run of a SELECT query.

Google is reached only through the seam (connections.bigquery). Listing a dataset with
thousands of tables costs one tables.list call per 1,000 names, so the names are cached per
connection for five minutes and searched and paged here; tables.get runs only for the table
chosen or the 50 on the visible page (concurrently, each result cached for five minutes).
Errors reach the page in our own words (connections.google_errors), never Google's text.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.paginator import Page, Paginator

from common.ratelimit import SlidingWindow
from connections import bigquery, crypto
from connections.cost import job_options
from connections.google_errors import RETRY_FIX, Explanation, GoogleErrorKind, connection_explained
from connections.keys import connection_session
from connections.models import Connection
from imports.models import Import
from imports.run.window import source_table, window
from imports.type_contract import type_name

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
PREVIEW_ROWS = 10
CACHE_SECONDS = 5 * 60
# A dataset with more tables than this is listed up to here; search narrows it down.
MAX_TABLES = 50_000
DETAIL_WORKERS = 8
PAGE_DETAILS_DEADLINE = 20.0
CELL_CHARS = 120
# Each listing, preview or dry run spends the customer's quota (answers from the cache do
# not count): at most this many per user in any minute, as for Test Connection.
GOOGLE_CALLS = SlidingWindow("bigquery-browse", limit=30, seconds=60)


class BrowseError(Exception):
    """A Google call failed; `detail` and `fix` are our words for the page."""

    def __init__(self, detail: str, fix: str = "", *, kind: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix
        self.kind = kind


@dataclass
class TableInfo:
    name: str
    kind: str = "TABLE"
    num_rows: int | None = None
    num_bytes: int | None = None
    modified: dt.datetime | None = None
    schema: list[dict[str, str]] = field(default_factory=list)
    loaded: bool = False  # False when tables.get failed or was not asked

    @property
    def kind_label(self) -> str:
        return {
            "TABLE": "Table",
            "VIEW": "View",
            "MATERIALIZED_VIEW": "Materialized view",
            "EXTERNAL": "External table",
            "SNAPSHOT": "Snapshot",
        }.get(self.kind, self.kind.title())

    def summary(self) -> dict[str, Any]:
        """What a draft keeps about the chosen table (JSON for the session)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "num_rows": self.num_rows,
            "num_bytes": self.num_bytes,
            "modified": self.modified.isoformat() if self.modified else None,
        }


@dataclass
class TablesPage:
    page: Page
    query: str
    total: int  # tables in the dataset (before the search)
    truncated: bool
    missing_details: int = 0


@dataclass
class Preview:
    table: TableInfo
    rows: list[list[str | None]]
    note: str = ""


@dataclass
class QueryCheck:
    bytes_processed: int | None
    schema: list[dict[str, str]]
    statement_type: str


def _fingerprint(connection: Connection) -> str:
    # Editing the connection (another dataset or key) must not serve the old listing.
    raw = f"{connection.project_id}\0{connection.dataset_id}\0{connection.private_key_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _list_key(connection: Connection) -> str:
    return f"imports:browse:tables:{connection.pk}:{_fingerprint(connection)}"


def _detail_key(connection: Connection, name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return f"imports:browse:table:{connection.pk}:{_fingerprint(connection)}:{digest}"


def _session(connection: Connection, user: User) -> bigquery.BigQuerySession:
    """A session with the connection's key, once `user` is within GOOGLE_CALLS."""
    wait = GOOGLE_CALLS.attempt(str(user.pk))
    if wait:
        raise BrowseError(
            f"You asked BigQuery for table lists, previews or query checks more than "
            f"{GOOGLE_CALLS.limit} times in a minute.",
            f"Wait {wait} seconds and try again.",
            kind="throttled",
        )
    try:
        return connection_session(connection)
    except bigquery.GoogleCallError as exc:
        raise _error(connection, exc) from exc
    except crypto.KeyDecryptionError as exc:
        raise BrowseError(str(exc), crypto.KEY_DECRYPTION_FIX, kind="key") from exc


def _error(
    connection: Connection, error: bigquery.GoogleCallError, *, table: str = ""
) -> BrowseError:
    if error.kind is GoogleErrorKind.TABLE_MISSING and table:
        return BrowseError(
            f"Table “{table}” was not found in dataset {connection.dataset_id}.",
            "Choose a table from the list; it may have been deleted or renamed.",
            kind=error.kind,
        )
    said = _explained(connection, error)
    return BrowseError(said.detail, said.fix, kind=error.kind)


def _explained(connection: Connection, error: bigquery.GoogleCallError) -> Explanation:
    return connection_explained(error, f"browse of connection {connection.pk}", connection)


def _schema(resources: Any) -> list[dict[str, Any]]:
    """The schema as the draft and Import.source_schema keep it: name, GoogleSQL type and
    mode of each column, with a STRUCT's fields and a RANGE's element type, nested."""
    return [_column(resource) for resource in resources or ()]


def _column(resource: dict[str, Any]) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": resource.get("name", ""),
        "type": type_name(resource.get("type", "")),
        "mode": (resource.get("mode") or "NULLABLE").upper(),
    }
    if resource.get("fields"):
        column["fields"] = [_column(f) for f in resource["fields"]]
    element = (resource.get("rangeElementType") or {}).get("type")
    if element:
        column["rangeElementType"] = {"type": type_name(element)}
    return column


def _table_info(table: bigquery.Table) -> TableInfo:
    return TableInfo(
        name=table.table_id,
        kind=table.table_type,
        num_rows=table.num_rows,
        num_bytes=table.num_bytes,
        modified=table.modified,
        schema=_schema(table.schema),
        loaded=True,
    )


# -- the table list ----------------------------------------------------------------------------


def table_names(connection: Connection, *, user: User) -> tuple[list[tuple[str, str]], bool]:
    """(name, type) of the dataset's tables sorted by name, and whether the list was cut off."""
    key = _list_key(connection)
    cached = cache.get(key)
    if cached is not None:
        return [tuple(item) for item in cached["tables"]], cached["truncated"]
    with _session(connection, user) as session:
        browser = bigquery.DatasetBrowser(session, connection.dataset_id)
        try:
            names = browser.table_names(limit=MAX_TABLES + 1)
        except bigquery.GoogleCallError as exc:
            raise _error(connection, exc) from exc
    truncated = len(names) > MAX_TABLES
    names = sorted(names[:MAX_TABLES], key=lambda item: (item[0].casefold(), item[0]))
    cache.set(key, {"tables": names, "truncated": truncated}, CACHE_SECONDS)
    return names, truncated


def tables_page(
    connection: Connection, *, user: User, query: str = "", page: Any = 1
) -> TablesPage:
    """One page of tables whose name contains `query` (any case), with their details."""
    names, truncated = table_names(connection, user=user)
    needle = query.strip().casefold()
    matching = [item for item in names if needle in item[0].casefold()] if needle else names
    paginator = Paginator(matching, PAGE_SIZE)
    page_obj: Page[Any] = paginator.get_page(page)  # of names, then of their TableInfo
    infos = [TableInfo(name=name, kind=kind) for name, kind in page_obj.object_list]
    missing = _load_details(connection, infos, user=user)
    page_obj.object_list = infos
    return TablesPage(
        page=page_obj,
        query=query.strip(),
        total=len(names),
        truncated=truncated,
        missing_details=missing,
    )


def _load_details(connection: Connection, infos: list[TableInfo], *, user: User) -> int:
    """Fill in rows, size and last change; returns how many could not be fetched."""
    keys = {info.name: _detail_key(connection, info.name) for info in infos}
    cached = cache.get_many(list(keys.values()))
    todo = []
    for info in infos:
        hit = cached.get(keys[info.name])
        if hit is None:
            todo.append(info)
            continue
        info.num_rows, info.num_bytes = hit["num_rows"], hit["num_bytes"]
        info.modified = dt.datetime.fromisoformat(hit["modified"]) if hit["modified"] else None
        info.loaded = True
    if not todo:
        return 0
    fresh: dict[str, Any] = {}
    with _session(connection, user) as session:
        try:
            # One token request up front, rather than one per thread racing to refresh.
            session.authenticate()
        except bigquery.GoogleCallError as exc:
            raise _error(connection, exc) from exc
        browser = bigquery.DatasetBrowser(session, connection.dataset_id)
        pool = ThreadPoolExecutor(max_workers=DETAIL_WORKERS, thread_name_prefix="browse")
        futures = {pool.submit(browser.table, info.name): info for info in todo}
        done, _ = wait(futures, timeout=PAGE_DETAILS_DEADLINE)
        pool.shutdown(wait=False, cancel_futures=True)
        for future in done:
            info = futures[future]
            try:
                table = future.result()
            except bigquery.GoogleCallError as exc:
                logger.info("tables.get %s failed: %s", info.name, exc)
                continue
            info.num_rows, info.num_bytes, info.modified = (
                table.num_rows,
                table.num_bytes,
                table.modified,
            )
            info.loaded = True
            fresh[keys[info.name]] = info.summary()
    if fresh:
        cache.set_many(fresh, CACHE_SECONDS)
    return sum(1 for info in todo if not info.loaded)


# -- one table ---------------------------------------------------------------------------------


def table_info(connection: Connection, name: str, *, user: User) -> TableInfo:
    """The chosen table, fresh from tables.get (schema with types, rows, size, last change)."""
    with _session(connection, user) as session:
        browser = bigquery.DatasetBrowser(session, connection.dataset_id)
        try:
            return _table_info(browser.table(name))
        except bigquery.GoogleCallError as exc:
            raise _error(connection, exc, table=name) from exc


def table_preview(connection: Connection, name: str, *, user: User) -> Preview:
    """The table's details and its first ten rows (tabledata.list; views have none)."""
    with _session(connection, user) as session:
        browser = bigquery.DatasetBrowser(session, connection.dataset_id)
        try:
            table = browser.table(name)
        except bigquery.GoogleCallError as exc:
            raise _error(connection, exc, table=name) from exc
        info = _table_info(table)
        if info.kind not in ("TABLE", "SNAPSHOT", "EXTERNAL"):
            return Preview(
                table=info,
                rows=[],
                note=f"BigQuery cannot list the rows of a {info.kind_label.lower()} without "
                "running a query, so there is no preview. It can still be imported.",
            )
        try:
            rows = browser.preview_rows(table, max_results=PREVIEW_ROWS)
        except bigquery.GoogleCallError as exc:
            error = _error(connection, exc, table=name)
            return Preview(table=info, rows=[], note=f"No preview: {error.detail} {error.fix}")
    return Preview(table=info, rows=[[display(value) for value in row] for row in rows])


def display(value: Any) -> str | None:
    """A cell as short text for the preview; None stays None (shown as NULL)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        text = base64.b64encode(value).decode("ascii")
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


# -- a query -----------------------------------------------------------------------------------


def query_check(connection: Connection, sql: str, *, user: User) -> QueryCheck:
    """Dry-run a query (already checked to be one SELECT): bytes it scans and its columns."""
    with _session(connection, user) as session:
        try:
            job = session.dry_run(
                sql,
                location=connection.location or None,
                options=job_options(connection, "preview"),
            )
        except bigquery.GoogleCallError as exc:
            raise _query_error(connection, exc) from exc
    return QueryCheck(
        bytes_processed=job.total_bytes_processed,
        schema=_schema(job.schema),
        statement_type=job.statement_type.upper(),
    )


def window_estimate(import_obj: Import, watermark: str, *, user: Any) -> int | None:
    """Dry-run the query the import's next run makes from `watermark` ("" for everything),
    as a run makes it (only the mapped columns a table still has, and its partition filter):
    the bytes it would scan."""
    connection = import_obj.connection
    with _session(connection, user) as session:
        try:
            table = source_table(import_obj, bigquery.ImportReader(session))
            frozen = window(import_obj, table, watermark=watermark)
            job = session.dry_run(
                frozen.sql,
                location=connection.location or None,
                params=frozen.params,
                options=job_options(connection, "preview"),
            )
        except bigquery.GoogleCallError as exc:
            raise _query_error(connection, exc) from exc
    return job.total_bytes_processed


def _query_error(connection: Connection, error: bigquery.GoogleCallError) -> BrowseError:
    if error.kind in MISSING:
        return BrowseError(
            "The query names a table or dataset that does not exist, or that "
            f"{connection.client_email} cannot see.",
            f"Write tables with their dataset, as in {connection.dataset_id}.my_table, and check "
            "the names (they are case-sensitive).",
            kind=error.kind,
        )
    if error.kind in (GoogleErrorKind.BAD_REQUEST, GoogleErrorKind.INVALID_QUERY):
        position = _error_position(error.internal_message)
        return BrowseError(
            "BigQuery could not run this query" + (f" ({position})." if position else "."),
            "Check the syntax in the BigQuery console, and write tables with their dataset, "
            f"as in {connection.dataset_id}.my_table.",
            kind=error.kind,
        )
    if error.kind in TRY_AGAIN:
        return BrowseError(_explained(connection, error).detail, RETRY_FIX, kind=error.kind)
    return _error(connection, error)


MISSING = {
    GoogleErrorKind.TABLE_MISSING,
    GoogleErrorKind.LOCATION_MISMATCH,
    GoogleErrorKind.DATASET_MISSING,
    GoogleErrorKind.PROJECT_MISSING,
}
TRY_AGAIN = {
    GoogleErrorKind.RATE_LIMITED,
    GoogleErrorKind.BACKEND_ERROR,
    GoogleErrorKind.UNREACHABLE,
}


def _error_position(message: str) -> str:
    """'line 3, column 7' from BigQuery's '... at [3:7]'; only digits leave Google's text."""
    match = re.search(r"\[(\d{1,6}):(\d{1,6})\]", message or "")
    return f"near line {match.group(1)}, column {match.group(2)}" if match else ""
