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


def _badge(kind: str, colours: dict[str, str], obj: Import | ImportRun) -> SafeString:
    return format_html(
        '<span class="badge badge-{} {}-status-{}">{}</span>',
        colours.get(obj.status, "skipped"),
        kind,
        obj.status,
        obj.get_status_display(),
    )


@register.simple_tag
def import_status_badge(import_obj: Import) -> SafeString:
    return _badge("import", IMPORT_BADGES, import_obj)


@register.simple_tag
def run_status_badge(run: ImportRun) -> SafeString:
    return _badge("run", RUN_BADGES, run)
