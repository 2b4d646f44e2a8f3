from django.http import HttpRequest

from workspaces.models import Membership


def workspace(request: HttpRequest) -> dict:
    """The current workspace and the others the user may switch to."""
    current = getattr(request, "workspace", None)
    if not request.user.is_authenticated:
        return {"current_workspace": current}
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .order_by("workspace__name")
    )
    return {
        "current_workspace": current,
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships,
    }
