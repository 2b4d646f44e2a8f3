"""A worker's database connection lost mid-run (PostgreSQL restarted, the backend was
terminated, a failover), for a run and for a part alike: the page in flight rolls back with
its offset, so the worker reconnects and carries on from the committed row while it still
holds its lease, and gives up after RETRIES."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.db import transaction
from django.db.utils import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

RETRIES = 5
# What a lost or refused connection raises; a broken connection stays broken until it is
# closed (Django reconnects only then).
ERRORS = (OperationalError, InterfaceError)


def reconnect(error: Exception, what: str, attempt: int) -> bool:
    """After the `attempt`-th database error in a row: close the broken connection and, while
    attempts are left, log the error and wait 1, 2, 4… seconds (at most 30) before the caller
    carries on from its committed row; False when it should give up."""
    transaction.get_connection().close()
    if attempt > RETRIES:
        return False
    pause = min(30, 2 ** (attempt - 1))
    logger.warning(
        "%s: database error (%s); resuming from the committed row in %s s",
        what,
        str(error).strip(),
        pause,
    )
    time.sleep(pause)
    return True


def give_up(what: str, fail: Callable[[str], str]) -> str:
    """Record the failure with `fail(message)` once the database refused again and again
    (called while handling the last error, which goes to the log under the message's
    reference); when even that cannot be written, leave it: the lease runs out and the
    reaper sends the work again."""
    reference = uuid.uuid4().hex[:12]
    logger.exception("%s: database error again (reference %s)", what, reference)
    message = (
        f"The database kept refusing the import's writes. Reference: {reference} "
        "(in the server log)."
    )
    try:
        return fail(message)
    except ERRORS:
        transaction.get_connection().close()
        return "database_unavailable"
