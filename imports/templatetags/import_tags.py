"""Template tags for import pages: status badges, drawn once per row of the lists."""

from django import template
from django.utils.safestring import SafeString

from imports.models import Import, ImportRun
from workspaces.badges import badge

register = template.Library()


@register.simple_tag
def import_status_badge(import_obj: Import) -> SafeString:
    return badge(
        import_obj.status,
        import_obj.get_status_display(),
        extra_class=f"import-status-{import_obj.status}",
    )


@register.simple_tag
def run_status_badge(run: ImportRun) -> SafeString:
    return badge(run.status, run.get_status_display(), extra_class=f"run-status-{run.status}")


HEALTH_TITLES = {
    "healthy": "Every row read was accepted",
    "degraded": "Some rows were rejected (50–99 % accepted)",
    "unhealthy": "Most rows were rejected (below 50 % accepted)",
}


@register.simple_tag
def run_health_badge(run: ImportRun) -> SafeString:
    """The run's health as CleverTap shows it: 100 % / 50–99 % / below 50 %, three tones."""
    level = run.health_level
    return badge(
        level,
        f"Health {run.health_text}",
        extra_class=f"run-health run-health-{level}",
        title=HEALTH_TITLES[level],
    )
