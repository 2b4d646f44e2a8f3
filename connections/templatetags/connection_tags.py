"""Template tags for connection pages."""

from django import template
from django.utils.safestring import SafeString

from connections.models import Connection
from workspaces.badges import badge

register = template.Library()


@register.simple_tag
def connection_status_badge(connection: Connection) -> SafeString:
    """The status as a badge; the reason of a failing test shows on hover.

    A tag rather than an included template: the dashboard draws one per row.
    """
    return badge(connection.status, connection.get_status_display(), title=connection.status_reason)
