"""Members of a workspace: invitations by email, roles, removal.

An invitation is a one-time link valid INVITATION_HOURS: its secret is random and only its
SHA-256 digest is stored, so the link works once, cannot be guessed or altered into another,
and is never shown again. A workspace always keeps at least one admin. Removing a member ends
every session of theirs (the session store is searched for them) and, through
signals.member_removed, revokes their API tokens of the workspace. Everything is audited with
display values only: emails and roles, never a link or its digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from workspaces.models import Invitation, Membership, Workspace
from workspaces.services import audit_record
from workspaces.signals import member_removed

INVITATION_HOURS = 72


class MemberRefused(Exception):
    """The change cannot be made; the message says why, for the admin."""


class InvitationInvalid(Exception):
    """An invitation link that does not work: `reason` is unknown, expired, accepted, revoked,
    replaced (by a newer invitation), wrong_user or account_exists; the message is for the
    person who opened it."""

    def __init__(self, reason: str, message: str, invitation: Invitation | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.invitation = invitation


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    secret: str  # goes into the emailed link only: never stored, logged or audited


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "backslashreplace")).hexdigest()


def _user_by_email(email: str) -> Any:
    User = get_user_model()
    return User.objects.filter(username__iexact=email).first()


def email_matches(user: User, email: str) -> bool:
    names = {user.get_username().casefold(), (user.email or "").casefold()}
    return email.casefold() in names


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, actor: User, email: str, role: str
) -> CreatedInvitation:
    """A new invitation for `email`; an earlier one still pending for it stops working."""
    email = email.strip()
    existing = _user_by_email(email)
    if existing and Membership.objects.filter(workspace=workspace, user=existing).exists():
        raise MemberRefused(f"{email} is already a member of this workspace.")
    now = timezone.now()
    Invitation.objects.filter(
        workspace=workspace, email__iexact=email, accepted_at=None, revoked_at=None
    ).update(revoked_at=now)
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        digest=_digest(secret),
        invited_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(hours=INVITATION_HOURS),
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="member.invited",
        target=invitation,
        details={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return CreatedInvitation(invitation=invitation, secret=secret)


def invitation_send(*, invitation: Invitation, link: str) -> None:
    """Email the link through Django's mail framework; raises what the backend raises."""
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by.get_username() if invitation.invited_by else "",
        "link": link,
        "hours": INVITATION_HOURS,
    }
    subject = render_to_string("workspaces/email/invitation_subject.txt", context)
    body = render_to_string("workspaces/email/invitation.txt", context)
    EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    ).send()


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> None:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != "pending":
        return
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        workspace=invitation.workspace,
        actor=actor,
        action="member.invitation_revoked",
        target=invitation,
        details={"email": invitation.email, "role": invitation.role},
    )


def invitation_find(secret: str, *, for_update: bool = False) -> Invitation:
    """The pending invitation the link's secret names, or InvitationInvalid saying why not."""
    queryset = Invitation.objects.select_related("workspace", "invited_by")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    invitation = queryset.filter(digest=_digest(secret)).first()
    if invitation is None:
        raise InvitationInvalid(
            "unknown",
            "This invitation link is not valid. Check that you opened the whole link from the "
            "email, or ask an admin of the workspace to invite you again.",
        )
    status = invitation.status
    if status == "accepted":
        raise InvitationInvalid(
            "accepted",
            "This invitation was accepted already: each link works once. Sign in to reach "
            "the workspace.",
            invitation,
        )
    if status == "revoked" and _replaced(invitation):
        raise InvitationInvalid(
            "replaced",
            f"A newer invitation to {invitation.email} replaced this link. Open the link in "
            "the latest invitation email.",
            invitation,
        )
    if status == "revoked":
        raise InvitationInvalid(
            "revoked",
            "This invitation was withdrawn. Ask an admin of the workspace to invite you again.",
            invitation,
        )
    if status == "expired":
        raise InvitationInvalid(
            "expired",
            f"This invitation has expired: a link works for {INVITATION_HOURS} hours. Ask an "
            "admin of the workspace to invite you again.",
            invitation,
        )
    return invitation


def _replaced(invitation: Invitation) -> bool:
    """Whether a new invitation to the same address ended this one (invitation_create
    revokes the earlier link at the very instant it creates the new one), rather than an
    admin's Withdraw."""
    if invitation.revoked_at is None:
        return False
    return Invitation.objects.filter(
        workspace_id=invitation.workspace_id,
        email__iexact=invitation.email,
        created_at=invitation.revoked_at,
    ).exists()


def _join(invitation: Invitation, user: User) -> Membership:
    membership, created = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if created:
        inviter = invitation.invited_by
        audit_record(
            workspace=invitation.workspace,
            actor=user,
            action="member.joined",
            target=invitation,
            details={
                "email": invitation.email,
                "role": membership.role,
                "invited_by": inviter.get_username() if inviter else None,
            },
        )
    return membership


@transaction.atomic
def invitation_accept(*, secret: str, user: User) -> Membership:
    """A signed-in user whose email the invitation names joins the workspace."""
    invitation = invitation_find(secret, for_update=True)
    if not email_matches(user, invitation.email):
        raise InvitationInvalid(
            "wrong_user",
            f"This invitation is for {invitation.email}, and you are signed in as "
            f"{user.get_username()}. Sign out, then open the link again.",
            invitation,
        )
    return _join(invitation, user)


@transaction.atomic
def invitation_accept_new_account(*, secret: str, password: str) -> Any:
    """Create the invitee's account with `password` (already validated) and join them."""
    invitation = invitation_find(secret, for_update=True)
    if _user_by_email(invitation.email) is not None:
        raise InvitationInvalid(
            "account_exists",
            f"{invitation.email} has an account already: sign in to accept the invitation.",
            invitation,
        )
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=invitation.email, email=invitation.email, password=password
            )
    except IntegrityError:  # the same account made at the same moment
        raise InvitationInvalid(
            "account_exists",
            f"{invitation.email} has an account already: sign in to accept the invitation.",
            invitation,
        ) from None
    _join(invitation, user)
    return user


def _locked_memberships(workspace: Workspace) -> list[Membership]:
    """Every membership of the workspace, locked: two admins demoting each other at once
    cannot leave the workspace without one."""
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace)
        .select_related("user")
        .order_by("pk")
    )


def _current(memberships: list[Membership], membership: Membership) -> Membership:
    """`membership` as locked now; MemberRefused when another admin removed it meanwhile."""
    for locked in memberships:
        if locked.pk == membership.pk:
            return locked
    raise MemberRefused(
        f"{membership.user.get_username()} is no longer a member of this workspace: another "
        "admin removed them. Nothing was changed."
    )


def _only_admin(memberships: list[Membership], membership: Membership) -> bool:
    admins = [m for m in memberships if m.is_admin]
    return len(admins) == 1 and admins[0].pk == membership.pk


@transaction.atomic
def member_role_change(
    *, workspace: Workspace, actor: User, membership: Membership, role: str
) -> Membership:
    memberships = _locked_memberships(workspace)
    current = _current(memberships, membership)
    if current.role == role:
        return current
    if role != Membership.Role.ADMIN and _only_admin(memberships, current):
        raise MemberRefused(
            f"{current.user.get_username()} is the only admin of this workspace. Make another "
            "member an admin first."
        )
    old = current.role
    current.role = role
    current.save(update_fields=["role"])
    audit_record(
        workspace=workspace,
        actor=actor,
        action="member.role_changed",
        target=current,
        details={"email": current.user.get_username(), "from": old, "to": role},
    )
    return current


def sessions_end(user: User) -> int:
    """Delete every session of `user` from the session store; returns how many.

    Sessions are signed blobs keyed by random ids, so each live one is read to find the
    user's (the database session store, settings.SESSION_ENGINE's default)."""
    ended = 0
    user_id = str(user.pk)
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.iterator():
        if session.get_decoded().get("_auth_user_id") == user_id:
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def member_remove(*, workspace: Workspace, actor: User, membership: Membership) -> None:
    memberships = _locked_memberships(workspace)
    current = _current(memberships, membership)
    if _only_admin(memberships, current):
        raise MemberRefused(
            f"{current.user.get_username()} is the only admin of this workspace and cannot be "
            "removed. Make another member an admin first."
        )
    user = current.user
    audit_record(
        workspace=workspace,
        actor=actor,
        action="member.removed",
        target=current,
        details={"email": user.get_username(), "role": current.role},
    )
    current.delete()
    member_removed.send(sender=Membership, workspace=workspace, user=user, actor=actor)
    sessions_end(user)
