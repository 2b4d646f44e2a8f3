"""Listens to workspaces.signals.member_removed: a removed member's tokens of that workspace
are revoked (and each revocation audited), in the removal's transaction."""

from __future__ import annotations

from typing import Any

from api.models import ApiToken
from api.services import api_token_revoke


def on_member_removed(*, workspace: Any, user: Any, actor: Any, **kwargs: Any) -> None:
    for token in ApiToken.objects.filter(workspace=workspace, user=user, revoked_at=None):
        api_token_revoke(token=token, actor=actor)
