"""What alerts are about, and when one is due: pure logic, no database.

Alerts follow changes of state, never single runs: an hourly import that fails all day
sends one "run failed", then one "import recovered". Each watched thing (an import, a
connection's daily check) has a health; an alert goes out when the health a new result
gives differs from the one last alerted, as the tables below say.
"""

from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    RUN_FAILED = "run.failed", "Run failed"
    IMPORT_RECOVERED = "import.recovered", "Import recovered (first success after a failure)"
    CONNECTION_FAILING = "connection.failing", "Connection failing its daily check"
    CONNECTION_RECOVERED = "connection.recovered", "Connection passing its daily check again"
    KEY_OLD = "connection.key_old", "Service-account key older than 90 days"
    TEST = "test", "Test"


# Kinds an admin can turn on or off (a test is always sent to the one it tests).
TOGGLED_KINDS = [kind for kind in EventKind if kind != EventKind.TEST]


class Health(models.TextChoices):
    OK = "ok", "OK"
    FAILING = "failing", "Failing"


# (health last alerted, health now) -> the alert to send. Pairs not listed send nothing.
#
# A "run succeeded with rejections above the import's threshold" event is one more case:
# a Health.REJECTING, run_health() returning it for such a run, an EventKind for it, and
# the pairs (OK, REJECTING) -> that kind, (REJECTING, OK) -> IMPORT_RECOVERED,
# (REJECTING, FAILING) -> RUN_FAILED (and FAILING -> REJECTING -> that kind, if wanted).
IMPORT_TRANSITIONS: dict[tuple[str, str], EventKind] = {
    (Health.OK, Health.FAILING): EventKind.RUN_FAILED,
    (Health.FAILING, Health.OK): EventKind.IMPORT_RECOVERED,
}

CONNECTION_TRANSITIONS: dict[tuple[str, str], EventKind] = {
    (Health.OK, Health.FAILING): EventKind.CONNECTION_FAILING,
    (Health.FAILING, Health.OK): EventKind.CONNECTION_RECOVERED,
}

# Run statuses that say something about an import's health; a cancelled run says nothing.
DECISIVE_RUN_STATUSES = ("succeeded", "failed")


def run_health(*, status: str) -> Health | None:
    """The import's health after a run that ended with `status`; None: no news."""
    if status == "failed":
        return Health.FAILING
    if status == "succeeded":
        return Health.OK
    return None


def import_event(previous: str, current: str) -> EventKind | None:
    return IMPORT_TRANSITIONS.get((previous, current))


def connection_event(previous: str, current: str) -> EventKind | None:
    return CONNECTION_TRANSITIONS.get((previous, current))
