"""The one way views reach the current workspace and its objects.

Every object URL lives under /w/<slug>/; a user who is not a member gets a 404
(the workspace's existence is not revealed), a member may read, and only an
admin may change anything.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from workspaces.models import Membership, Workspace

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
M = TypeVar("M", bound=models.Model)


class AuthenticatedRequest(HttpRequest):
    """A request from a signed-in user (login_required has run): `user` is an account.

    `htmx` is set on every request by django-htmx's middleware."""

    user: User
    htmx: HtmxDetails


class WorkspaceRequest(AuthenticatedRequest):
    """A request to a `workspace_view`: the URL's workspace and the user's membership of it."""

    workspace: Workspace
    membership: Membership
    user_memberships: list[Membership]


def memberships_of(user: User) -> list[Membership]:
    """Every workspace the user belongs to, by name: the page header's switcher lists them."""
    return list(
        Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    )


def membership_in(memberships: list[Membership], slug: str) -> Membership:
    """The membership of the workspace `slug` among the user's, or 404."""
    membership = next((m for m in memberships if m.workspace.slug == slug), None)
    if membership is None:
        raise Http404
    return membership


def workspace_view(
    view: Callable[..., HttpResponseBase] | None = None,
    *,
    admin_only: bool = False,
    members_may_change: bool = False,
) -> Callable[..., Any]:
    """Resolve request.workspace / request.membership from the `ws` URL argument.

    Members may use safe methods; any other method, and every method of an
    `admin_only` view, needs the admin role (403 otherwise). A `members_may_change` view
    takes any method from a member too: it is about the member's own things (their API
    tokens), and the view itself keeps them to those.
    """

    def decorator(func: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(func)
        def wrapper(request: HttpRequest, ws: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                if request.method in SAFE_METHODS and not request.headers.get("HX-Request"):
                    return redirect_to_login(request.get_full_path())
                raise PermissionDenied
            # What WorkspaceRequest declares is set here, before the view sees the request.
            scoped = cast(WorkspaceRequest, request)
            # One query serves the access check and the header's workspace switcher.
            scoped.user_memberships = memberships_of(scoped.user)
            membership = membership_in(scoped.user_memberships, ws)
            changes = request.method not in SAFE_METHODS and not members_may_change
            if (admin_only or changes) and not membership.is_admin:
                raise PermissionDenied
            scoped.workspace = membership.workspace
            scoped.membership = membership
            # Dates on the pages and in filters are the workspace's local dates.
            with timezone.override(membership.workspace.time_zone):
                return func(scoped, *args, **kwargs)

        # Lets the access sweep find every scoped view and what it lets members do.
        wrapper.__dict__.update(
            workspace_view=True, admin_only=admin_only, members_may_change=members_may_change
        )
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
    except (models.ObjectDoesNotExist, ValueError) as exc:  # the model's DoesNotExist too
        raise Http404 from exc
