"""`{{ status|badge_class }}` and `{% status_badge status label %}`: the one set of status
badges (workspaces.badges)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from workspaces import badges

register = template.Library()


@register.filter
def badge_class(status: str) -> str:
    return badges.badge_class(status)


@register.simple_tag
def status_badge(status: str, label: str, title: str = "") -> SafeString:
    return badges.badge(status, label, title=title)
