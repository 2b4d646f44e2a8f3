"""The Members page and its services: invitations by email (to a real SMTP server on
loopback), accepting them once, roles, and removal, which ends the member's sessions and
revokes their API tokens. Everything is audited, with no link secret or token in any entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from tests.api.conftest import ApiClient, make_token
from tests.conftest import client_for
from workspaces import members
from workspaces.models import AuditEntry, Invitation, Membership

pytestmark = pytest.mark.django_db

MEMBERS = "/w/acme/settings/members/"
ACCEPT = "/invitations/accept/"
STRONG = "violet-harbor-41-lantern"


def invite(client: Client, email: str = "dana@acme.test", role: str = "member"):
    return client.post(f"{MEMBERS}invite/", {"email": email, "role": role})


def link_in(message) -> str:
    """The invitation link's path, read from the delivered email."""
    found = re.search(r"https?://[^/\s]+(/invitations/[^\s]+/)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


def open_link(client: Client, link: str):
    """Open the emailed link: its secret moves into the session, and the browser goes on to
    the accept page."""
    response = client.get(link)
    assert response.status_code == 302 and response["Location"] == ACCEPT, response.status_code
    return client.get(ACCEPT)


@pytest.fixture
def invited(alice_client, smtp_settings):
    """alice invites dana (no account yet); the path of the emailed link."""
    response = invite(alice_client)
    assert response.status_code == 302
    [message] = smtp_settings.messages
    return link_in(message)


# -- inviting --------------------------------------------------------------------------------


def test_an_invitation_is_emailed_with_a_one_time_link_kept_only_as_a_digest(
    alice_client, smtp_settings, settings
):
    settings.DEFAULT_FROM_EMAIL = "Imports <team@imports.example.test>"
    response = invite(alice_client, "Dana@Acme.test", "admin")

    assert response.status_code == 302 and response["Location"] == MEMBERS
    [message] = smtp_settings.messages
    assert message["To"] == "Dana@Acme.test"
    assert message["From"] == "Imports <team@imports.example.test>"
    assert str(message["Subject"]).strip() == "Join Acme on BigQuery Imports"
    body = message.get_content()
    assert "alice@acme.test invited you" in body and "as admin" in body and "72 hours" in body
    secret = link_in(message).split("/")[2]
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.status) == (
        "Dana@Acme.test",
        "admin",
        "pending",
    )
    assert invitation.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(Invitation.objects.values()), default=str)
    assert invitation.expires_at - invitation.created_at == dt.timedelta(hours=72)
    page = alice_client.get(MEMBERS).content.decode()
    assert "Dana@Acme.test" in page and "Withdraw" in page


def test_inviting_a_member_or_a_bad_address_says_why_and_sends_nothing(
    alice_client, bob, smtp_settings
):
    response = invite(alice_client, "BOB@acme.test")
    assert response.status_code == 200
    assert "BOB@acme.test is already a member of this workspace." in response.content.decode()

    response = invite(alice_client, "not an address")
    assert response.status_code == 200
    assert "Enter a valid email address, such as name@example.com." in response.content.decode()

    response = invite(alice_client, "dana@acme.test", "owner")
    assert response.status_code == 200 and "Choose Admin or Member." in response.content.decode()

    assert smtp_settings.messages == [] and not Invitation.objects.exists()
    assert not AuditEntry.objects.exists()


def test_inviting_nobody_asks_for_the_address(alice_client, smtp_settings):
    response = invite(alice_client, "  ")

    assert response.status_code == 200
    assert response.context["invite_form"].errors == {
        "email": ["Enter the email address to invite."]
    }
    assert smtp_settings.messages == [] and not Invitation.objects.exists()


def test_an_address_too_long_to_name_an_account_is_refused_and_one_that_fits_joins(
    alice_client, smtp_settings, client
):
    fits = "a" * 64 + "@" + "b" * 63 + "." + "c" * 16 + ".test"
    assert len(fits) == 150

    refused = invite(alice_client, "a" + fits)

    assert refused.status_code == 200
    assert refused.context["invite_form"].errors == {
        "email": [
            "Enter an email address of at most 150 characters: the invitee's account is named "
            "by it."
        ]
    }
    assert smtp_settings.messages == [] and not Invitation.objects.exists()
    assert not AuditEntry.objects.exists()

    assert invite(alice_client, fits).status_code == 302
    [message] = smtp_settings.messages
    open_link(client, link_in(message))
    joined = client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})

    assert joined.status_code == 302
    assert Membership.objects.filter(user=get_user_model().objects.get(username=fits)).exists()


def test_when_the_mail_server_is_away_nothing_is_saved(alice_client, settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2

    response = invite(alice_client)

    assert response.status_code == 502
    assert "The invitation email could not be sent" in response.content.decode()
    assert not Invitation.objects.exists() and not AuditEntry.objects.exists()


def test_a_new_invitation_for_the_same_address_replaces_the_earlier_link(
    alice_client, smtp_settings, client
):
    invite(alice_client)
    invite(alice_client)
    first, second = (link_in(m) for m in smtp_settings.messages)

    response = client.get(first)
    assert response.status_code == 410
    page = response.content.decode()
    assert "Invitation replaced" in page
    assert "A newer invitation to dana@acme.test replaced this link" in page
    assert open_link(client, second).status_code == 200


def test_an_invitation_replaces_only_the_same_workspaces_earlier_link(
    alice, workspace_a, charlie, workspace_b
):
    elsewhere = members.invitation_create(
        workspace=workspace_b, actor=charlie, email="dana@acme.test", role="member"
    )

    members.invitation_create(
        workspace=workspace_a, actor=alice, email="Dana@acme.test", role="member"
    )

    assert members.invitation_find(elsewhere.secret).workspace == workspace_b
    elsewhere.invitation.refresh_from_db()
    assert elsewhere.invitation.status == "pending"


# -- accepting -------------------------------------------------------------------------------


def test_the_invitee_sets_a_password_and_lands_signed_in_in_the_workspace(invited, client):
    page = open_link(client, invited)
    assert page.status_code == 200
    assert "Join Acme" in page.content.decode() and "Set password and join" in page.content.decode()
    assert invited.split("/")[2] not in page.content.decode()

    weak = client.post(ACCEPT, {"new_password1": "dana", "new_password2": "dana"})
    assert weak.status_code == 200
    assert "This password is too short." in weak.content.decode()
    assert not get_user_model().objects.filter(username="dana@acme.test").exists()

    response = client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})

    assert (
        response.status_code == 302
        and response["Location"] == "/w/acme/settings/partners/bigquery/"
    )
    dana = get_user_model().objects.get(username="dana@acme.test")
    assert dana.check_password(STRONG)
    assert Membership.objects.get(user=dana).role == "member"
    home = client.get(response["Location"])
    assert home.status_code == 200 and "Welcome to Acme." in home.content.decode()
    assert Invitation.objects.get().accepted_by == dana
    joined = AuditEntry.objects.get(action="member.joined")
    assert (joined.actor, joined.details["email"], joined.details["invited_by"]) == (
        dana,
        "dana@acme.test",
        "alice@acme.test",
    )


def test_a_link_works_once(invited, client):
    first, second = Client(), Client()
    open_link(first, invited)
    open_link(second, invited)  # a second browser opened it too, before it was used
    first.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})

    for response in (
        Client().get(invited),
        second.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG}),
    ):
        assert response.status_code == 410
        assert "This invitation was accepted already: each link works once." in (
            response.content.decode()
        )
    assert Membership.objects.filter(workspace__slug="acme").count() == 2
    assert AuditEntry.objects.filter(action="member.joined").count() == 1


def test_an_expired_link_gets_a_clear_page(invited, client):
    expired = "This invitation has expired: a link works for 72 hours."
    with time_machine.travel(timezone.now() + dt.timedelta(hours=71)):
        assert open_link(client, invited).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=72, seconds=1)):
        response = Client().get(invited)
    assert response.status_code == 410 and expired in response.content.decode()

    # Opened in time, sent after the last moment.
    opened = Client()
    open_link(opened, invited)
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = opened.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})
    assert response.status_code == 410 and expired in response.content.decode()
    assert not get_user_model().objects.filter(username="dana@acme.test").exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),
        lambda s: s[:20],
        lambda s: s + "x",
        lambda s: "%00" + s,
        lambda s: s.swapcase(),
    ],
)
def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(invited, client, change):
    secret = invited.split("/")[2]
    response = client.get(f"/invitations/{change(secret)}/")

    assert response.status_code == 404
    assert "This invitation link is not valid." in response.content.decode()
    # Nothing was kept for the accept page either.
    nothing = client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})
    assert "Open the link in your invitation email" in nothing.content.decode()
    assert not get_user_model().objects.filter(username="dana@acme.test").exists()
    assert Invitation.objects.get().status == "pending"


def test_a_withdrawn_invitation_no_longer_works(alice_client, invited, client):
    invitation = Invitation.objects.get()
    response = alice_client.post(f"{MEMBERS}invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302

    response = client.get(invited)
    assert response.status_code == 410
    assert "This invitation was withdrawn. Ask an admin" in response.content.decode()
    assert AuditEntry.objects.filter(action="member.invitation_revoked").count() == 1


def test_a_withdrawn_link_is_not_called_replaced_by_a_later_invitation(
    alice_client, invited, smtp_settings, client
):
    """Withdrawn, then invited again: the old link was withdrawn, not replaced."""
    invitation = Invitation.objects.get()
    alice_client.post(f"{MEMBERS}invitations/{invitation.pk}/revoke/")
    invite(alice_client)

    response = client.get(invited)
    assert response.status_code == 410
    assert "This invitation was withdrawn" in response.content.decode()


def test_a_link_withdrawn_as_another_workspace_invites_the_same_address_is_not_replaced(
    alice, workspace_a, charlie, workspace_b, time_machine
):
    start = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    created = members.invitation_create(
        workspace=workspace_a, actor=alice, email="dana@acme.test", role="member"
    )
    time_machine.move_to(start + dt.timedelta(minutes=5), tick=False)
    members.invitation_revoke(invitation=created.invitation, actor=alice)
    # Globex invites the same address at that very instant: Acme's link was still withdrawn.
    members.invitation_create(
        workspace=workspace_b, actor=charlie, email="dana@acme.test", role="member"
    )

    with pytest.raises(members.InvitationInvalid) as refused:
        members.invitation_find(created.secret)
    assert refused.value.reason == "revoked"


def test_an_existing_account_joins_after_signing_in(alice_client, charlie, smtp_settings, client):
    invite(alice_client, "Charlie@Globex.test", "admin")
    link = link_in(smtp_settings.messages[0])

    page = open_link(client, link).content.decode()
    assert "has an account already" in page and "Sign in to accept" in page
    # No password can be set for an account that exists.
    refused = client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})
    assert refused.status_code == 200
    charlie.refresh_from_db()
    assert charlie.check_password("correct horse battery")

    signed_in = client.post(
        f"/signin/?next={ACCEPT}",
        {"username": "charlie@globex.test", "password": "correct horse battery", "next": ACCEPT},
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == ACCEPT
    assert "Join Acme" in client.get(ACCEPT).content.decode()
    response = client.post(ACCEPT)

    assert response.status_code == 302 and response["Location"].startswith("/w/acme/")
    assert Membership.objects.get(user=charlie, workspace__slug="acme").role == "admin"
    assert Membership.objects.filter(user=charlie, workspace__slug="globex").exists()


def test_someone_else_signed_in_cannot_use_the_link(invited, bob_client, bob):
    page = open_link(bob_client, invited)
    assert page.status_code == 200
    assert "This invitation is for dana@acme.test, and you are signed in as bob@acme.test." in (
        page.content.decode()
    )

    response = bob_client.post(ACCEPT)

    assert response.status_code == 400
    assert Invitation.objects.get().status == "pending"
    assert not get_user_model().objects.filter(username="dana@acme.test").exists()


# -- roles and removal ---------------------------------------------------------------------------


def membership_of(user) -> Membership:
    return Membership.objects.get(user=user, workspace__slug="acme")


def test_an_admin_changes_a_role_and_it_is_audited(alice_client, alice, bob):
    response = alice_client.post(f"{MEMBERS}{membership_of(bob).pk}/role/", {"role": "admin"})

    assert response.status_code == 302
    assert membership_of(bob).role == "admin"
    entry = AuditEntry.objects.get(action="member.role_changed")
    assert (entry.actor, entry.details) == (
        alice,
        {"email": "bob@acme.test", "from": "member", "to": "admin"},
    )
    assert "bob@acme.test is now admin." in alice_client.get(MEMBERS).content.decode()


def test_a_member_another_admin_removed_meanwhile_is_refused_with_the_reason(alice, bob):
    """Two admins on the Members page: one removes bob, the other then changes or removes
    him from the page they still have open."""
    stale = membership_of(bob)
    workspace = stale.workspace
    members.member_remove(workspace=workspace, actor=alice, membership=stale)
    gone = "bob@acme.test is no longer a member of this workspace: another admin removed them."

    with pytest.raises(members.MemberRefused, match=gone):
        members.member_role_change(workspace=workspace, actor=alice, membership=stale, role="admin")
    with pytest.raises(members.MemberRefused, match=gone):
        members.member_remove(workspace=workspace, actor=alice, membership=stale)
    assert AuditEntry.objects.filter(action="member.removed").count() == 1


def test_the_last_admin_cannot_be_demoted_or_removed(alice_client, alice, bob, charlie):
    # charlie admins another workspace: only this workspace's admins count.
    mine = membership_of(alice).pk
    for url, data in (
        (f"{MEMBERS}{mine}/role/", {"role": "member"}),
        (f"{MEMBERS}{mine}/remove/", {}),
    ):
        response = alice_client.post(url, data, follow=True)
        assert "alice@acme.test is the only admin of this workspace" in response.content.decode()

    assert membership_of(alice).role == "admin"
    assert not AuditEntry.objects.exists()
    # With a second admin, the first may step down.
    members.member_role_change(
        workspace=membership_of(bob).workspace,
        actor=alice,
        membership=membership_of(bob),
        role="admin",
    )
    stepped_down = alice_client.post(f"{MEMBERS}{mine}/role/", {"role": "member"})
    assert membership_of(alice).role == "member"
    assert stepped_down["Location"] == "/w/acme/settings/"  # Members is for admins only


def test_removal_ends_the_members_sessions_and_revokes_their_tokens(
    alice_client, alice, bob, workspace_a
):
    bob_browser, bob_laptop = client_for(bob), client_for(bob)
    text = make_token(bob, workspace_a, "read")
    alice_token = make_token(alice, workspace_a, "admin")
    assert bob_browser.get("/w/acme/audience/profiles/").status_code == 200
    assert ApiClient(text).get("/api/v1/workspaces/acme/").status_code == 200

    response = alice_client.post(f"{MEMBERS}{membership_of(bob).pk}/remove/")

    assert response.status_code == 302
    assert not Membership.objects.filter(user=bob).exists()
    for browser in (bob_browser, bob_laptop):
        answer = browser.get("/w/acme/audience/profiles/")
        assert answer.status_code == 302 and answer["Location"].startswith("/signin/")
    assert not [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(bob.pk)
    ]
    assert alice_client.get(MEMBERS).status_code == 200  # the admin's own session stays
    revoked = ApiClient(text).get("/api/v1/workspaces/acme/")
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "token_revoked"
    assert ApiToken.objects.get(user=bob).revoked_by == alice
    assert ApiClient(alice_token).get("/api/v1/workspaces/acme/").status_code == 200
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"member.removed", "api_token.revoked"} <= actions
    removed = AuditEntry.objects.get(action="member.removed")
    assert removed.details == {"email": "bob@acme.test", "role": "member"}


def test_removal_revokes_only_the_tokens_of_the_workspace_left(
    alice_client, bob, workspace_a, workspace_b
):
    Membership.objects.create(workspace=workspace_b, user=bob, role=Membership.Role.MEMBER)
    in_a = make_token(bob, workspace_a, "read")
    in_b = make_token(bob, workspace_b, "read")

    response = alice_client.post(f"{MEMBERS}{membership_of(bob).pk}/remove/")

    assert response.status_code == 302
    assert ApiClient(in_a).get("/api/v1/workspaces/acme/").status_code == 401
    assert ApiClient(in_b).get("/api/v1/workspaces/globex/").status_code == 200
    assert ApiToken.objects.get(user=bob, workspace=workspace_b).revoked_at is None


def test_an_admin_may_remove_themselves_when_another_admin_stays(alice_client, alice, bob):
    Membership.objects.filter(user=bob).update(role="admin")
    response = alice_client.post(f"{MEMBERS}{membership_of(alice).pk}/remove/")

    assert response.status_code == 302 and response["Location"] == "/signin/"
    assert not Membership.objects.filter(user=alice).exists()


def test_members_and_other_workspaces_cannot_use_the_page(bob_client, charlie_client, bob, alice):
    assert bob_client.get(MEMBERS).status_code == 403
    assert (
        bob_client.post(f"{MEMBERS}invite/", {"email": "x@acme.test", "role": "admin"}).status_code
        == 403
    )
    assert bob_client.post(f"{MEMBERS}{membership_of(alice).pk}/remove/").status_code == 403
    assert charlie_client.get(MEMBERS).status_code == 404
    # charlie under his own workspace cannot reach acme's memberships
    url = f"/w/globex/settings/members/{membership_of(bob).pk}/remove/"
    assert charlie_client.post(url).status_code == 404
    assert Membership.objects.filter(user=bob).exists() and not Invitation.objects.exists()


def test_the_page_lists_members_with_role_and_joined_date(alice_client, bob):
    page = alice_client.get(MEMBERS).content.decode()
    assert "alice@acme.test" in page and "bob@acme.test" in page
    assert re.search(r'<option value="member" selected>Member</option>', page)
    assert membership_of(bob).created_at.strftime("%b %-d, %Y") in page
    assert "Only admin" in page  # alice has no Remove button


def test_the_page_lists_only_this_workspaces_members(alice_client, bob, charlie):
    page = alice_client.get(MEMBERS).content.decode()

    assert "alice@acme.test" in page and "bob@acme.test" in page
    assert "charlie@globex.test" not in page
    assert "Only admin" in page  # charlie, Globex's admin, is not counted as Acme's


def test_an_admin_who_keeps_their_own_role_stays_on_the_members_page(alice_client, alice):
    response = alice_client.post(f"{MEMBERS}{membership_of(alice).pk}/role/", {"role": "admin"})

    assert response.status_code == 302 and response["Location"] == MEMBERS
    assert membership_of(alice).role == "admin"


def test_no_audit_entry_holds_a_secret_a_digest_or_a_token(
    alice_client, alice, bob, workspace_a, smtp_settings, client
):
    text = make_token(bob, workspace_a, "read")
    invite(alice_client, "dana@acme.test", "member")
    link = link_in(smtp_settings.messages[0])
    open_link(client, link)
    client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})
    assert Membership.objects.filter(user__username="dana@acme.test").exists()
    alice_client.post(f"{MEMBERS}{membership_of(bob).pk}/role/", {"role": "admin"})
    alice_client.post(f"{MEMBERS}{membership_of(bob).pk}/remove/")
    invitation = Invitation.objects.get()

    entries = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert {"member.invited", "member.joined", "member.role_changed", "member.removed"} <= set(
        AuditEntry.objects.values_list("action", flat=True)
    )
    for secret in (link.split("/")[2], invitation.digest, text, STRONG):
        assert secret not in entries
    audit = alice_client.get("/w/acme/audit/").content.decode()
    for label in ("Member invited", "Member joined", "Member role changed", "Member removed"):
        assert label in audit


def test_the_settings_page_ties_the_workspaces_settings_together(alice_client, bob_client):
    page = alice_client.get("/w/acme/settings/").content.decode()
    for href in (
        "/w/acme/settings/workspace/",
        "/w/acme/settings/members/",
        "/w/acme/settings/notifications/",
        "/w/acme/settings/api-tokens/",
        "/w/acme/audit/",
        "/password/change/",
    ):
        assert f'href="{href}"' in page, href
    own = bob_client.get("/w/acme/settings/")
    assert own.status_code == 200
    body = own.content.decode()
    assert 'href="/w/acme/settings/members/"' not in body
    assert 'href="/w/acme/settings/notifications/"' in body


def test_the_links_secret_stays_out_of_logs_and_pages(invited, client, alice_client, caplog):
    secret = invited.split("/")[2]
    with caplog.at_level("INFO"):
        open_link(client, invited)
        client.post(ACCEPT, {"new_password1": "dana", "new_password2": "x"})
        client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})
        Client().get(invited)  # logged: 410
        pages = [alice_client.get(MEMBERS), alice_client.get("/w/acme/audit/")]

    assert secret not in caplog.text.replace(f"Gone: /invitations/{secret}/", "")
    for page in pages:
        assert secret not in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(alice, bob, workspace_a):
    import threading

    from django.db import connection

    Membership.objects.filter(user=bob).update(role="admin")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor, target) -> None:
        try:
            start.wait(timeout=30)
            members.member_role_change(
                workspace=workspace_a,
                actor=actor,
                membership=membership_of(target),
                role="member",
            )
            outcomes.append("changed")
        except members.MemberRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(alice, bob)),
        threading.Thread(target=demote, args=(bob, alice)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["changed", "refused"]
    assert Membership.objects.filter(workspace=workspace_a, role="admin").count() == 1


def test_a_new_invitation_replaces_the_earlier_one_whatever_the_case_of_the_address(
    alice, workspace_a
):
    first = members.invitation_create(
        workspace=workspace_a, actor=alice, email="Dana@Acme.test", role="member"
    )
    members.invitation_create(
        workspace=workspace_a, actor=alice, email="dana@acme.test", role="member"
    )

    with pytest.raises(members.InvitationInvalid) as refused:
        members.invitation_find(first.secret)
    assert refused.value.reason == "replaced"


def test_withdrawing_an_invitation_that_is_not_pending_changes_nothing(alice, bob, workspace_a):
    created = members.invitation_create(
        workspace=workspace_a, actor=alice, email="dana@acme.test", role="member"
    )
    members.invitation_revoke(invitation=created.invitation, actor=alice)
    created.invitation.refresh_from_db()
    first_revoked_at = created.invitation.revoked_at

    members.invitation_revoke(invitation=created.invitation, actor=bob)

    created.invitation.refresh_from_db()
    assert created.invitation.revoked_at == first_revoked_at
    entries = AuditEntry.objects.filter(action="member.invitation_revoked")
    assert [e.actor for e in entries] == [alice]


def test_setting_the_role_a_member_has_changes_nothing_and_is_not_audited(alice, bob, workspace_a):
    for user, role in ((bob, "member"), (alice, "admin")):
        kept = members.member_role_change(
            workspace=workspace_a, actor=alice, membership=membership_of(user), role=role
        )
        assert kept.role == role

    assert not AuditEntry.objects.filter(action="member.role_changed").exists()


def test_a_member_who_accepts_a_second_invitation_joins_once(alice, workspace_a):
    erin = get_user_model().objects.create_user(
        username="erin@acme.test", email="erin@home.test", password=STRONG
    )
    to_work = members.invitation_create(
        workspace=workspace_a, actor=alice, email="erin@acme.test", role="member"
    )
    to_home = members.invitation_create(
        workspace=workspace_a, actor=alice, email="erin@home.test", role="admin"
    )

    members.invitation_accept(secret=to_work.secret, user=erin)
    membership = members.invitation_accept(secret=to_home.secret, user=erin)

    assert membership.role == "member"
    assert AuditEntry.objects.filter(action="member.joined").count() == 1
    to_home.invitation.refresh_from_db()
    assert to_home.invitation.status == "accepted"


def test_the_page_lists_only_this_workspaces_pending_invitations(
    alice_client, alice, workspace_a, charlie, workspace_b
):
    members.invitation_create(
        workspace=workspace_b, actor=charlie, email="globex-hire@globex.test", role="member"
    )
    lapsed = members.invitation_create(
        workspace=workspace_a, actor=alice, email="lapsed@acme.test", role="member"
    )
    Invitation.objects.filter(pk=lapsed.invitation.pk).update(expires_at=timezone.now())
    members.invitation_create(
        workspace=workspace_a, actor=alice, email="fresh@acme.test", role="member"
    )

    page = alice_client.get(MEMBERS).content.decode()

    assert "fresh@acme.test" in page
    assert "globex-hire@globex.test" not in page
    assert "lapsed@acme.test" not in page


def test_once_joined_the_accept_page_holds_no_invitation(invited, client):
    open_link(client, invited)
    client.post(ACCEPT, {"new_password1": STRONG, "new_password2": STRONG})

    again = client.get(ACCEPT)

    assert again.status_code == 200
    assert "No invitation open" in again.content.decode()


def test_no_second_account_is_made_for_an_address_in_another_case(alice, workspace_a, charlie):
    created = members.invitation_create(
        workspace=workspace_a, actor=alice, email="Charlie@Globex.test", role="member"
    )

    with pytest.raises(members.InvitationInvalid) as refused:
        members.invitation_accept_new_account(secret=created.secret, password=STRONG)

    assert refused.value.reason == "account_exists"
    assert get_user_model().objects.filter(username__iexact="charlie@globex.test").count() == 1
    assert not Membership.objects.filter(workspace=workspace_a, user=charlie).exists()
