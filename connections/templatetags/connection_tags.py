"""Template tags for connection pages."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connections.models import Connection

register = template.Library()


@register.simple_tag
def connection_status_badge(connection: Connection) -> SafeString:
    """The status as a badge; the reason of a failing test shows on hover.

    A tag rather than an included template: the dashboard draws one per row.
    """
    if connection.status_reason:
        return format_html(
            '<span class="badge badge-{}" title="{}">{}</span>',
            connection.status,
            connection.status_reason,
            connection.get_status_display(),
        )
    return format_html(
        '<span class="badge badge-{}">{}</span>', connection.status, connection.get_status_display()
    )
