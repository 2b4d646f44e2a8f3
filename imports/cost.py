"""What an import's runs cost: the monthly projection on the import's page (DESIGN.md
"Cost"): the mean bytes billed by its recent successful runs, times the runs its schedule
makes in a month, at settings.BIGQUERY_PRICE_PER_TIB (on-demand pricing)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from connections.cost import human_bytes, maximum_bytes_billed
from imports import schedules
from imports.models import Import, ImportRun

RECENT_RUNS = 10
TIB = 2**40
# A schedule's runs are counted over a week and scaled to an average month. A schedule
# that runs less than daily (a weekly one, or a cron on the 1st of the month) is counted over
# eight years instead, every month and leap day included, up to LONG_SAMPLE_RUNS runs (more
# than a weekly schedule makes): past those, over the time they take.
SAMPLE = dt.timedelta(days=7)
LONG_SAMPLE = dt.timedelta(weeks=52 * 8)
LONG_SAMPLE_RUNS = 500
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Projection:
    runs: int  # successful runs the mean is taken over
    mean_billed: int
    runs_per_month: float | None  # None: the import runs only when started

    @property
    def bytes_per_month(self) -> int:
        return round(self.mean_billed * (self.runs_per_month or 0))

    def text(self) -> str:
        price = settings.BIGQUERY_PRICE_PER_TIB
        each = (
            f"each run bills about {human_bytes(self.mean_billed)} (the mean of its last "
            f"{self.runs} successful run{'s' if self.runs != 1 else ''})"
        )
        if self.runs_per_month is None:
            return (
                f"It runs only when started; {each}, {dollars(self.mean_billed, price)} "
                f"a run at ${price:g} per TiB."
            )
        monthly = self.bytes_per_month
        return (
            f"About {human_bytes(monthly)} a month, {dollars(monthly, price)} at "
            f"${price:g} per TiB: about {_runs(self.runs_per_month)} a month, {each}."
        )


def _runs(count: float) -> str:
    """ "720 runs", "4.3 runs", "1 run": whole numbers from 10 on, one decimal below."""
    text = f"{count:,.0f}" if count >= 10 else f"{count:.1f}".removesuffix(".0")
    return f"{text} run{'' if text == '1' else 's'}"


def dollars(size: int, price_per_tib: float) -> str:
    """ "about $0.08" (or "less than $0.01") for `size` bytes at the on-demand price."""
    amount = size / TIB * price_per_tib
    return "less than $0.01" if 0 < amount < 0.005 else f"about ${amount:,.2f}"


def runs_per_month(import_obj: Import, now: dt.datetime | None = None) -> float | None:
    """How many runs the import's schedule makes in an average month (None: no schedule
    that repeats)."""
    if import_obj.schedule_kind not in ("hourly", "daily", "weekly", "cron"):
        return None
    schedule = schedules.Schedule.from_import(import_obj)
    start = now or timezone.now()
    count, _ = _runs_in(schedule, start, SAMPLE)
    if count < SAMPLE.days:
        return _sparse_runs_per_month(schedule, start.replace(minute=0, second=0, microsecond=0))
    return count * DAYS_PER_MONTH / SAMPLE.days


@functools.lru_cache(maxsize=256)
def _sparse_runs_per_month(schedule: schedules.Schedule, start: dt.datetime) -> float:
    """Over LONG_SAMPLE, from the hour: kept for the hour, since the import's page asks
    again each time it refreshes its progress."""
    count, span = _runs_in(schedule, start, LONG_SAMPLE, LONG_SAMPLE_RUNS)
    return count * DAYS_PER_MONTH / (span / dt.timedelta(days=1))


def _runs_in(
    schedule: schedules.Schedule, start: dt.datetime, span: dt.timedelta, most: int | None = None
) -> tuple[int, dt.timedelta]:
    """The runs after `start` within `span`, and the span they were counted over: up to the
    `most`-th run when there are that many."""
    count, at = 0, start
    while most is None or count < most:
        following = schedules.next_run_after(schedule, at)
        if following is None or following > start + span:
            return count, span
        count, at = count + 1, following
    return count, at - start


def monthly_projection(import_obj: Import, now: dt.datetime | None = None) -> Projection | None:
    """None until a successful run has billed something known."""
    billed = [
        size
        for size in ImportRun.objects.filter(
            import_obj=import_obj,
            workspace_id=import_obj.workspace_id,
            status__in=ImportRun.SUCCEEDED_STATUSES,
            bytes_billed__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("bytes_billed", flat=True)[:RECENT_RUNS]
        if size is not None
    ]
    if not billed:
        return None
    return Projection(
        runs=len(billed),
        mean_billed=round(sum(billed) / len(billed)),
        runs_per_month=runs_per_month(import_obj, now),
    )


def limit_text(import_obj: Import) -> str:
    """The import's Maximum bytes billed, and where it comes from."""
    limit = human_bytes(
        maximum_bytes_billed(import_obj.connection, import_obj.maximum_bytes_billed)
    )
    if import_obj.maximum_bytes_billed:
        return f"{limit} per query (this import's own limit)"
    if import_obj.connection.maximum_bytes_billed:
        return f"{limit} per query (the connection's limit)"
    return f"{limit} per query (the server's default)"
