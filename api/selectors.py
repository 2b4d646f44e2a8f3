"""Reads for the API tokens page."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from api.models import ApiToken
from workspaces.models import Membership, Workspace


def api_tokens_visible_to(*, workspace: Workspace, membership: Membership) -> QuerySet[ApiToken]:
    """An admin sees every token of the workspace (to revoke any); a member only their own.

    Active tokens first, then expired and revoked ones, newest first within each.
    """
    tokens = ApiToken.objects.filter(workspace=workspace).select_related("user", "revoked_by")
    if not membership.is_admin:
        tokens = tokens.filter(user=membership.user)
    ended = Q(revoked_at__isnull=False) | Q(expires_at__lte=timezone.now())
    return tokens.alias(ended=Case(When(ended, then=Value(1)), default=Value(0))).order_by(
        "ended", "-created_at", "pk"
    )


def api_token_get_for_user(*, workspace: Workspace, membership: Membership, pk: Any) -> ApiToken:
    """One token the user may see and revoke, or 404 (another user's token, for a member)."""
    try:
        return api_tokens_visible_to(workspace=workspace, membership=membership).get(pk=pk)
    except (ApiToken.DoesNotExist, ValueError) as exc:
        raise Http404 from exc
