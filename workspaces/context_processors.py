from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest

from workspaces.access import memberships_of


def workspace(request: HttpRequest) -> dict[str, Any]:
    """The current workspace and the others the user may switch to."""
    current = getattr(request, "workspace", None)
    # No user on an error page for a request refused early; AnonymousUser when signed out.
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {"current_workspace": current}
    # Workspace pages have them from the access check already.
    memberships = getattr(request, "user_memberships", None)
    if memberships is None:
        memberships = memberships_of(user)
    return {
        "current_workspace": current,
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships,
    }
