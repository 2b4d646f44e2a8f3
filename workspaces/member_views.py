"""The Members page (admins only): members with their role, invitations, and the invitation
link's page, which anyone holding the link may open."""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from workspaces import members
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view
from workspaces.member_forms import ROLE_HELP, InviteForm, RoleForm
from workspaces.models import Invitation, Membership

logger = logging.getLogger(__name__)


def _page(request: WorkspaceRequest, invite_form: InviteForm, status: int = 200) -> HttpResponse:
    workspace = request.workspace
    memberships = (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__username")
    )
    pending = [
        invitation
        for invitation in Invitation.objects.filter(
            workspace=workspace, accepted_at=None, revoked_at=None
        ).select_related("invited_by")
        if invitation.status == "pending"
    ]
    admins = sum(1 for m in memberships if m.is_admin)
    return render(
        request,
        "workspaces/members.html",
        {
            "memberships": memberships,
            "admin_count": admins,
            "invitations": pending,
            "invite_form": invite_form,
            "roles": [(value, label, ROLE_HELP[value]) for value, label in Membership.Role.choices],
            "hours": members.INVITATION_HOURS,
        },
        status=status,
    )


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD"])
def members_page(request: WorkspaceRequest) -> HttpResponse:
    return _page(request, InviteForm())


@workspace_view(admin_only=True)
@require_POST
def member_invite(request: WorkspaceRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    email, role = form.cleaned_data["email"], form.cleaned_data["role"]
    try:
        # The invitation exists only if its email went out: a failed send leaves nothing.
        with transaction.atomic():
            created = members.invitation_create(
                workspace=request.workspace, actor=request.user, email=email, role=role
            )
            link = request.build_absolute_uri(
                reverse("invitation_open", kwargs={"secret": created.secret})
            )
            members.invitation_send(invitation=created.invitation, link=link)
    except members.MemberRefused as refused:
        form.add_error("email", str(refused))
        return _page(request, form)
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("invitation email not sent: %s", type(exc).__name__)
        form.add_error(
            None,
            "The invitation email could not be sent: the mail server did not accept it or "
            "could not be reached. Nothing was saved; try again later.",
        )
        return _page(request, form, status=502)
    messages.success(
        request,
        f"Invitation sent to {email}. The link works once, for {members.INVITATION_HOURS} hours.",
    )
    return redirect("members:page", ws=request.workspace.slug)


@workspace_view(admin_only=True)
@require_POST
def member_role(request: WorkspaceRequest, member_pk: int) -> HttpResponse:
    membership = get_in_workspace(
        Membership.objects.select_related("user"), request.workspace, pk=member_pk
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Admin or Member.")
        return redirect("members:page", ws=request.workspace.slug)
    try:
        changed = members.member_role_change(
            workspace=request.workspace,
            actor=request.user,
            membership=membership,
            role=form.cleaned_data["role"],
        )
    except members.MemberRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request, f"{changed.user.get_username()} is now {changed.get_role_display().lower()}."
        )
        if changed.user_id == request.user.pk and not changed.is_admin:
            return redirect("settings", ws=request.workspace.slug)  # the page is admins' only
    return redirect("members:page", ws=request.workspace.slug)


@workspace_view(admin_only=True)
@require_POST
def member_remove(request: WorkspaceRequest, member_pk: int) -> HttpResponse:
    membership = get_in_workspace(
        Membership.objects.select_related("user"), request.workspace, pk=member_pk
    )
    email = membership.user.get_username()
    removing_self = membership.user_id == request.user.pk
    try:
        members.member_remove(
            workspace=request.workspace, actor=request.user, membership=membership
        )
    except members.MemberRefused as refused:
        messages.error(request, str(refused))
        return redirect("members:page", ws=request.workspace.slug)
    if removing_self:
        return redirect("login")  # their own session ended with the rest
    messages.success(
        request,
        f"{email} was removed: signed out everywhere, and their API tokens for this workspace "
        "are revoked.",
    )
    return redirect("members:page", ws=request.workspace.slug)


@workspace_view(admin_only=True)
@require_POST
def invitation_revoke(request: WorkspaceRequest, invitation_pk: Any) -> HttpResponse:
    invitation = get_in_workspace(Invitation, request.workspace, pk=invitation_pk)
    members.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("members:page", ws=request.workspace.slug)


INVALID_STATUS = {"unknown": 404, "expired": 410, "accepted": 410, "revoked": 410, "replaced": 410}
SESSION_KEY = "invitation_secret"


@never_cache
@require_http_methods(["GET", "HEAD"])
def invitation_open(request: HttpRequest, secret: str) -> HttpResponse:
    """The emailed link. Its secret moves into the session and the browser goes on to a URL
    without it, as Django's password reset does: the secret then stays out of logs (a form
    sent with a mistake is logged with its URL) and out of any Referer."""
    try:
        members.invitation_find(secret)
    except members.InvitationInvalid as invalid:
        return _invalid(request, invalid)
    request.session[SESSION_KEY] = secret
    return redirect("invitation_accept")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def invitation_accept(request: HttpRequest) -> HttpResponse:
    """Signed in as the invitee: a button joins the workspace. Not signed in: with an
    account, sign in first (the session keeps the invitation); without one, choose a
    password, which creates the account, joins and signs in."""
    secret = request.session.get(SESSION_KEY)
    if not secret:
        return render(request, "workspaces/invitation_invalid.html", {"reason": "none"})
    try:
        invitation = members.invitation_find(secret)
    except members.InvitationInvalid as invalid:
        return _invalid(request, invalid)
    user = request.user
    has_account = False
    form = None
    if not user.is_authenticated:
        has_account = get_user_model().objects.filter(username__iexact=invitation.email).exists()
        if not has_account:
            draft = get_user_model()(username=invitation.email, email=invitation.email)
            form = SetPasswordForm(draft, request.POST or None)
    if request.method == "POST":
        try:
            if user.is_authenticated:
                members.invitation_accept(secret=secret, user=user)
                return _joined(request, invitation)
            if form is not None and form.is_valid():
                new_user = members.invitation_accept_new_account(
                    secret=secret, password=form.cleaned_data["new_password1"]
                )
                login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
                return _joined(request, invitation)
        except members.InvitationInvalid as invalid:
            return _invalid(request, invalid)
    wrong_user = user.is_authenticated and not members.email_matches(user, invitation.email)
    return render(
        request,
        "workspaces/invitation.html",
        {
            "invitation": invitation,
            "form": form,
            "has_account": has_account,
            "wrong_user": wrong_user,
            "login_url": f"{reverse('login')}?{urlencode({'next': request.path})}",
        },
    )


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"Welcome to {invitation.workspace.name}.")
    return redirect("connections:list", ws=invitation.workspace.slug)


def _invalid(request: HttpRequest, invalid: members.InvitationInvalid) -> HttpResponse:
    status = INVALID_STATUS.get(invalid.reason, 400)
    return render(
        request,
        "workspaces/invitation_invalid.html",
        {"message": str(invalid), "reason": invalid.reason},
        status=status,
    )
