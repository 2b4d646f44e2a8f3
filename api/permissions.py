from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api import scopes
from workspaces.models import Membership

if TYPE_CHECKING:
    from api.models import ApiToken

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ScopeTooLow(exceptions.PermissionDenied):
    default_code = "insufficient_scope"


class TokenWorkspaceAccess(BasePermission):
    """The same rules as the pages (DESIGN.md §6), for the token's one workspace.

    A URL under another workspace's slug is 404, whether that workspace exists or not. Reads
    need the read scope; a view names the scope each other method needs in `scopes`
    (admin when it does not). A member's token reads only, and `admin_only` views (the
    audit log) refuse members whatever the method.
    """

    def has_permission(self, request: Request, view) -> bool:
        # ApiTokenAuthentication's token, or None (DRF's stubs type `auth` as its own Token).
        token = cast("ApiToken | None", request.auth)
        if token is None:
            return False  # DRF answers 401 (no credentials) or 403
        slug = view.kwargs.get("ws")
        if slug is None:
            return True  # not a workspace URL: the schema
        if slug != token.workspace.slug:
            raise exceptions.NotFound()
        if getattr(view, "admin_only", False) and token.role != Membership.Role.ADMIN:
            raise exceptions.PermissionDenied(view.admin_only_message)
        if request.method in SAFE_METHODS:
            return True
        need = getattr(view, "scopes", {}).get(request.method, scopes.Scope.ADMIN)
        if scopes.scope_allows(token.effective_scope, need):
            return True
        if token.role != Membership.Role.ADMIN:
            raise ScopeTooLow(
                "This token can only read: its owner is a member of the workspace, and "
                "members can view but not change anything."
            )
        raise ScopeTooLow(
            f"This token's scope is “{token.scope}”; this request needs the “{need}” scope. "
            "Create a token with that scope on the API tokens page."
        )
