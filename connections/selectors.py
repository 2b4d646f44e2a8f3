from typing import Any

from django.db.models import Count, QuerySet

from connections.filters import ConnectionFilter
from connections.models import Connection
from imports.models import Import
from workspaces.models import AuditEntry, Workspace


def connections_for_workspace(*, workspace: Workspace) -> QuerySet[Connection]:
    return (
        Connection.objects.filter(workspace=workspace)
        .select_related("created_by")
        .order_by("-created_at", "pk")
    )


def with_import_counts(connections: list[Connection]) -> list[Connection]:
    """Set `import_count` on each connection of a page, with one grouped query.

    Counting per page rather than in the list's query: a correlated count there runs for
    every row a deep page skips, not only for the rows it shows.
    """
    counts = dict(
        Import.objects.filter(connection__in=connections)
        .order_by()
        .values("connection")
        .annotate(count=Count("pk"))
        .values_list("connection", "count")
    )
    for connection in connections:
        connection.import_count = counts.get(connection.pk, 0)
    return connections


def connections_for_dashboard(*, workspace: Workspace, params: Any) -> ConnectionFilter:
    """A bound filter set over the workspace's connections (`.qs` is the filtered list)."""
    return ConnectionFilter(
        params, queryset=connections_for_workspace(workspace=workspace), workspace=workspace
    )


def connection_audit_entries(*, connection: Connection, limit: int = 50) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            workspace_id=connection.workspace_id,
            target_type="connection",
            target_id=str(connection.pk),
        ).select_related("actor")[:limit]
    )
