"""Giving up on the database (imports.run.database), the end of the reconnect loop that a
run and a part share: the fault tests cover the reconnect itself."""

import pytest
from django.db.utils import OperationalError

from imports.run import database

pytestmark = pytest.mark.django_db(transaction=True)  # the helpers close the connection


def test_after_the_last_retry_the_caller_gives_up_without_waiting():
    assert database.reconnect(OperationalError("gone"), "run x", database.RETRIES + 1) is False


def test_giving_up_records_the_failure_with_a_reference_to_the_log(caplog):
    recorded = []

    def fail(message: str) -> str:
        recorded.append(message)
        return "failed"

    assert database.give_up("run x", fail) == "failed"
    [message] = recorded
    assert message.startswith("The database kept refusing the import's writes. Reference: ")
    reference = message.split("Reference: ")[1].split(" ")[0]
    assert f"run x: database error again (reference {reference})" in caplog.text


def test_when_even_the_failure_cannot_be_written_the_work_is_left_to_the_reaper():
    def fail(message: str) -> str:
        raise OperationalError("still gone")

    assert database.give_up("run x", fail) == "database_unavailable"
