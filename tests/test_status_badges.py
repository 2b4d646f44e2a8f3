"""One set of status badges: every status maps to one tone, every badge class the pages can
draw is defined in app.css, and the badges escape what they show."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from connections.models import Connection
from imports.models import Import, ImportRun
from notifications.models import Delivery
from workspaces.badges import STATUS_TONES, TONES

ROOT = Path(settings.BASE_DIR)
APP_CSS = ROOT / "static" / "css" / "app.css"
# Where badges are drawn: the templates and the template tags that draw them.
SOURCES = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templatetags/*.py")]
BADGE_CLASS = re.compile(r"\bbadge-([a-z][a-z0-9-]*)")


def draw(source: str, **values) -> str:
    return Template(source).render(Context(values))


def css_badge_classes() -> set[str]:
    return set(re.findall(r"\.badge-([a-z][a-z0-9-]*)", APP_CSS.read_text()))


def test_every_tone_is_defined_in_the_app_css():
    assert css_badge_classes() >= set(TONES)


def test_every_badge_class_in_the_templates_is_defined_in_the_app_css():
    used = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in SOURCES
        for name in BADGE_CLASS.findall(path.read_text())
    }
    assert used, "no badge found: the pattern above is out of date"
    defined = css_badge_classes()

    assert sorted(u for u in used if u[1] not in defined) == []


def test_no_template_builds_a_badge_class_from_a_status():
    # `badge-{{ x.status }}` is how the two schemes drifted apart; |badge_class maps it.
    built = [
        path.relative_to(ROOT).as_posix()
        for path in SOURCES
        if re.search(r"badge-(\{\{|\{\}|%s)", path.read_text())
    ]
    assert built == []


STATUSES = [
    *(s.value for s in Connection.Status),
    *(s.value for s in Import.Status),
    *(s.value for s in ImportRun.Status),
    *(s.value for s in Delivery.Status),
    "pass",
    "fail",
    "skipped",
    "unconfirmed",  # Test Connection's checks
    "active",
    "expired",
    "revoked",  # API tokens
]


@pytest.mark.parametrize("status", sorted(set(STATUSES)))
def test_every_status_has_its_tone_on_purpose(status):
    # A new status must be given a colour, not fall to grey unnoticed.
    assert STATUS_TONES.get(status) in TONES


@pytest.mark.parametrize(
    ("status", "tone"),
    [("running", "info"), ("queued", "info"), ("failed", "fail"), ("succeeded", "ok"),
     ("completed", "ok"), ("paused", "muted"), ("unconfirmed", "warn"), ("nonsense", "muted")],
)  # fmt: skip
def test_a_status_draws_the_same_tone_on_every_page(status, tone):
    assert draw("{% load badges %}{{ s|badge_class }}", s=status) == f"badge-{tone}"


def test_a_running_import_and_its_running_run_share_a_colour():
    imp = draw("{% load import_tags %}{% import_status_badge i %}", i=Import(status="running"))
    run = draw("{% load import_tags %}{% run_status_badge r %}", r=ImportRun(status="running"))

    assert imp == '<span class="badge badge-info import-status-running">Running</span>'
    assert run == '<span class="badge badge-info run-status-running">Running</span>'


def test_connection_badge_shows_the_reason_on_hover_escaped():
    failing = Connection(status="failing", status_reason='Dataset "x" <not> found')
    untested = Connection(status="untested")
    template = "{% load connection_tags %}{% connection_status_badge c %}"

    assert draw(template, c=failing) == (
        '<span class="badge badge-fail" title="Dataset &quot;x&quot; &lt;not&gt; found">'
        "Failing</span>"
    )
    assert draw(template, c=untested) == '<span class="badge badge-muted">Untested</span>'
