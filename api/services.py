"""Personal API tokens: create (shown once), revoke, and check one on each request.

Creation and revocation are audited with display values only: the name, scope, expiry and
the public prefix, never the token or its digest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from api import scopes, tokens
from api.models import ApiToken
from workspaces.models import Membership, Workspace
from workspaces.services import audit_record

# Active tokens one user may hold in one workspace; a script that creates tokens in a loop
# should hit a wall, not fill the table.
MAX_ACTIVE_TOKENS = 50
# last_used_at is written at most this often per token: a polling script must not turn every
# read into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenRefused(Exception):
    """The token cannot be created as asked; the message says why, for the user, and `field`
    names the form field at fault (None: the request as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TokenRejected(Exception):
    """A request's token is not valid; `code` and the message go into the 401 answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TokenAlreadyCreated(Exception):
    """The same form was sent twice (a reload): its token exists and was shown once already."""

    def __init__(self, token: ApiToken) -> None:
        super().__init__(token.name)
        self.token = token


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    text: str  # the whole token: show it once, never store or log it


@transaction.atomic
def api_token_create(
    *,
    workspace: Workspace,
    user: User,
    role: str,
    name: str,
    scope: str,
    expires_at: dt.datetime | None,
    form_nonce: uuid.UUID | None = None,
) -> CreatedToken:
    if form_nonce is not None:
        earlier = ApiToken.objects.filter(user=user, form_nonce=form_nonce).first()
        if earlier is not None:
            raise TokenAlreadyCreated(earlier)
    if scope not in scopes.scopes_for_role(role):
        raise TokenRefused(
            "Members of a workspace can only view, so their tokens can only read. "
            "Choose the read scope, or ask an admin of the workspace for a token that can run "
            "imports.",
            field="scope",
        )
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise TokenRefused("The expiry date must be in the future.", field="expires_on")
    active = (
        ApiToken.objects.select_for_update()
        .filter(workspace=workspace, user=user, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
    )
    if len(active) >= MAX_ACTIVE_TOKENS:
        raise TokenRefused(
            f"You have {MAX_ACTIVE_TOKENS} active tokens in this workspace already. "
            "Revoke one you no longer use first."
        )
    new = tokens.token_new()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                workspace=workspace,
                user=user,
                name=name,
                scope=scope,
                prefix=new.prefix,
                digest=new.digest,
                created_at=now,
                expires_at=expires_at,
                form_nonce=form_nonce,
            )
    except IntegrityError:  # the same form, sent twice at once
        raise TokenAlreadyCreated(ApiToken.objects.get(user=user, form_nonce=form_nonce)) from None
    audit_record(
        workspace=workspace,
        actor=user,
        action="api_token.created",
        target=token,
        details={
            "name": name,
            "scope": scope,
            "prefix": tokens.token_display(new.prefix),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return CreatedToken(token=token, text=new.text)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke at once; revoking a revoked token changes nothing."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        workspace=token.workspace,
        actor=actor,
        action="api_token.revoked",
        target=token,
        details={
            "name": token.name,
            "scope": token.scope,
            "prefix": tokens.token_display(token.prefix),
            "owner": token.user.get_username(),
        },
    )
    return token


def api_token_authenticate(*, text: str, now: dt.datetime | None = None) -> ApiToken:
    """The active token `text` names, with `role` set to its owner's role in the workspace.

    One query finds the token, its owner and the owner's membership. A token whose owner
    left the workspace, or was deactivated, stops working at once.
    """
    now = now or timezone.now()
    prefix = tokens.token_prefix(text)
    token = None
    if prefix is not None:
        role = Membership.objects.filter(
            workspace=OuterRef("workspace"), user=OuterRef("user")
        ).values("role")[:1]
        # ApiToken declares `role` for the code that gets the token from the request;
        # django-stubs' plugin takes that for a clash with the annotation.
        token = (
            ApiToken.objects.select_related("workspace", "user")  # type: ignore[no-redef]
            .annotate(role=Subquery(role))
            .filter(prefix=prefix)
            .first()
        )
    if token is None or not tokens.token_matches(text, token.digest):
        raise TokenRejected("token_invalid", "The API token is not valid.")
    if token.revoked_at is not None:
        raise TokenRejected("token_revoked", "The API token was revoked.")
    if token.is_expired(now):
        raise TokenRejected("token_expired", "The API token has expired.")
    if token.role is None or not token.user.is_active:
        raise TokenRejected(
            "token_invalid", "The API token's owner is no longer a member of its workspace."
        )
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    token.effective_scope = scopes.scope_effective(scope=token.scope, role=token.role)
    return token
