"""How a run that read all its rows ends: Succeeded, Succeeded with rejections, or Failed
because it rejected more of its rows than the import's rejection threshold allows.

A failed run does not move the watermark, so the next run reads the same window again
once the mapping (or the data, or the threshold) is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from imports.models import ImportRun


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str = ""


def share_text(part: int, whole: int) -> str:
    """'100 %', '50 %', '33.3 %' (floored, so 99.99 % is never shown as 100 %)."""
    if whole <= 0:
        return "0 %"
    return f"{(part * 1000 // whole) / 10:g} %"


def verdict(
    *, read: int, rejected: int, threshold: int, top_reason: str = "", incremental: bool = False
) -> Verdict:
    """The end of a run from its counters. Above the threshold means a larger share:
    rejected / read > threshold %, compared in integers."""
    if rejected <= 0:
        return Verdict(ImportRun.Status.SUCCEEDED)
    if rejected * 100 > threshold * read:
        message = (
            f"Rejected {rejected:,} of {read:,} rows ({share_text(rejected, read)}), above "
            f"this import's {threshold} % threshold"
        )
        message += f" (most rejected rows: {top_reason})." if top_reason else "."
        message += (
            " Check the identity column and the mapping; Duplicate the import to change them."
        )
        if incremental:
            message += " The watermark did not move: the next run reads the same rows again."
        return Verdict(ImportRun.Status.FAILED, message)
    return Verdict(ImportRun.Status.SUCCEEDED_WITH_REJECTIONS)
