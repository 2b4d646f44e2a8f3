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
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
# Binary multiples, as the pages show sizes (filesizeformat: 1 GB = 1024 MB).
_UNITS = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "k": 2**10, "kb": 2**10, "kib": 2**10,
    "m": 2**20, "mb": 2**20, "mib": 2**20,
    "g": 2**30, "gb": 2**30, "gib": 2**30,
    "t": 2**40, "tb": 2**40, "tib": 2**40,
    "p": 2**50, "pb": 2**50, "pib": 2**50,
}  # fmt: skip
# BigQuery bills at least 10 MB for each table a query reads: a lower limit fails every run.
MINIMUM_LIMIT = 10 * 2**20
MAXIMUM_LIMIT = 2**60


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


def parse_bytes(text: str) -> int:
    """A size as a person types it ("500 GB", "1.5 TiB", "2,000,000,000"); ValueError with
    the reason when it is not one, or not a usable limit."""
    compact = text.strip().lower().replace(",", "").replace("_", "")
    found = _SIZE.fullmatch(compact)
    if found is None or found.group(2) not in _UNITS:
        raise ValueError(
            "Enter a size such as 500 GB, 2 TB or 1073741824 (bytes); units: bytes, KB, MB, "
            "GB, TB, PB."
        )
    size = int(float(found.group(1)) * _UNITS[found.group(2)])
    if size < MINIMUM_LIMIT:
        raise ValueError(
            "Enter at least 10 MB: BigQuery bills at least 10 MB for each table a query "
            "reads, so a smaller limit fails every run."
        )
    if size > MAXIMUM_LIMIT:
        raise ValueError("Enter at most 1024 PB.")
    return size


def size_text(size: int | None) -> str:
    """A limit as the form shows it: in words when that reads back exactly, else bytes."""
    if not size:
        return ""
    words = human_bytes(size)
    try:
        return words if parse_bytes(words) == size else str(size)
    except ValueError:
        return str(size)
