"""The status badges of imports, runs and connections: colour by status, text escaped."""

import pytest
from django.template import Context, Template

from connections.models import Connection
from imports.models import Import, ImportRun


def draw(source: str, **values) -> str:
    return Template(source).render(Context(values))


@pytest.mark.parametrize(
    ("status", "colour", "text"),
    [
        ("ready", "skipped", "Ready"),
        ("scheduled", "ok", "Scheduled"),
        ("running", "warn", "Running"),
        ("paused", "skipped", "Paused"),
        ("completed", "ok", "Completed"),
        ("failed", "fail", "Failed"),
        ("stopped", "skipped", "Stopped"),
    ],
)
def test_import_badge(status, colour, text):
    drawn = draw("{% load import_tags %}{% import_status_badge imp %}", imp=Import(status=status))

    assert drawn == f'<span class="badge badge-{colour} import-status-{status}">{text}</span>'


@pytest.mark.parametrize(
    ("status", "colour", "text"),
    [
        ("queued", "skipped", "Queued"),
        ("running", "warn", "Running"),
        ("succeeded", "ok", "Succeeded"),
        ("failed", "fail", "Failed"),
        ("cancelled", "skipped", "Cancelled"),
    ],
)
def test_run_badge(status, colour, text):
    drawn = draw("{% load import_tags %}{% run_status_badge run %}", run=ImportRun(status=status))

    assert drawn == f'<span class="badge badge-{colour} run-status-{status}">{text}</span>'


def test_every_status_has_a_case_above():
    # A new status must be given a colour on purpose, not fall to grey unnoticed.
    assert {s.value for s in Import.Status} == {
        "ready", "scheduled", "running", "paused", "completed", "failed", "stopped"
    }  # fmt: skip
    assert {s.value for s in ImportRun.Status} == {
        "queued", "running", "succeeded", "failed", "cancelled"
    }  # fmt: skip


def test_connection_badge_shows_the_reason_on_hover_escaped():
    failing = Connection(status="failing", status_reason='Dataset "x" <not> found')
    untested = Connection(status="untested", status_reason="")
    template = "{% load connection_tags %}{% connection_status_badge c %}"

    assert draw(template, c=failing) == (
        '<span class="badge badge-failing" title="Dataset &quot;x&quot; &lt;not&gt; found">'
        "Failing</span>"
    )
    assert draw(template, c=untested) == '<span class="badge badge-untested">Untested</span>'
