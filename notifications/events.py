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
# Rejected rows: a run that rejects more than its import's rejection threshold ends Failed
# (imports/run/verdict.py), so it is FAILING and sends "run failed" like any failure; no
# separate "rejecting" health is needed for it. A run that rejects some rows but stays
# within the threshold ends "succeeded_with_rejections": the import accepted that share,
# so it counts as OK (a first one after failures sends "import recovered"), and the run's
# page and the imports list show its health in tones instead.
IMPORT_TRANSITIONS: dict[tuple[str, str], EventKind] = {
    (Health.OK, Health.FAILING): EventKind.RUN_FAILED,
    (Health.FAILING, Health.OK): EventKind.IMPORT_RECOVERED,
}

CONNECTION_TRANSITIONS: dict[tuple[str, str], EventKind] = {
    (Health.OK, Health.FAILING): EventKind.CONNECTION_FAILING,
    (Health.FAILING, Health.OK): EventKind.CONNECTION_RECOVERED,
}

# Run statuses that say something about an import's health; a cancelled run says nothing.
DECISIVE_RUN_STATUSES = ("succeeded", "succeeded_with_rejections", "failed")


def run_health(*, status: str) -> Health | None:
    """The import's health after a run that ended with `status`; None: no news."""
    if status == "failed":
        return Health.FAILING
    if status in ("succeeded", "succeeded_with_rejections"):
        return Health.OK
    return None


def import_event(previous: str, current: str) -> EventKind | None:
    return IMPORT_TRANSITIONS.get((previous, current))


def connection_event(previous: str, current: str) -> EventKind | None:
    return CONNECTION_TRANSITIONS.get((previous, current))
