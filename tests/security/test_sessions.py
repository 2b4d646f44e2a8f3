"""Sessions end: after SESSION_COOKIE_AGE (12 h unless configured), at sign-out (the old
cookie replayed is worthless), and for every other browser when the password changes. A
session chosen before sign-in is not kept after it."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
PAGE = "/w/acme/settings/partners/bigquery/"
PASSWORD = "correct horse battery"


def signed_in(username: str, path: str = "/signin/") -> Client:
    """A client that signed in through the form, as a browser would."""
    client = Client()
    response = client.post(path, {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def replay(cookie: str) -> Client:
    """Another browser that presents a stolen or remembered session cookie."""
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client


def sent_to_sign_in(response, page: str = PAGE) -> bool:
    return response.status_code == 302 and response["Location"] == f"/signin/?next={page}"


def settings_in_a_fresh_process(**env: str) -> list[str]:
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.SESSION_COOKIE_AGE, s.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_sign_in_lasts_twelve_hours_and_its_cookie_ends_with_the_browser(alice):
    client = signed_in(alice.email)

    session = Session.objects.get(session_key=session_cookie(client))
    lifetime = session.expire_date - timezone.now()
    assert dt.timedelta(hours=11, minutes=59) < lifetime <= dt.timedelta(hours=12)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == "" and cookie["max-age"] == ""  # a browser-session cookie
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_both_limits_come_from_the_environment():
    assert settings_in_a_fresh_process() == ["43200", "True"]
    assert settings_in_a_fresh_process(
        SESSION_COOKIE_AGE="3600", SESSION_EXPIRE_AT_BROWSER_CLOSE="false"
    ) == ["3600", "False"]


def test_an_expired_session_is_sent_to_sign_in(alice, time_machine):
    client = signed_in(alice.email)
    signed_in_at = timezone.now()
    assert client.get(PAGE).status_code == 200

    time_machine.move_to(signed_in_at + dt.timedelta(hours=12, minutes=-1))
    assert client.get(PAGE).status_code == 200
    time_machine.move_to(signed_in_at + dt.timedelta(hours=12, seconds=1))

    assert sent_to_sign_in(client.get(PAGE))
    assert client.post(PAGE, headers={"HX-Request": "true"}).status_code == 403
    assert not Session.objects.filter(expire_date__gt=timezone.now()).exists()


def test_signing_out_makes_the_old_cookie_worthless(alice):
    client = signed_in(alice.email)
    cookie = session_cookie(client)
    assert replay(cookie).get(PAGE).status_code == 200  # the cookie is all it takes

    assert client.post("/signout/").status_code == 302

    assert sent_to_sign_in(replay(cookie).get(PAGE))
    assert sent_to_sign_in(client.get(PAGE))
    assert not Session.objects.filter(session_key=cookie).exists()


def test_a_session_chosen_before_sign_in_is_replaced(alice):
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    client.post("/signin/", {"username": alice.email, "password": PASSWORD})

    assert session_cookie(client) != planted.session_key
    assert sent_to_sign_in(replay(planted.session_key).get(PAGE))


def test_changing_the_password_signs_out_every_other_session(django_user_model):
    """The only password-change view is the admin's (staff); the app has none."""
    operator = django_user_model.objects.create_superuser("ops", "ops@example.test", PASSWORD)
    here = signed_in("ops", "/admin/login/")
    elsewhere = signed_in("ops")
    assert elsewhere.get("/admin/").status_code == 200

    changed = here.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "n3w-Passw0rd!",
            "new_password2": "n3w-Passw0rd!",
        },
    )

    assert (changed.status_code, changed["Location"]) == (302, "/admin/password_change/done/")
    assert here.get("/admin/").status_code == 200  # the browser that changed it stays in
    gone = elsewhere.get("/admin/")
    assert gone.status_code == 302 and gone["Location"].startswith("/admin/login/")
    assert elsewhere.get("/").status_code == 302
    operator.refresh_from_db()
    assert operator.check_password("n3w-Passw0rd!")
