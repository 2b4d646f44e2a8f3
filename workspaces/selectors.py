from typing import Any

from django.contrib.auth.models import User

from workspaces.models import AuditEntry, Membership, Workspace


def workspace_default_for_user(user: User) -> Workspace | None:
    membership = (
        Membership.objects.filter(user=user).select_related("workspace").order_by("created_at")
    ).first()
    return membership.workspace if membership else None


def workspace_users(*, workspace: Workspace) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(memberships__workspace=workspace).order_by("username")


def workspace_audit_entries(*, workspace: Workspace, limit: int = 20) -> list[AuditEntry]:
    """Changes to the workspace's own settings, newest first."""
    return list(
        AuditEntry.objects.filter(
            workspace=workspace, target_type="workspace", target_id=str(workspace.pk)
        ).select_related("actor")[:limit]
    )
