"""Listens to imports.signals.run_finished: only enqueues the judging of the import, so a
slow broker, mail server or webhook can never hold up or fail the run that just ended."""

from typing import Any

from notifications import queue
from notifications.events import DECISIVE_RUN_STATUSES


def on_run_finished(*, import_id: str, status: str, **kwargs: Any) -> None:
    if status not in DECISIVE_RUN_STATUSES:
        return  # a cancelled run says nothing about the import's health
    queue.send_task_or_log(queue.EVALUATE_IMPORT, import_id)
