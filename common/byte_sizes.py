"""Sizes as people type them (`500 GB`, `1.5 TiB`, `2,000,000,000`) and as forms show them
back, read one way wherever a size is typed: a connection's or an import's *Maximum bytes
billed* and the server's `BIGQUERY_MAXIMUM_BYTES_BILLED`.

KB, MB, GB, TB and PB are binary multiples (1 GB = 1,024 MB), as every page shows sizes
(Django's filesizeformat), so a limit typed as "10 GB" reads back as "10.0 GB" and not as
"9.3 GB"; KiB … PiB name the same multiples."""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import ValidationError

UNITS = {
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
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)")
_SHOWN_UNITS = ("PB", "TB", "GB", "MB", "KB")
_MOST_IN_A_UNIT = 100_000  # more digits than that read better as a byte count


def parse_bytes(text: str) -> int:
    """The limit `text` names; ValueError saying what to type when it is not a usable one."""
    compact = text.strip().lower().replace(",", "").replace("_", "")
    found = _SIZE.fullmatch(compact)
    if found is None or found[2] not in UNITS:
        raise ValueError(
            "Enter a size such as 500 GB, 1.5 TB or 1073741824 (bytes); units: bytes, KB, MB, "
            "GB, TB, PB (1 GB = 1,024 MB)."
        )
    size = int(Decimal(found[1]) * UNITS[found[2]])
    if size < MINIMUM_LIMIT:
        raise ValueError(
            "Enter at least 10 MB: BigQuery bills at least 10 MB for each table a query "
            "reads, so a smaller limit fails every run."
        )
    if size > MAXIMUM_LIMIT:
        raise ValueError("Enter at most 1024 PB.")
    return size


def clean_limit(text: str, *, label: str) -> int | None:
    """A form's size field: None when blank (the next limit applies), else the size;
    ValidationError naming `label` when it is not one."""
    if not text.strip():
        return None
    try:
        return parse_bytes(text)
    except ValueError as error:
        raise ValidationError(f"{label}: {error}", code="bytes") from error


def format_bytes(value: int | None) -> str:
    """`value` as a form shows it back, so that it reads back as exactly the same number: in
    the largest unit that keeps it whole and short ("10 GB", "10241 KB"), else in bytes
    ("20,000,000,000", not "19531250 KB")."""
    if not value:
        return ""
    for name in _SHOWN_UNITS:
        size = UNITS[name.lower()]
        if value % size == 0 and value // size < _MOST_IN_A_UNIT:
            return f"{value // size} {name}"
    return f"{value:,}"
