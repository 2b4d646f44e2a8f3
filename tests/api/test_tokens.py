"""Personal API tokens: created on the API tokens page (shown once), stored as a digest,
revocable, expiring, with their last use recorded; creation and revocation audited."""

import datetime as dt
import hashlib
import re
import zoneinfo

import pytest
from django.utils import timezone

from api.models import ApiToken
from tests.api.conftest import API, ApiClient, error_of, make_token
from workspaces.models import AuditEntry, Membership

TOKENS = "/w/acme/settings/api-tokens/"
TOKEN_IN_PAGE = re.compile(r'value="(bqi_[0-9a-f]{12}_[A-Za-z0-9_-]{43})"')


def create_on_page(client, **data):
    form = {"name": "dbt nightly", "scope": "run", "expires_on": "", **data}
    return client.post(TOKENS, form)


def shown_token(response) -> str:
    (text,) = TOKEN_IN_PAGE.findall(response.content.decode())
    return text


def test_a_token_is_shown_once_and_stored_only_as_a_digest(alice_client, alice, workspace_a):
    response = create_on_page(alice_client)

    assert response.status_code == 200
    assert "no-store" in [part.strip() for part in response["Cache-Control"].split(",")]
    text = shown_token(response)
    assert "it is shown only this once" in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.workspace, token.scope, token.name) == (
        alice,
        workspace_a,
        "run",
        "dbt nightly",
    )
    assert token.digest == hashlib.sha256(text.encode()).hexdigest()
    stored = list(ApiToken.objects.values_list(flat=False).get(pk=token.pk))
    assert not any(text in str(value) for value in stored)
    assert text.split("_")[1] == token.prefix
    # Never again: the list shows the public prefix only.
    again = alice_client.get(TOKENS).content.decode()
    assert text not in again and token.digest not in again
    assert f"bqi_{token.prefix}_…" in again
    assert not TOKEN_IN_PAGE.search(again)


def test_the_shown_token_works_against_the_api(alice_client, alice):
    text = shown_token(create_on_page(alice_client))

    response = ApiClient(text).get(f"{API}/acme/")

    assert response.status_code == 200
    assert response.json()["token"]["scope"] == "run"


def test_a_revoked_token_gets_401_at_once(alice_client, alice, workspace_a):
    text = shown_token(create_on_page(alice_client))
    api = ApiClient(text)
    assert api.get(f"{API}/acme/connections/").status_code == 200
    token = ApiToken.objects.get()

    confirm = alice_client.get(f"{TOKENS}{token.pk}/revoke/")
    assert "Revoke token “dbt nightly”?" in confirm.content.decode()
    revoked = alice_client.post(f"{TOKENS}{token.pk}/revoke/", follow=True)

    assert "Token “dbt nightly” revoked." in revoked.content.decode()
    response = api.get(f"{API}/acme/connections/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_of(response) == {"code": "token_revoked", "message": "The API token was revoked."}
    token.refresh_from_db()
    assert token.revoked_by == alice and token.revoked_at is not None


def test_an_expired_token_gets_401(alice, workspace_a, time_machine):
    time_machine.move_to(dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), tick=False)
    text = make_token(alice, workspace_a, expires_at=timezone.now() + dt.timedelta(days=1))
    api = ApiClient(text)
    assert api.get(f"{API}/acme/").status_code == 200

    time_machine.move_to(dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC), tick=False)
    response = api.get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_expired"


def test_expires_on_is_the_last_day_the_token_works_in_the_workspaces_zone(
    alice_client, workspace_a
):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()

    create_on_page(alice_client, expires_on="2099-06-30")

    assert ApiToken.objects.get().expires_at == dt.datetime(2099, 6, 30, 15, tzinfo=dt.UTC)


def test_an_expiry_in_the_past_is_refused_and_nothing_is_created(alice_client):
    response = create_on_page(alice_client, expires_on="2001-01-01")

    assert "The expiry date is in the past." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_last_used_is_recorded_at_most_once_a_minute(alice, workspace_a, time_machine):
    start = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    api = ApiClient(make_token(alice, workspace_a))
    token = ApiToken.objects.get()
    assert token.last_used_at is None

    api.get(f"{API}/acme/")
    token.refresh_from_db()
    assert token.last_used_at == start

    time_machine.move_to(start + dt.timedelta(seconds=59), tick=False)
    api.get(f"{API}/acme/")
    token.refresh_from_db()
    assert token.last_used_at == start  # not written again within the minute

    later = start + dt.timedelta(minutes=1)
    time_machine.move_to(later, tick=False)
    api.get(f"{API}/acme/")
    token.refresh_from_db()
    assert token.last_used_at == later


def test_the_page_shows_when_a_token_was_last_used(alice_client, alice, workspace_a):
    ApiClient(make_token(alice, workspace_a, name="Poller")).get(f"{API}/acme/")

    row = alice_client.get(TOKENS).content.decode().split("Poller", 1)[1].split("</tr>")[0]

    assert "Never used" not in row
    assert timezone.now().strftime("%b %-d, %Y") in row


def test_a_member_may_create_a_read_token_but_no_more(bob_client, bob):
    refused = create_on_page(bob_client, scope="admin")

    page = refused.content.decode()
    assert refused.status_code == 200
    assert "Members of a workspace can only view, so their tokens can only read." in page
    assert not ApiToken.objects.exists()

    created = create_on_page(bob_client, scope="read")
    assert shown_token(created)
    assert ApiToken.objects.get().user == bob


def test_a_member_sees_and_revokes_only_their_own_tokens(bob_client, alice, bob, workspace_a):
    make_token(alice, workspace_a, name="Alice pipeline")
    make_token(bob, workspace_a, "read", name="Bob notebook")
    alices = ApiToken.objects.get(name="Alice pipeline")

    page = bob_client.get(TOKENS).content.decode()

    assert "Bob notebook" in page and "Alice pipeline" not in page
    assert bob_client.get(f"{TOKENS}{alices.pk}/revoke/").status_code == 404
    assert bob_client.post(f"{TOKENS}{alices.pk}/revoke/").status_code == 404
    alices.refresh_from_db()
    assert alices.revoked_at is None


def test_an_admin_sees_every_token_of_the_workspace_and_may_revoke_any(
    alice_client, alice, bob, charlie, workspace_a, workspace_b
):
    make_token(bob, workspace_a, "read", name="Bob notebook")
    make_token(charlie, workspace_b, name="Globex pipeline")
    bobs = ApiToken.objects.get(name="Bob notebook")

    page = alice_client.get(TOKENS).content.decode()
    assert "Bob notebook" in page and "bob@acme.test" in page
    assert "Globex pipeline" not in page

    alice_client.post(f"{TOKENS}{bobs.pk}/revoke/")
    bobs.refresh_from_db()
    assert bobs.revoked_by == alice


def test_creation_and_revocation_are_audited_without_the_token(alice_client, alice):
    text = shown_token(create_on_page(alice_client))
    token = ApiToken.objects.get()
    alice_client.post(f"{TOKENS}{token.pk}/revoke/")

    entries = list(AuditEntry.objects.filter(target_type="apitoken").order_by("id"))

    assert [e.action for e in entries] == ["api_token.created", "api_token.revoked"]
    assert all(e.actor == alice and e.target_id == str(token.pk) for e in entries)
    assert entries[0].details == {
        "name": "dbt nightly",
        "scope": "run",
        "prefix": f"bqi_{token.prefix}_…",
        "expires_at": None,
    }
    for entry in entries:
        text_of_entry = f"{entry.details} {entry.target_label}"
        assert text not in text_of_entry and token.digest not in text_of_entry
        assert text.rsplit("_", 1)[1] not in text_of_entry


def test_revoking_twice_writes_one_entry(alice_client, alice, workspace_a):
    make_token(alice, workspace_a)
    token = ApiToken.objects.get()
    for _ in range(2):
        alice_client.post(f"{TOKENS}{token.pk}/revoke/")

    assert AuditEntry.objects.filter(action="api_token.revoked").count() == 1


def test_a_token_stops_working_when_its_owner_leaves_the_workspace(alice, workspace_a):
    api = ApiClient(make_token(alice, workspace_a))
    Membership.objects.filter(user=alice).delete()

    response = api.get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_an_admin_token_only_reads_once_its_owner_is_made_a_member(alice, workspace_a):
    api = ApiClient(make_token(alice, workspace_a, "admin"))
    Membership.objects.filter(user=alice).update(role=Membership.Role.MEMBER)

    assert api.get(f"{API}/acme/").json()["token"]["effective_scope"] == "read"
    response = api.post(f"{API}/acme/imports/00000000-0000-0000-0000-000000000000/pause/")
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer bqi_0123456789ab_" + "A" * 43,  # well formed, unknown
        "Bearer nonsense",
        "Bearer bqi_0123456789ab_short",
    ],
)
def test_an_unknown_or_malformed_token_gets_401(alice, workspace_a, header, client):
    make_token(alice, workspace_a)

    response = client.get(f"{API}/acme/", headers={"Authorization": header})

    assert response.status_code == 401
    assert error_of(response) == {"code": "token_invalid", "message": "The API token is not valid."}


def test_a_token_with_the_right_prefix_and_a_wrong_secret_gets_401(alice, workspace_a):
    text = make_token(alice, workspace_a)
    prefix, secret = text.rsplit("_", 1)
    forged = prefix + "_" + ("B" if secret[0] != "B" else "C") + secret[1:]

    response = ApiClient(forged).get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_a_token_is_refused_unless_its_whole_digest_matches(alice, workspace_a):
    text = make_token(alice, workspace_a)
    digest = hashlib.sha256(text.encode()).hexdigest()
    # The stored digest differs from the token's in its last character only.
    ApiToken.objects.update(digest=digest[:-1] + ("0" if digest[-1] != "0" else "1"))

    response = ApiClient(text).get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_a_token_refused_by_the_limit_of_active_tokens(alice_client, alice, workspace_a):
    # 50 active tokens a user and workspace: a script creating tokens in a loop stops there.
    for n in range(50):
        make_token(alice, workspace_a, name=f"t{n}")

    response = create_on_page(alice_client)

    assert "You have 50 active tokens in this workspace already." in response.content.decode()
    assert ApiToken.objects.count() == 50


def test_sending_the_same_form_twice_creates_one_token_and_shows_it_once(alice_client):
    nonce = "2b0c2f6e-7a52-4d7e-9a59-4c0b8f0f9a11"
    first = create_on_page(alice_client, nonce=nonce)
    again = create_on_page(alice_client, nonce=nonce)

    assert shown_token(first)
    assert again.status_code == 302
    followed = alice_client.get(again["Location"]).content.decode()
    assert "This form was sent already: token “dbt nightly” was created then" in followed
    assert not TOKEN_IN_PAGE.search(followed)
    assert ApiToken.objects.count() == 1
    assert AuditEntry.objects.filter(action="api_token.created").count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "t\x1b"}, "Token name must not contain control characters."),
        ({"name": "   "}, "Give the token a name."),
        ({"expires_on": "9999-12-31"}, "Choose a date within 100 years, or leave it empty"),
        ({"expires_on": "2000-01-01"}, "The expiry date is in the past."),
    ],
)
def test_a_refused_token_form_says_why_and_creates_nothing(alice_client, data, message):
    response = create_on_page(alice_client, **data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_an_expiry_a_hundred_years_ahead_is_taken(alice_client, workspace_a):
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(workspace_a.time_zone)).date()
    day = today.replace(year=today.year + 100, day=min(today.day, 28))

    assert shown_token(create_on_page(alice_client, expires_on=day.isoformat()))
    assert ApiToken.objects.get().expires_at.date() >= day


def test_a_tampered_form_id_still_creates_the_token_once(alice_client):
    assert shown_token(create_on_page(alice_client, nonce="not-a-uuid"))
    assert ApiToken.objects.count() == 1


def test_checking_a_token_names_its_workspace_scope_expiry_owner_and_links(alice, workspace_a):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    expires = dt.datetime(2099, 1, 31, 23, tzinfo=dt.UTC)
    api = ApiClient(make_token(alice, workspace_a, "run", name="dbt nightly", expires_at=expires))

    response = api.get(f"{API}/acme/")

    assert response.status_code == 200
    assert response.json() == {
        "workspace": {"slug": "acme", "name": "Acme", "time_zone": "Europe/Berlin"},
        "token": {
            "name": "dbt nightly",
            "scope": "run",
            "effective_scope": "run",
            "expires_at": "2099-01-31T23:00:00Z",
            "owner": {"id": alice.pk, "email": "alice@acme.test"},
        },
        "links": {
            name: f"http://testserver{API}/acme/{name}/"
            for name in ("connections", "imports", "audit")
        },
    }


def test_the_limit_counts_only_the_users_active_tokens_in_this_workspace(
    alice_client, alice, bob, workspace_a, workspace_b, time_machine
):
    from api.services import MAX_ACTIVE_TOKENS

    time_machine.move_to(dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), tick=False)
    for n in range(MAX_ACTIVE_TOKENS - 1):
        make_token(alice, workspace_a, name=f"t{n}")
    make_token(alice, workspace_a, name="revoked")
    ApiToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    make_token(alice, workspace_a, name="expired", expires_at=timezone.now() + dt.timedelta(1))
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now())  # ends now
    make_token(bob, workspace_a, "read", name="Bob's")
    Membership.objects.create(workspace=workspace_b, user=alice, role=Membership.Role.ADMIN)
    make_token(alice, workspace_b, name="Alice at Globex")

    assert shown_token(create_on_page(alice_client, name="the last one"))
    refused = create_on_page(alice_client, name="one too many")

    assert f"You have {MAX_ACTIVE_TOKENS} active tokens" in refused.content.decode()
    assert not ApiToken.objects.filter(name="one too many").exists()


def test_an_expiry_of_now_is_refused(alice, workspace_a, time_machine):
    from api.services import TokenRefused, api_token_create

    time_machine.move_to(dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), tick=False)

    with pytest.raises(TokenRefused, match="The expiry date must be in the future."):
        make_token(alice, workspace_a, expires_at=timezone.now())
    created = api_token_create(
        workspace=workspace_a, user=alice, role="admin", name="a second", scope="read",
        expires_at=timezone.now() + dt.timedelta(seconds=1),
    )  # fmt: skip

    assert list(ApiToken.objects.values_list("name", flat=True)) == ["a second"]
    entry = AuditEntry.objects.get(action="api_token.created")
    assert entry.details["expires_at"] == "2026-05-01T12:00:01+00:00"
    assert created.token.expires_at == dt.datetime(2026, 5, 1, 12, 0, 1, tzinfo=dt.UTC)


def test_revoking_anothers_token_records_whose_it_was(alice_client, alice, bob, workspace_a):
    make_token(bob, workspace_a, "read", name="Bob notebook")
    token = ApiToken.objects.get()

    alice_client.post(f"{TOKENS}{token.pk}/revoke/")

    entry = AuditEntry.objects.get(action="api_token.revoked")
    assert (entry.actor, entry.details["owner"]) == (alice, "bob@acme.test")
    assert entry.details["name"] == "Bob notebook"


def test_a_deactivated_owners_token_gets_401(alice, workspace_a):
    api = ApiClient(make_token(alice, workspace_a))
    alice.is_active = False
    alice.save()

    response = api.get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_a_token_needs_its_owner_in_its_own_workspace_not_in_another(
    alice, workspace_a, workspace_b
):
    api = ApiClient(make_token(alice, workspace_a))
    Membership.objects.create(workspace=workspace_b, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.filter(workspace=workspace_a, user=alice).delete()

    response = api.get(f"{API}/acme/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_invalid"


def test_two_users_sending_the_same_form_id_each_get_their_own_token(alice_client, bob_client, bob):
    nonce = "2b0c2f6e-7a52-4d7e-9a59-4c0b8f0f9a11"
    assert shown_token(create_on_page(alice_client, nonce=nonce, name="Alice's"))

    response = create_on_page(bob_client, nonce=nonce, name="Bob's", scope="read")

    assert shown_token(response)
    assert "Alice's" not in response.content.decode()
    assert ApiToken.objects.get(name="Bob's").user == bob


def test_the_page_shows_each_tokens_state_and_its_last_working_minute(
    alice_client, alice, workspace_a, time_machine
):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    time_machine.move_to(dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), tick=False)
    tokyo_midnight = dt.datetime(2099, 6, 30, 15, tzinfo=dt.UTC)
    make_token(alice, workspace_a, name="Until June", expires_at=tokyo_midnight)
    make_token(alice, workspace_a, name="Lapsed", expires_at=timezone.now() + dt.timedelta(1))
    ApiToken.objects.filter(name="Lapsed").update(expires_at=timezone.now())
    make_token(alice, workspace_a, name="Withdrawn", expires_at=tokyo_midnight)
    ApiToken.objects.filter(name="Withdrawn").update(revoked_at=timezone.now())

    page = alice_client.get(TOKENS).content.decode()
    rows = {
        name: row
        for row in re.findall(r"<tr[ >].*?</tr>", page, re.S)
        for name in ("Until June", "Lapsed", "Withdrawn")
        if f"<td>{name}</td>" in row
    }

    assert "Jun 30, 2099 23:59" in rows["Until June"] and "Jul 1, 2099" not in rows["Until June"]
    assert ">Active<" in rows["Until June"] and "token-inactive" not in rows["Until June"]
    assert ">Expired<" in rows["Lapsed"] and 'class="token-inactive"' in rows["Lapsed"]
    assert ">Revoked<" in rows["Withdrawn"] and ">Active<" not in rows["Withdrawn"]


def test_the_page_lists_active_tokens_before_revoked_ones_then_newest_first(
    alice_client, alice, workspace_a, time_machine
):
    start = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    for hours, name in enumerate(("Oldest active", "Revoked old", "Revoked new", "Newest")):
        time_machine.move_to(start + dt.timedelta(hours=hours), tick=False)
        make_token(alice, workspace_a, name=name)
    time_machine.move_to(start + dt.timedelta(days=1), tick=False)
    ApiToken.objects.filter(name__startswith="Revoked").update(revoked_at=timezone.now())

    page = alice_client.get(TOKENS).content.decode()
    names = re.findall(r"<td>(Oldest active|Revoked old|Revoked new|Newest)</td>", page)

    assert names == ["Newest", "Oldest active", "Revoked new", "Revoked old"]


def test_an_expired_token_is_listed_with_the_ended_ones_after_every_working_one(
    alice_client, alice, workspace_a, time_machine
):
    start = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    ends = {"Working old": None, "Revoked": None, "Expired new": dt.timedelta(days=1)}
    for hours, (name, lifetime) in enumerate(ends.items()):
        time_machine.move_to(start + dt.timedelta(hours=hours), tick=False)
        make_token(
            alice,
            workspace_a,
            name=name,
            expires_at=timezone.now() + lifetime if lifetime else None,
        )
    ApiToken.objects.filter(name="Revoked").update(revoked_at=timezone.now())
    time_machine.move_to(start + dt.timedelta(days=2), tick=False)

    page = alice_client.get(TOKENS).content.decode()
    names = re.findall(r"<td>(Working old|Revoked|Expired new)</td>", page)

    assert names == ["Working old", "Expired new", "Revoked"]


NONCE_IN_PAGE = re.compile(r'<input type="hidden" name="nonce" value="([^"]*)"')
SCOPE_OPTIONS = re.compile(r'<input type="radio" name="scope" value="(\w+)"')


def test_after_a_token_is_shown_the_form_is_a_new_one(alice_client):
    nonce = "2b0c2f6e-7a52-4d7e-9a59-4c0b8f0f9a11"
    first = create_on_page(alice_client, nonce=nonce, name="First")

    page = first.content.decode()
    (next_nonce,) = NONCE_IN_PAGE.findall(page)
    assert next_nonce != nonce
    assert 'value="First"' not in page
    second = create_on_page(alice_client, nonce=next_nonce, name="Second")

    assert shown_token(second) != shown_token(first)
    assert sorted(ApiToken.objects.values_list("name", flat=True)) == ["First", "Second"]


def test_a_member_is_offered_only_the_read_scope_and_a_refusal_is_on_the_scope(
    alice_client, bob_client
):
    assert SCOPE_OPTIONS.findall(alice_client.get(TOKENS).content.decode()) == [
        "read", "run", "admin",
    ]  # fmt: skip
    assert SCOPE_OPTIONS.findall(bob_client.get(TOKENS).content.decode()) == ["read"]

    page = create_on_page(bob_client, scope="run").content.decode()

    scopes = page.split('<fieldset class="token-scopes', 1)[1].split("</fieldset>", 1)[0]
    assert "Members of a workspace can only view" in scopes
    assert 'class="form-error"' not in page


def test_expiry_days_are_the_workspaces_days(alice_client, workspace_a, time_machine):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    # 20:00 UTC on May 1 is already 05:00 on May 2 in Tokyo
    time_machine.move_to(dt.datetime(2026, 5, 1, 20, tzinfo=dt.UTC), tick=False)

    page = alice_client.get(TOKENS).content.decode()
    yesterday = create_on_page(alice_client, name="Yesterday", expires_on="2026-05-01")
    today = create_on_page(alice_client, name="Today", expires_on="2026-05-02")

    assert 'name="expires_on" value="2026-07-31"' in page  # 90 days from Tokyo's today
    assert "The expiry date is in the past." in yesterday.content.decode()
    assert shown_token(today)
    assert ApiToken.objects.get().expires_at == dt.datetime(2026, 5, 2, 15, tzinfo=dt.UTC)


def test_a_hundred_years_from_a_29_february_ends_on_the_28th(alice_client, time_machine):
    time_machine.move_to(dt.datetime(2000, 2, 29, 12, tzinfo=dt.UTC), tick=False)

    last = create_on_page(alice_client, name="Last", expires_on="2100-02-28")
    beyond = create_on_page(alice_client, name="Beyond", expires_on="2100-03-01")

    assert shown_token(last)
    assert "Choose a date within 100 years" in beyond.content.decode()
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["Last"]


def test_a_token_name_longer_than_100_characters_is_refused(alice_client):
    response = create_on_page(alice_client, name="n" * 101)

    assert response.status_code == 200
    assert "at most 100 characters" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_form_sent_twice_at_once_creates_one_token(
    alice_client, alice, workspace_a, monkeypatch
):
    import threading
    import uuid

    from django.db import connection

    from api import services

    nonce = "2b0c2f6e-7a52-4d7e-9a59-4c0b8f0f9a11"
    token_new = services.tokens.token_new
    other: dict = {}

    def the_other_request() -> None:
        try:
            other["created"] = services.api_token_create(
                workspace=workspace_a, user=alice, role="admin", name="dbt nightly",
                scope="run", expires_at=None, form_nonce=uuid.UUID(nonce),
            )  # fmt: skip
        finally:
            connection.close()

    def the_other_request_commits_first():
        # Both requests found no token of this form; the other one inserts and commits now.
        if not other:
            other["started"] = True
            thread = threading.Thread(target=the_other_request)
            thread.start()
            thread.join(timeout=60)
        return token_new()

    monkeypatch.setattr(services.tokens, "token_new", the_other_request_commits_first)

    response = create_on_page(alice_client, nonce=nonce)

    assert response.status_code == 302
    followed = alice_client.get(response["Location"]).content.decode()
    assert "This form was sent already: token “dbt nightly” was created then" in followed
    assert not TOKEN_IN_PAGE.search(followed)
    assert list(ApiToken.objects.values_list("pk", flat=True)) == [other["created"].token.pk]
    assert AuditEntry.objects.filter(action="api_token.created").count() == 1
