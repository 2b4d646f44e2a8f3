"""Password reset by email (to a real SMTP server on loopback) and password change, through
Django's own views in the app's layout; reset requests go through a brake."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NEW = "violet-harbor-41-lantern"


@pytest.fixture(autouse=True)
def counters():
    cache.clear()  # the brake's counters live in the shared cache and outlast a test's database
    yield
    cache.clear()


def ask_reset(client: Client, email: str, **extra):
    return client.post("/password/reset/", {"email": email}, **extra)


def reset_link(message) -> str:
    found = re.search(r"https?://[^/\s]+(/password/reset/[^\s]+/[^\s]+/)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


def test_a_password_is_reset_by_email_end_to_end(client, alice, smtp_settings):
    page = client.get("/signin/").content.decode()
    assert 'href="/password/reset/"' in page and "Forgot your password?" in page
    form = client.get("/password/reset/").content.decode()
    assert "Reset your password" in form and 'class="skip-link"' in form  # the app's layout

    response = ask_reset(client, "alice@acme.test")

    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    [message] = smtp_settings.messages
    assert message["To"] == "alice@acme.test"
    assert str(message["Subject"]).strip() == "Reset your BigQuery Imports password"
    link = reset_link(message)
    choose = client.get(link, follow=True)  # Django moves the token into the session
    assert "Choose a new password" in choose.content.decode()
    form_url = choose.redirect_chain[-1][0]
    weak = client.post(form_url, {"new_password1": "alice", "new_password2": "alice"})
    assert "This password is too short." in weak.content.decode()
    done = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/password/reset/done/"
    assert "Your new password is set" in client.get(done["Location"]).content.decode()

    signed_in = Client().post("/signin/", {"username": "alice@acme.test", "password": NEW})
    assert signed_in.status_code == 302
    again = Client().get(link, follow=True).content.decode()
    assert "This password reset link does not work" in again


def test_the_answer_says_nothing_about_whether_the_address_has_an_account(
    client, alice, smtp_settings
):
    known = ask_reset(client, "alice@acme.test")
    unknown = ask_reset(client, "nobody@acme.test")

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m["To"] for m in smtp_settings.messages] == ["alice@acme.test"]


def test_reset_requests_for_one_address_are_braked(client, alice, smtp_settings):
    for _ in range(3):
        assert ask_reset(client, "alice@acme.test").status_code == 302

    refused = ask_reset(client, "ALICE@acme.test")

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60 * 60 + 300
    assert "Too many password reset requests for this email address." in refused.content.decode()
    assert len(smtp_settings.messages) == 3
    # An address that does not exist is braked the same way: the refusal tells nothing.
    for _ in range(3):
        ask_reset(client, "nobody@acme.test")
    assert ask_reset(client, "nobody@acme.test").status_code == 429


def test_reset_requests_from_one_network_are_braked(client, alice, smtp_settings):
    for n in range(10):
        assert ask_reset(client, f"someone{n}@acme.test").status_code == 302

    refused = ask_reset(client, "alice@acme.test")

    assert refused.status_code == 429
    assert "Too many password reset requests from your network." in refused.content.decode()
    assert smtp_settings.messages == []
    # Another address is not held back by this one's requests.
    other = ask_reset(client, "alice@acme.test", REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302 and len(smtp_settings.messages) == 1


def test_requests_refused_for_their_network_do_not_use_up_an_addresss_own_limit(
    client, alice, smtp_settings
):
    for n in range(10):
        ask_reset(client, f"someone{n}@acme.test")
    for _ in range(3):
        assert ask_reset(client, "alice@acme.test").status_code == 429

    other = ask_reset(client, "alice@acme.test", REMOTE_ADDR="203.0.113.9")

    assert other.status_code == 302
    assert [m["To"] for m in smtp_settings.messages] == ["alice@acme.test"]


def test_an_address_locked_by_the_sign_in_brake_cannot_ask_for_resets(client, alice, smtp_settings):
    for n in range(30):
        client.post("/signin/", {"username": f"guess{n}@acme.test", "password": "guess"})

    refused = ask_reset(client, "alice@acme.test")

    assert refused.status_code == 429
    assert "Too many failed sign-in attempts from your network." in refused.content.decode()
    assert smtp_settings.messages == []


def test_a_password_change_keeps_this_session_and_ends_the_others(alice):
    here, elsewhere = client_for(alice), client_for(alice)
    page = here.get("/password/change/")
    assert page.status_code == 200 and 'class="skip-link"' in page.content.decode()

    wrong = here.post(
        "/password/change/",
        {"old_password": "guess", "new_password1": NEW, "new_password2": NEW},
    )
    assert "Your old password was entered incorrectly." in wrong.content.decode()

    done = here.post(
        "/password/change/",
        {"old_password": "correct horse battery", "new_password1": NEW, "new_password2": NEW},
    )

    assert done.status_code == 302 and done["Location"] == "/password/change/done/"
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert here.get("/w/acme/settings/").status_code == 200
    assert elsewhere.get("/w/acme/settings/").status_code == 302


def test_the_password_change_page_needs_a_signed_in_user(client, db):
    response = client.get("/password/change/")
    assert response.status_code == 302 and response["Location"].startswith("/signin/")


def test_a_braked_reset_says_the_minutes_left_rounded_up(client, smtp_settings):
    noon = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    message = "Too many password reset requests for this email address. Try again in "
    with time_machine.travel(noon, tick=False) as clock:
        for _ in range(3):
            ask_reset(client, "nobody@acme.test")
        # the requests' slot leaves the hour's window at 13:05
        clock.move_to(noon + dt.timedelta(seconds=3330))
        ten = ask_reset(client, "nobody@acme.test")
        clock.move_to(noon + dt.timedelta(seconds=3850))
        one = ask_reset(client, "nobody@acme.test")

    assert (ten.status_code, ten["Retry-After"]) == (429, "570")
    assert f"{message}10 minutes." in ten.content.decode()
    assert (one.status_code, one["Retry-After"]) == (429, "50")
    assert f"{message}1 minute." in one.content.decode()
