"""What every query job of a connection carries: the most it may bill and its labels
(DESIGN.md "Cost"). Google's label rules: lowercase letters, digits, _ and -, at most 63
characters (https://cloud.google.com/bigquery/docs/labels-intro#requirements)."""

from __future__ import annotations

import re

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from connections.bigquery import JobOptions
from connections.models import Connection

_NOT_LABEL = re.compile(r"[^a-z0-9_-]")


def label_value(text: object) -> str:
    return _NOT_LABEL.sub("_", str(text).lower())[:63]


def maximum_bytes_billed(connection: Connection, override: int | None = None) -> int:
    """The import's own limit, else the connection's, else the server's default."""
    return override or connection.maximum_bytes_billed or settings.BIGQUERY_MAXIMUM_BYTES_BILLED


def job_options(
    connection: Connection,
    purpose: str,
    *,
    maximum: int | None = None,
    labels: dict[str, object] | None = None,
    destination: str = "",
) -> JobOptions:
    """Options for a job of `connection`, for `purpose` (test, preview or run)."""
    values = {"workspace": connection.workspace_id, **(labels or {})}
    return JobOptions(
        purpose=purpose,
        maximum_bytes_billed=maximum_bytes_billed(connection, maximum),
        labels=tuple((key, label_value(value)) for key, value in values.items()),
        destination=destination,
        kms_key_name=connection.scratch_kms_key_name if destination else "",
    )


def human_bytes(size: int | None) -> str:
    """Bytes as the pages show them ("2.3 GB"), with a plain space."""
    return str(filesizeformat(size or 0)).replace("\xa0", " ")


def over_limit_message(estimate: int, limit: int) -> str:
    """Why a run stopped before its query: the estimate exceeds its limit, and the fix."""
    return (
        f"The run's query would process about {human_bytes(estimate)}, more than its limit "
        f"of {human_bytes(limit)} (Maximum bytes billed), so it was not run and nothing was "
        "billed. Raise Maximum bytes billed on the import (Edit) or on its connection, or "
        "make the source smaller."
    )
