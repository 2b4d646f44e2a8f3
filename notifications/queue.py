"""Sending notification work to the workers.

By task name, not by importing notifications.tasks: the tasks call alerts and the
connection watch, which enqueue through here, so an import of the tasks would close a circle.
"""

import logging
from typing import Any

from celery import current_app

logger = logging.getLogger(__name__)

EVALUATE_IMPORT = "notifications.tasks.evaluate_import"
DELIVER = "notifications.tasks.deliver"
CHECK_CONNECTION = "notifications.tasks.check_connection"


def send_task_or_log(name: str, *args: Any, countdown: float | None = None) -> bool:
    """Enqueue; False (logged) when the broker refuses: the sweep catches up later."""
    try:
        current_app.send_task(name, args=args, countdown=countdown)
    except Exception:
        logger.warning("could not enqueue %s%r; the sweep will catch up", name, args, exc_info=True)
        return False
    return True


def enqueue_deliveries(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        if not send_task_or_log(DELIVER, delivery_id):
            return  # the broker is away; the sweep sends them all
