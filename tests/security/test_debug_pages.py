"""Error reports (DEBUG pages, mailed reports) never show a decrypted key in a frame's locals."""

import sys

import pytest
from django.views.debug import ExceptionReporter

from connections import bigquery, check
from tests.factories import key_info
from tests.security.needles import key_leaks


def frame_variables(call) -> dict[str, str]:
    """{variable name: shown value} over every frame of the report of what `call` raised."""
    try:
        call()
    except Exception:
        data = ExceptionReporter(None, *sys.exc_info()).get_traceback_data()
    else:
        pytest.fail("the call did not raise")
    shown = {}
    for frame in data["frames"]:
        if "/tests/" in frame["filename"]:
            continue  # the test's own frames hold the key it passed in
        for name, value in frame["vars"]:
            shown[f"{frame['function']}.{name}"] = str(value)
    return shown


def assert_key_hidden(shown: dict[str, str], info: dict, frame: str) -> None:
    assert shown[f"{frame}.key_info"] == "'********************'"
    everything = "\n".join(shown.values())
    assert key_leaks(everything, info) == []


def test_the_bigquery_session_hides_the_key_in_error_reports():
    # A token address outside the allow-list raises inside the constructor.
    info = key_info(token_uri="https://evil.example/token")

    shown = frame_variables(lambda: bigquery.BigQuerySession(info, "acme-analytics"))

    assert_key_hidden(shown, info, "__init__")


class ExplodingKey(dict):
    """A key whose e-mail lookup fails: an unexpected error inside the connection test."""

    def get(self, name, default=None):
        if name == "client_email":
            raise RuntimeError("unexpected")
        return super().get(name, default)


def test_the_connection_test_hides_the_key_in_error_reports():
    info = key_info()
    exploding = ExplodingKey(info)

    shown = frame_variables(
        lambda: check.run_connection_test(
            key_info=exploding, project_id="acme-analytics", dataset_id="events"
        )
    )

    assert_key_hidden(shown, info, "run_connection_test")
    assert_key_hidden(shown, info, "__init__")
