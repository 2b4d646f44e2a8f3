"""Who may write a run: a worker claims it (queued, or running with an expired lease) and
then writes only while the lease is its own (`... WHERE lease_owner = me`), renewing it as
it goes, so a stale duplicate delivery writes nothing."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from imports.models import ImportRun


class LeaseLost(Exception):
    """Another worker owns this run now (or it was deleted): stop without writing."""


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
