"""The page loop: read the result table from the committed offset, map each page while the
one before it is written, stop between pages when asked, and retry a transient Google error
from the committed row (a Storage stream that is gone is read again with REST)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone

from audience import services as audience_services
from connections import bigquery
from connections.google_errors import GoogleErrorKind
from imports import mapping as mapping_module
from imports.models import ImportRun, RejectedRow, RunPart
from imports.prefetch import PagePrefetcher
from imports.run import collector, high_water, read_path, write
from imports.run.high_water import PageHigh
from imports.run.leases import renew, renew_part
from imports.run.window import TIME_CURSOR_TYPES, parse_watermark
from imports.type_contract import Field, Wire, schema_fields

logger = logging.getLogger(__name__)


class RunCancelled(Exception):
    pass


def _run_mapping(run: ImportRun, columns: tuple[Field, ...]) -> mapping_module.Mapping:
    """The import's mapping over the result table's `columns`, with the workspace's type of
    each property: this import's types are recorded where the workspace has none yet
    (first seen wins), and a property the workspace keeps as another type is cast."""
    import_obj = run.import_obj
    page_mapping = mapping_module.Mapping.from_import(import_obj, columns=columns)
    kept = audience_services.property_types_record(
        workspace_id=import_obj.workspace_id,
        types=page_mapping.property_type_labels(),
        import_id=import_obj.pk,
        import_name=import_obj.name,
    )
    return dataclasses.replace(
        page_mapping, property_types=tuple(sorted(kept.items())), **_cursor_check(run)
    )


def _cursor_check(run: ImportRun) -> dict:
    """The time cursor of an incremental run and the latest value it accepts: rows above it
    were read only to be rejected as future-dated (see imports.run.window)."""
    import_obj = run.import_obj
    if (
        import_obj.sync_mode != import_obj.SyncMode.INCREMENTAL
        or import_obj.cursor_type not in TIME_CURSOR_TYPES
    ):
        return {}
    return {
        "cursor_column": import_obj.cursor_column,
        "cursor_ceiling": parse_watermark(run.watermark_limit, import_obj.cursor_type),
    }


PART_ROW_SPAN = RejectedRow.PART_ROW_SPAN  # see RejectedRow


def read_pages(
    run: ImportRun,
    owner: str,
    reader: bigquery.ImportReader,
    storage=None,
    part: RunPart | None = None,
) -> None:
    """Read and write the run's pages from its committed offset; a `part`'s pages from the
    part's, from the part's stream to its end."""
    import_obj = run.import_obj
    columns = schema_fields(reader.table_schema(run.result_table))
    page_mapping = _run_mapping(run, columns)
    failures = 0
    first_row = 1 if part is None else part.number * PART_ROW_SPAN + 1
    while True:
        if part is None:
            offset = ImportRun.objects.values_list("committed_offset", flat=True).get(pk=run.pk)
            if run.rows_expected is not None and offset >= run.rows_expected:
                return
            pages, wire = _pages_from(run, offset, reader, storage)
        else:
            offset = RunPart.objects.values_list("committed_offset", flat=True).get(pk=part.pk)
            size = settings.IMPORT_PAGE_SIZE
            pages = storage.pages(part.read_stream, offset=offset, page_size=size)
            wire = "arrow"

        high = high_water.page_high(run, columns, wire)

        def map_page(
            rows: list, offset: int, wire: Wire = wire, page_high: PageHigh | None = high
        ) -> tuple[list, list, Any]:
            mapped, rejected = mapping_module.map_page(
                page_mapping,
                rows,
                wire=wire,
                first_row_number=first_row + offset,
                now=timezone.now(),
            )
            return mapped, rejected, page_high(rows) if page_high else None

        try:
            # The next page is read and mapped while this one is written.
            with collector.paused(), PagePrefetcher(pages, map_page, offset=offset) as prefetched:
                # Straight into the table while pages bring only new rows; the usual way
                # after a page that found rows already stored (a re-read window, a re-import).
                direct = True
                for page in prefetched:
                    check_cancel(run)
                    written = write.write_page(
                        run, owner, import_obj, page, direct=direct, part=part
                    )
                    direct = written == len(page.mapped)
                    offset += page.size
                    failures = 0
                    collector.page_written()
                    write.let_other_writers_in()
            return
        except bigquery.GoogleCallError as error:
            gone = error.kind is GoogleErrorKind.READ_STREAM_GONE
            if part is None and storage is not None and gone:
                storage.close()
                storage = None
                read_path.restart_with_rest(run, owner, f"the read stream cannot be read ({error})")
                continue
            if error.permanent or failures >= settings.IMPORT_TRANSIENT_RETRIES:
                raise
            failures += 1
            base = settings.IMPORT_RETRY_BASE_SECONDS
            pause = min(30, base * 2 ** (failures - 1))  # 2, 4, 8, 16, 30 s by default
            logger.warning(
                "run %s: transient %s; retrying from row %s in %s s", run.pk, error, offset, pause
            )
            time.sleep(pause)
            if part is None:
                renew(run, owner)
            else:
                renew_part(part, owner)


def _pages_from(
    run: ImportRun,
    offset: int,
    reader: bigquery.ImportReader,
    storage: bigquery.StorageReader | None,
) -> tuple[Iterator[list], Wire]:
    """The result table's pages from `offset`: the read stream's (Arrow) or REST's."""
    size = settings.IMPORT_PAGE_SIZE
    if storage is not None:
        return storage.pages(run.read_stream, offset=offset, page_size=size), "arrow"
    return reader.pages(run.result_table, start_index=offset, page_size=size), "rest"


def check_cancel(run: ImportRun) -> None:
    """RunCancelled when Stop was asked for since the run was claimed."""
    if ImportRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
        raise RunCancelled
