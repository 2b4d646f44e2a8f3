"""What imports tells the rest of the app, without knowing who listens.

`run_finished` is sent once a run has ended (succeeded, failed or cancelled), after the
transaction that recorded its end has committed, with keyword arguments `run_id`,
`import_id`, `workspace_id` (strings) and `status` (an ImportRun.Status value).

Why a signal sent on commit, and not a call into the apps above imports: the runner must
not import code that could slow down or fail a run (alerts send mail and call webhooks).
A receiver runs in the worker right after the run's final commit, so the run's outcome is
already safe; it must stay cheap (enqueue a task with the ids, nothing more) and may
fail: `send_robust` logs its error and the runner carries on. A message lost on the way
is caught up by the receiver's own periodic sweep, which reads the runs themselves.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

run_finished = Signal()


def announce_run_finished(*, run_id: str, import_id: str, workspace_id: str, status: str) -> None:
    """Send `run_finished` once the current transaction commits (at once outside one)."""

    def send() -> None:
        for receiver, result in run_finished.send_robust(
            sender=None,
            run_id=run_id,
            import_id=import_id,
            workspace_id=workspace_id,
            status=status,
        ):
            if isinstance(result, Exception):
                logger.warning(
                    "run %s: a run_finished receiver failed (%s: %s); the run is not affected",
                    run_id,
                    getattr(receiver, "__qualname__", receiver),
                    result,
                )

    transaction.on_commit(send)
