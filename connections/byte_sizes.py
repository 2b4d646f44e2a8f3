"""Byte counts as people type them: `10 GB`, `1.5 TiB`, `500000000` (decimal units are
powers of 1,000, binary units of 1,024, as Google's console and pricing pages use them)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
MAX_BYTES = 2**63 - 1  # BigQuery's maximumBytesBilled is an int64
_SIZE = re.compile(r"([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([a-z]*)")


def parse_bytes(text: str, *, label: str) -> int:
    """The byte count `text` names; ValidationError naming `label` and the accepted forms."""
    match = _SIZE.fullmatch(text.strip().lower())
    unit = UNITS.get(match[2]) if match else None
    if match is None or unit is None:
        raise ValidationError(
            f"{label} must be a number of bytes, optionally with a unit: for example "
            "500000000, 10 GB or 1.5 TiB (units B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, "
            "PiB).",
            code="bytes_format",
        )
    try:
        value = Decimal(match[1].replace(",", "").replace("_", "")) * unit
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only numbers
        raise ValidationError(f"{label} is not a number.", code="bytes_format") from error
    if value < 1:
        raise ValidationError(f"{label} must be at least 1 byte.", code="bytes_positive")
    if value > MAX_BYTES:
        raise ValidationError(f"{label} must be at most 8 EiB.", code="bytes_too_large")
    return int(value)


def format_bytes(value: int | None) -> str:
    """`value` in the largest binary unit that keeps it whole (for the form's initial value)."""
    if not value:
        return ""
    for name in ("PiB", "TiB", "GiB", "MiB", "KiB"):
        size = UNITS[name.lower()]
        if value % size == 0:
            return f"{value // size} {name}"
    return str(value)
