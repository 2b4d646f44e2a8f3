import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from workspaces.access import get_in_workspace, workspace_view
from workspaces.models import AuditEntry, Membership


@workspace_view
def a_view(request):
    return HttpResponse(request.workspace.slug)


@workspace_view(admin_only=True)
def an_admin_view(request):
    return HttpResponse("ok")


def call(view, user, method="get", ws="acme"):
    request = getattr(RequestFactory(), method)("/")
    request.user = user
    return view(request, ws=ws)


def test_a_member_reads_their_workspace(bob):
    assert call(a_view, bob).content == b"acme"


def test_a_member_may_not_change_anything(bob):
    with pytest.raises(PermissionDenied):
        call(a_view, bob, "post")
    with pytest.raises(PermissionDenied):
        call(an_admin_view, bob)


def test_an_admin_may_change(alice):
    assert call(a_view, alice, "post").status_code == 200
    assert call(an_admin_view, alice, "post").status_code == 200


def test_another_workspace_is_404_even_for_an_admin(charlie, workspace_a):
    with pytest.raises(Http404):
        call(a_view, charlie, ws="acme")
    with pytest.raises(Http404):
        call(an_admin_view, charlie, "post", ws="acme")


def test_an_unknown_workspace_is_404(alice):
    with pytest.raises(Http404):
        call(a_view, alice, ws="nope")


def test_get_in_workspace_never_returns_another_workspaces_object(
    alice, charlie, workspace_a, workspace_b
):
    entry_b = AuditEntry.objects.create(
        workspace=workspace_b, action="x", target_type="t", target_id="1", target_label="b"
    )
    assert get_in_workspace(AuditEntry, workspace_b, pk=entry_b.pk) == entry_b
    with pytest.raises(Http404):
        get_in_workspace(AuditEntry, workspace_a, pk=entry_b.pk)
    with pytest.raises(Http404):
        get_in_workspace(AuditEntry.objects.all(), workspace_a, pk="not-a-number")


def test_pages_of_workspace_a_are_404_for_a_member_of_b(charlie_client, workspace_a):
    response = charlie_client.get("/w/acme/settings/partners/bigquery/")

    assert response.status_code == 404
    assert b"Acme" not in response.content


def test_anonymous_users_are_sent_to_sign_in(client, workspace_a):
    response = client.get("/w/acme/settings/partners/bigquery/")

    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=/w/acme/")


def test_home_sends_a_user_to_their_workspace(alice_client):
    response = alice_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/w/acme/settings/partners/bigquery/"


def test_the_switcher_lists_every_workspace_of_the_user(alice, workspace_b, alice_client):
    Membership.objects.create(workspace=workspace_b, user=alice, role=Membership.Role.MEMBER)

    page = alice_client.get("/w/acme/settings/partners/bigquery/").content.decode()

    assert 'href="/w/globex/settings/partners/bigquery/"' in page
    assert "Acme</strong> (current)" in page
    # By name: Acme before Globex, whichever was joined first.
    assert page.index("Acme</strong> (current)") < page.index('href="/w/globex/settings/')


@workspace_view(members_may_change=True)
def a_members_own_view(request):
    return HttpResponse(request.method)


def test_a_view_about_members_own_things_takes_their_changes(bob, charlie):
    assert call(a_members_own_view, bob, "post").content == b"POST"
    with pytest.raises(Http404):  # still only in the member's own workspace
        call(a_members_own_view, charlie, "post")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_member_may_not_use_any_other_method_to_change_things(bob, method):
    with pytest.raises(PermissionDenied):
        call(a_view, bob, method)


def test_a_workspace_slug_is_matched_exactly(alice):
    with pytest.raises(Http404):
        call(a_view, alice, ws="ACME")
