from typing import Any

from django.db.models import QuerySet

from connections.filters import ConnectionFilter
from connections.models import Connection
from workspaces.models import AuditEntry, Workspace


def connections_for_workspace(*, workspace: Workspace) -> QuerySet[Connection]:
    return (
        Connection.objects.filter(workspace=workspace)
        .select_related("created_by")
        .order_by("-created_at", "pk")
    )


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
