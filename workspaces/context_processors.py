from django.http import HttpRequest

from workspaces.access import memberships_of


def workspace(request: HttpRequest) -> dict:
    """The current workspace and the others the user may switch to."""
    current = getattr(request, "workspace", None)
    user = getattr(request, "user", None)  # none on an error page for a request refused early
    if user is None or not user.is_authenticated:
        return {"current_workspace": current}
    # Workspace pages have them from the access check already.
    memberships = getattr(request, "user_memberships", None)
    if memberships is None:
        memberships = memberships_of(request.user)
    return {
        "current_workspace": current,
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships,
    }
