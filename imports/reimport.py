"""What a re-import will read, for its confirmation: the window's lower bound and the bytes a
BigQuery dry run of the window's query estimates. The change itself is
services.import_reimport."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from imports import browse, selectors
from imports.models import Import
from imports.run.window import read_from, watermark_at_day


class Refused(Exception):
    """A re-import this import cannot have now; the message is for the user."""


@dataclass
class Plan:
    from_day: dt.date | None
    watermark: str  # the watermark it sets ("" for everything)
    reads_from: str  # the next run's lower bound (the watermark minus the lookback window)
    estimate_bytes: int | None
    estimate_error: str  # why there is no estimate: the re-import may still be confirmed


def plan(import_obj: Import, *, from_day: dt.date | None, user: Any) -> Plan:
    if import_obj.sync_mode != Import.SyncMode.INCREMENTAL:
        raise Refused("Only an incremental import has a watermark to move back.")
    if import_obj.status == Import.Status.RUNNING or selectors.import_active_run(
        import_obj=import_obj
    ):
        raise Refused(
            "The import is running. Stop it or wait for the run to finish, then re-import."
        )
    watermark = ""
    if from_day is not None:
        try:
            watermark = watermark_at_day(import_obj, from_day, import_obj.workspace.time_zone)
        except ValueError as exc:
            raise Refused(
                f"The cursor column {import_obj.cursor_column} is an integer, not a date: "
                "use Re-import everything."
            ) from exc
    estimate, error = None, ""
    try:
        estimate = browse.window_estimate(import_obj, watermark, user=user)
    except browse.BrowseError as exc:
        error = f"{exc.detail} {exc.fix}".strip()
    return Plan(
        from_day=from_day,
        watermark=watermark,
        reads_from=read_from(import_obj, watermark),
        estimate_bytes=estimate,
        estimate_error=error,
    )
