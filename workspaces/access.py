"""The one way views reach the current workspace and its objects.

Every object URL lives under /w/<slug>/; a user who is not a member gets a 404
(the workspace's existence is not revealed), a member may read, and only an
admin may change anything.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from workspaces.models import Membership, Workspace

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
M = TypeVar("M", bound=models.Model)


def membership_for(user: Any, slug: str) -> Membership:
    """The user's membership of the workspace `slug`, or 404."""
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404
    return membership


def workspace_view(
    view: Callable[..., HttpResponse] | None = None, *, admin_only: bool = False
) -> Callable[..., Any]:
    """Resolve request.workspace / request.membership from the `ws` URL argument.

    Members may use safe methods; any other method, and every method of an
    `admin_only` view, needs the admin role (403 otherwise).
    """

    def decorator(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(func)
        def wrapper(request: HttpRequest, ws: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if request.method in SAFE_METHODS and not request.headers.get("HX-Request"):
                    return redirect_to_login(request.get_full_path())
                raise PermissionDenied
            membership = membership_for(request.user, ws)
            if (admin_only or request.method not in SAFE_METHODS) and not membership.is_admin:
                raise PermissionDenied
            request.workspace = membership.workspace
            request.membership = membership
            # Dates on the pages and in filters are the workspace's local dates.
            with timezone.override(membership.workspace.time_zone):
                return func(request, *args, **kwargs)

        wrapper.workspace_view = True  # lets the access sweep find every scoped view
        wrapper.admin_only = admin_only
        return wrapper

    return decorator(view) if view is not None else decorator


def get_in_workspace(
    queryset: models.QuerySet[M] | type[M], workspace: Workspace, **lookup: Any
) -> M:
    """Fetch one object of `workspace`, or 404; never another workspace's object."""
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    try:
        return queryset.get(workspace=workspace, **lookup)
    except (queryset.model.DoesNotExist, ValueError, models.ObjectDoesNotExist) as exc:
        raise Http404 from exc
