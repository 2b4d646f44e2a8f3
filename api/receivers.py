"""Listens to workspaces.signals.member_removed: a removed member's tokens of that workspace
are revoked (and each revocation audited), in the removal's transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from api.models import ApiToken
from api.services import api_token_revoke
from workspaces.models import Workspace


def on_member_removed(*, workspace: Workspace, user: User, actor: User, **kwargs: Any) -> None:
    for token in ApiToken.objects.filter(workspace=workspace, user=user, revoked_at=None):
        api_token_revoke(token=token, actor=actor)
