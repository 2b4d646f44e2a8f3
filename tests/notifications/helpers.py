"""Imports and runs for alert tests, without BigQuery: the runs are written as the runner
leaves them."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from imports.models import ImportRun
from imports.services import run_create
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import

_slots = itertools.count()


def an_import(workspace, user, name: str = "Nightly users", connection=None):
    connection = connection or make_connection(workspace, user, name=f"Warehouse {name}")
    return make_import(connection, user, table="users", name=name, schedule_kind="none")


def finished_run(
    import_obj,
    status: str,
    *,
    error: str = "",
    read: int = 120,
    rejected: int = 0,
    unchanged: int = 0,
) -> ImportRun:
    """A run that ended with `status`, created after every earlier one."""
    run = run_create(
        import_obj=import_obj,
        scheduled_for=timezone.now() + dt.timedelta(microseconds=next(_slots)),
        trigger="manual",
        enqueue=False,
    )
    now = timezone.now()
    ImportRun.objects.filter(pk=run.pk).update(
        status=status,
        started_at=now - dt.timedelta(minutes=3),
        finished_at=now,
        rows_read=read,
        rows_written=read - rejected - unchanged,
        rows_unchanged=unchanged,
        rows_rejected=rejected,
        error_message=error or ("Google rejected the key." if status == "failed" else ""),
    )
    run.refresh_from_db()
    return run
