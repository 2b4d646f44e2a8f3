"""Sending runs to the workers.

By task name, not by importing imports.tasks: the tasks call the services and the runner,
which enqueue through here, so an import of the tasks would close a circle.
"""

import logging

from celery import current_app

logger = logging.getLogger(__name__)

RUN_IMPORT = "imports.tasks.run_import"
RUN_PART = "imports.tasks.run_part"


def enqueue_run(run_id: str) -> bool:
    """Send the run to a worker. False when the broker is unreachable: the run stays queued
    in the database and the reaper sends it again later, so callers never fail on it."""
    return _send(RUN_IMPORT, run_id, "run")


def enqueue_part(part_id: int) -> bool:
    """Send one part of a split run to a worker (False when the broker is unreachable: the
    reaper sends it once its lease, or its run's, runs out)."""
    return _send(RUN_PART, part_id, "part")


def _send(task: str, ident: str | int, what: str) -> bool:
    try:
        current_app.send_task(task, args=[ident])
    except Exception:
        logger.warning("could not enqueue %s %s; the reaper will retry", what, ident, exc_info=True)
        return False
    return True


def enqueue_runs(run_ids: list[str]) -> list[str]:
    """Send the runs in order, stopping at the first the broker refuses (each refusal costs
    a connection attempt; the reaper sends the rest once it is back). Returns those sent."""
    sent = []
    for run_id in run_ids:
        if not enqueue_run(run_id):
            break
        sent.append(run_id)
    return sent
