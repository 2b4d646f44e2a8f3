"""What every query job of a connection carries: the most it may bill and its labels
(DESIGN.md "Cost"). Google's label rules: lowercase letters, digits, _ and -, at most 63
characters (https://cloud.google.com/bigquery/docs/labels-intro#requirements)."""

from __future__ import annotations

import re

from django.conf import settings

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
