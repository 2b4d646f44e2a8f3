"""Template tags for import pages: status badges, drawn once per row of the lists."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from imports.models import Import, ImportRun

register = template.Library()

IMPORT_BADGES = {
    Import.Status.SCHEDULED: "ok",
    Import.Status.COMPLETED: "ok",
    Import.Status.FAILED: "fail",
    Import.Status.RUNNING: "warn",
}
RUN_BADGES = {
    ImportRun.Status.SUCCEEDED: "ok",
    ImportRun.Status.FAILED: "fail",
    ImportRun.Status.RUNNING: "warn",
}


@register.simple_tag
def import_status_badge(import_obj: Import) -> SafeString:
    status = import_obj.status
    return format_html(
        '<span class="badge badge-{} import-status-{}">{}</span>',
        IMPORT_BADGES.get(status, "skipped"),
        status,
        import_obj.get_status_display(),
    )


@register.simple_tag
def run_status_badge(run: ImportRun) -> SafeString:
    status = run.status
    return format_html(
        '<span class="badge badge-{} run-status-{}">{}</span>',
        RUN_BADGES.get(status, "skipped"),
        status,
        run.get_status_display(),
    )
