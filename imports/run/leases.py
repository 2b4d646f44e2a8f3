"""Who may write a run: a worker claims it (queued, or running with an expired lease) and
then writes only while the lease is its own (`... WHERE lease_owner = me`), renewing it as
it goes, so a stale duplicate delivery writes nothing."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from imports.models import ImportRun, RunPart

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker owns this run now (or it was deleted): stop without writing."""


class RunEnded(LeaseLost):
    """The split run this part belongs to has ended (another part failed it, or Stop ended
    it): the part stops without writing, as the run's numbers are final."""


def lost(run_id: Any, what: str) -> str:
    """Log what became of a run whose lease this worker lost (`what` names the run or its
    part) and return it: "deleted" (with its import or connection) or "lease_lost"."""
    if ImportRun.objects.filter(pk=run_id).exists():
        outcome, meaning = "lease_lost", "lease lost, another worker owns it now"
    else:
        outcome, meaning = "deleted", "deleted with its import or connection"
    logger.warning("%s: %s; stopped without writing more", what, meaning)
    return outcome


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_claim(*, run_id: str, owner: str) -> ImportRun | None:
    """Take the run if it is queued, or running with an expired lease; None otherwise."""
    now = timezone.now()
    claimed = (
        ImportRun.objects.filter(pk=run_id)
        .filter(
            Q(status=ImportRun.Status.QUEUED)
            | Q(status=ImportRun.Status.RUNNING, lease_until__lt=now)
        )
        .update(
            status=ImportRun.Status.RUNNING,
            lease_owner=owner,
            lease_until=now + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    if not claimed:
        return None
    return ImportRun.objects.select_related(
        "import_obj", "import_obj__connection", "import_obj__workspace"
    ).get(pk=run_id)


def fenced(run: ImportRun, owner: str) -> QuerySet[ImportRun]:
    return ImportRun.objects.filter(pk=run.pk, lease_owner=owner, status=ImportRun.Status.RUNNING)


def renew(run: ImportRun, owner: str, **fields: Any) -> None:
    updated = fenced(run, owner).update(
        lease_until=timezone.now() + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS), **fields
    )
    if not updated:
        raise LeaseLost


def freeze(run: ImportRun, owner: str, **fields: Any) -> None:
    """Save the run's result table with the latest cursor value it accepts and what its
    query cost, before any page is written (a resumed run reads the same rows with the same
    limit), with `fields` (how it will read them)."""
    renew(
        run,
        owner,
        result_table=run.result_table,
        watermark_limit=run.watermark_limit,
        rows_expected=run.rows_expected,
        bytes_scanned=run.bytes_scanned,
        bytes_billed=run.bytes_billed,
        **fields,
    )


def part_claim(*, part_id: int, owner: str) -> RunPart | None:
    """Take a part of a running run if it is queued, or running with an expired lease."""
    now = timezone.now()
    claimed = (
        RunPart.objects.filter(pk=part_id, run__status=ImportRun.Status.RUNNING)
        .filter(
            Q(status=RunPart.Status.QUEUED) | Q(status=RunPart.Status.RUNNING, lease_until__lt=now)
        )
        .update(
            status=RunPart.Status.RUNNING,
            lease_owner=owner,
            lease_until=now + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    return RunPart.objects.select_related(
        "run", "run__import_obj", "run__import_obj__connection", "run__import_obj__workspace"
    ).get(pk=part_id)


def fenced_part(part: RunPart, owner: str) -> QuerySet[RunPart]:
    return RunPart.objects.filter(pk=part.pk, lease_owner=owner, status=RunPart.Status.RUNNING)


def renew_part(part: RunPart, owner: str, run_fields: dict | None = None, **fields: Any) -> None:
    """Renew the part's lease with `fields`, and the run's (which its parts hold together)
    with `run_fields` (F() increments: parts add to the run's counters side by side)."""
    until = timezone.now() + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS)
    if not fenced_part(part, owner).update(lease_until=until, **fields):
        raise LeaseLost
    if not ImportRun.objects.filter(pk=part.run_id, status=ImportRun.Status.RUNNING).update(
        lease_until=until, **(run_fields or {})
    ):
        raise RunEnded
