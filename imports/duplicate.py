"""Duplicate: a Create Import draft holding an import's definition, to change what Edit
cannot (its source, its mapping, its cursor) without starting from nothing.

The draft opens on the source step with the import's table or query filled in; every step
keeps the import's choices, and the wizard checks them all again against the source as it
is now (a changed schema drops the mapping and the cursor, as it does in any draft).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from common.byte_sizes import format_bytes
from imports.draft import Draft
from imports.forms import columns_of
from imports.models import Import

NAME_PREFIX = "Copy of "


def draft_from_import(import_obj: Import, time_zone: str) -> Draft:
    draft = Draft.new(import_obj.connection_id)
    draft.copy_of = {"data": _source_data(import_obj), "schema": import_obj.source_schema}
    draft.name = f"{NAME_PREFIX}{import_obj.name}"[:100]
    draft.maximum_bytes_billed = format_bytes(import_obj.maximum_bytes_billed)
    draft.target = _target_data(import_obj)
    draft.sync = _sync_data(import_obj)
    draft.schedule = _schedule_data(import_obj, time_zone)
    return draft


def _source_data(import_obj: Import) -> dict[str, Any]:
    return {
        "source_kind": import_obj.source_kind,
        "table": import_obj.source_table,
        "query": import_obj.source_query,
    }


def _target_data(import_obj: Import) -> dict[str, Any]:
    """The target step's form data: its fields, and each column's include_<i>/property_<i>
    by the column's place in the import's schema."""
    data: dict[str, Any] = {
        "target": import_obj.target,
        "identity_column": import_obj.identity_column,
        "event_name_source": "fixed" if import_obj.event_name_fixed else "column",
        "event_name_column": import_obj.event_name_column,
        "event_name_fixed": import_obj.event_name_fixed,
        "timestamp_column": import_obj.timestamp_column,
        "source_time_zone": import_obj.source_time_zone,
        "timestamp_unit": import_obj.timestamp_unit,
        "event_id_column": import_obj.event_id_column,
        "null_policy": import_obj.null_policy,
    }
    for flag in ("identity_trim", "identity_lowercase"):
        if getattr(import_obj, flag):
            data[flag] = "on"
    mapped = {m["column"]: m for m in import_obj.column_mapping}
    for column in columns_of(import_obj.source_schema):
        choice = mapped.get(column.name)
        if choice is None or choice.get("include", True):
            data[f"include_{column.index}"] = "on"
        data[f"property_{column.index}"] = choice["property"] if choice else column.name
    return data


def _sync_data(import_obj: Import) -> dict[str, Any]:
    return {
        "sync_mode": import_obj.sync_mode,
        "cursor_column": import_obj.cursor_column,
        "rejection_threshold": str(import_obj.rejection_threshold),
        "lookback_seconds": str(import_obj.lookback_seconds or 0),
    }


def _schedule_data(import_obj: Import, time_zone: str) -> dict[str, Any]:
    """The schedule step's form data, in the wall time of the workspace's zone."""
    data: dict[str, Any] = {"schedule_kind": import_obj.schedule_kind}
    time = import_obj.schedule_time
    if import_obj.schedule_kind == "once" and import_obj.schedule_at is not None:
        wall = import_obj.schedule_at.astimezone(zoneinfo.ZoneInfo(time_zone))
        data["schedule_at"] = f"{wall:%Y-%m-%d %H:%M}"
    elif import_obj.schedule_kind == "hourly" and time is not None:
        data["schedule_minute"] = str(time.minute)
    elif time is not None:
        data["schedule_time"] = f"{time:%H:%M}"
    if import_obj.schedule_weekday is not None:
        data["schedule_weekday"] = str(import_obj.schedule_weekday)
    if import_obj.schedule_cron:
        data["schedule_cron"] = import_obj.schedule_cron
    return data
