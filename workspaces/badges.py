"""One set of status badges for every page: each status the app shows maps to one of five
tones, and app.css defines exactly those five (`.badge-ok`, `.badge-fail`, `.badge-warn`,
`.badge-info`, `.badge-muted`). A status missing here draws grey, and a test lists every
model's statuses so that a new one is given its tone on purpose."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

OK, FAIL, WARN, INFO, MUTED = "ok", "fail", "warn", "info", "muted"
TONES = (OK, FAIL, WARN, INFO, MUTED)

STATUS_TONES: dict[str, str] = {
    # done, healthy or going as planned
    "ok": OK,  # connection
    "pass": OK,  # a Test Connection check
    "scheduled": OK,  # import
    "completed": OK,  # import
    "succeeded": OK,  # run
    "delivered": OK,  # alert delivery
    "active": OK,  # API token
    "on": OK,  # an alert event
    "healthy": OK,  # a run's health: 100 % of the rows read accepted
    # failed: someone has to act
    "failing": FAIL,  # connection
    "fail": FAIL,  # check
    "failed": FAIL,  # import, run, delivery
    "refused": FAIL,  # delivery
    "unhealthy": FAIL,  # a run's health: below 50 %
    # under way
    "queued": INFO,  # run
    "running": INFO,  # import, run
    "pending": INFO,  # delivery
    "sending": INFO,  # delivery
    # worth a look
    "unconfirmed": WARN,  # check
    "warning": WARN,  # check: works, not as well as it could
    "expired": WARN,  # API token
    "succeeded_with_rejections": WARN,  # run
    "degraded": WARN,  # a run's health: 50–99 %
    # nothing going on
    "untested": MUTED,  # connection
    "skipped": MUTED,  # check
    "ready": MUTED,  # import
    "paused": MUTED,  # import
    "stopped": MUTED,  # import
    "cancelled": MUTED,  # run
    "revoked": MUTED,  # API token
    "off": MUTED,  # an alert event
}


def badge_class(status: str) -> str:
    """The badge's colour class for a status: "running" → "badge-info"."""
    return f"badge-{STATUS_TONES.get(str(status), MUTED)}"


def badge(status: str, label: str, *, extra_class: str = "", title: str = "") -> SafeString:
    """A status badge: `<span class="badge badge-info …">Running</span>`."""
    classes = f"badge {badge_class(status)}" + (f" {extra_class}" if extra_class else "")
    if title:
        return format_html('<span class="{}" title="{}">{}</span>', classes, title, label)
    return format_html('<span class="{}">{}</span>', classes, label)
