"""The sign-in brake, on /signin/ and the Django admin's login alike (one set of counters):
5 failures per account and address lock that pair, 30 per address lock the address, and
failures of one account from anywhere only slow it down, so guessers cannot lock its owner
out."""

import datetime as dt

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from workspaces.signin import BrakedAdminAuthenticationForm, BrakedAdminSite

PASSWORD = "correct horse battery"
ADMIN_LOGIN = "/admin/login/"
LOGIN_PAGES = ["/signin/", ADMIN_LOGIN]
LOCKED = "Too many failed sign-in attempts. Try again in "
SLOWED = "This account had many failed sign-in attempts, so each try must wait a little."
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def operator(db):
    cache.clear()  # the counters live in the shared cache and outlast a test's database
    user = get_user_model().objects.create_superuser(
        "ops@example.test", "ops@example.test", PASSWORD
    )
    yield user
    cache.clear()


def attempt(
    client: Client, password: str, path: str = ADMIN_LOGIN, username: str = "ops@example.test"
):
    return client.post(f"{path}?next=/admin/", {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302


def test_the_admin_is_djangos_own_with_the_braked_form(client, operator):
    assert isinstance(admin.site, BrakedAdminSite)
    page = client.get("/admin/", follow=True)
    assert page.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert "Django administration" in page.content.decode()
    assert isinstance(page.context["form"], BrakedAdminAuthenticationForm)

    assert attempt(client, PASSWORD)["Location"] == "/admin/"
    assert client.get(ADMIN_LOGIN)["Location"] == "/admin/"  # signed in: on to the index


def test_five_failures_lock_the_admin_login(client, operator):
    for _ in range(5):
        failed = attempt(client, "guess")
        assert failed.status_code == 200
        assert "Please enter the correct username and password" in failed.content.decode()

    locked = attempt(client, PASSWORD)

    assert locked.status_code == 429
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60 + 75
    assert LOCKED in locked.content.decode()
    assert "Django administration" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    # The app's sign-in refuses the account too.
    assert attempt(client, PASSWORD, path="/signin/").status_code == 429


def test_failures_on_either_form_count_together(client, operator):
    for path in ("/signin/", "/signin/", "/signin/", ADMIN_LOGIN, ADMIN_LOGIN):
        assert attempt(client, "guess", path=path).status_code == 200

    assert attempt(client, PASSWORD).status_code == 429
    assert attempt(client, PASSWORD, path="/signin/").status_code == 429


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_a_fullwidth_or_capitalised_username_shares_the_allowance(client, operator, path):
    # NFKC makes the fullwidth form the same account: Django signs it in as ops@example.test.
    for username in ["ｏｐｓ@ｅｘａｍｐｌｅ.ｔｅｓｔ"] * 3 + [
        "OPS@example.test",
        "ops@example.test",
    ]:
        assert attempt(client, "guess", path=path, username=username).status_code == 200

    assert attempt(client, PASSWORD, path=path).status_code == 429
    assert attempt(client, PASSWORD, path=path, username="ｏｐｓ@example.test").status_code == 429


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_password_spraying_from_one_address_is_stopped(operator, path):
    sprayer = Client(REMOTE_ADDR="198.51.100.66")
    answers = [
        attempt(sprayer, f"Password{n}!", path=path, username=f"user{account}@example.test")
        for account in range(30)
        for n in range(5)
    ]

    codes = [answer.status_code for answer in answers]
    assert codes[:30] == [200] * 30 and set(codes[30:]) == {429}
    assert "from your network" in answers[-1].content.decode()
    assert attempt(sprayer, PASSWORD, path=path).status_code == 429
    # Another address is not affected.
    assert signed_in(attempt(Client(REMOTE_ADDR="203.0.113.10"), PASSWORD, path=path))


def fail_from_many_addresses(clock, count: int, path: str = ADMIN_LOGIN) -> None:
    """`count` failures for ops@example.test, four from each of many addresses, each waiting
    as long as it is told to once the account is slowed down."""
    for n in range(count):
        guesser = Client(REMOTE_ADDR=f"198.51.100.{n // 4}")
        answer = attempt(guesser, "guess", path=path)
        if answer.status_code == 429:
            clock.shift(int(answer["Retry-After"]))
            answer = attempt(guesser, "guess", path=path)
        assert answer.status_code == 200


def test_failures_from_anywhere_slow_the_account_down_with_growing_delays(operator):
    with time_machine.travel(NOON, tick=False) as clock:
        fail_from_many_addresses(clock, 10)
        delays = []
        for n in range(4):
            guesser = Client(REMOTE_ADDR=f"203.0.113.{n}")
            slowed = attempt(guesser, "guess")
            assert slowed.status_code == 429
            assert SLOWED in slowed.content.decode()
            delays.append(int(slowed["Retry-After"]))
            clock.shift(delays[-1] - 1)
            last_second = attempt(guesser, "guess")
            assert last_second["Retry-After"] == "1"
            assert "Try again in 1 second." in last_second.content.decode()
            clock.shift(1)
            assert attempt(guesser, "guess").status_code == 200  # the wait is over: one more
        assert delays == [2, 4, 8, 16]


def test_the_wait_is_rounded_up_to_whole_seconds(operator):
    with time_machine.travel(NOON, tick=False) as clock:
        fail_from_many_addresses(clock, 10)
        clock.shift(0.5)
        guesser = Client(REMOTE_ADDR="203.0.113.50")
        slowed = attempt(guesser, "guess")
        clock.shift(1)
        early = attempt(guesser, "guess")

    # 1.5 s of the 2 s were left: after 1 s the account is still waiting.
    assert slowed["Retry-After"] == "2"
    assert early.status_code == 429 and early["Retry-After"] == "1"


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_a_post_without_a_password_neither_clears_the_failures_nor_earns_the_browser(
    operator, path
):
    browser = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(4):
        assert attempt(browser, "guess", path=path).status_code == 200

    empty = attempt(browser, "", path=path)

    assert empty.status_code == 200 and "signin_known" not in browser.cookies
    assert attempt(browser, "guess", path=path).status_code == 200  # the fifth failure
    assert attempt(browser, PASSWORD, path=path).status_code == 429


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_guessers_elsewhere_cannot_lock_the_owner_out(operator, path):
    owner_browser = Client(REMOTE_ADDR="203.0.113.10")
    with time_machine.travel(NOON, tick=False) as clock:
        assert signed_in(attempt(owner_browser, PASSWORD, path=path))
        owner_browser.post("/signout/")

        fail_from_many_addresses(clock, 20, path=path)  # 5 addresses, four guesses each
        guesser = Client(REMOTE_ADDR="198.51.100.4")
        assert attempt(guesser, "guess", path=path).status_code == 429

        # The browser that signed in before is not slowed down...
        assert signed_in(attempt(owner_browser, PASSWORD, path=path))
        # ...and a new one is only told to wait, never locked.
        new_browser = Client(REMOTE_ADDR="203.0.113.11")
        slowed = attempt(new_browser, PASSWORD, path=path)
        assert slowed.status_code == 429 and SLOWED in slowed.content.decode()
        assert int(slowed["Retry-After"]) <= 5 * 60
        clock.shift(int(slowed["Retry-After"]))
        assert signed_in(attempt(new_browser, PASSWORD, path=path))
        # The guessers are still braked: after one more guess, even the password waits.
        assert attempt(guesser, "guess", path=path).status_code == 200
        assert attempt(guesser, PASSWORD, path=path).status_code == 429


def test_a_known_browser_cookie_is_signed_and_for_its_account_only(operator):
    browser = Client(REMOTE_ADDR="203.0.113.10")
    assert signed_in(attempt(browser, PASSWORD))
    with time_machine.travel(NOON, tick=False) as clock:
        fail_from_many_addresses(clock, 12)

        # A forged cookie, or one earned by another account, does not skip the delay.
        value = browser.cookies["signin_known"].value
        forged = Client(REMOTE_ADDR="203.0.113.12")
        forged.cookies["signin_known"] = value.split(":", 1)[0] + ":forged"
        assert attempt(forged, PASSWORD).status_code == 429
        get_user_model().objects.create_user("eve@example.test", "eve@example.test", PASSWORD)
        other = Client(REMOTE_ADDR="203.0.113.13")
        assert signed_in(attempt(other, PASSWORD, path="/signin/", username="eve@example.test"))
        assert attempt(other, PASSWORD).status_code == 429
        assert signed_in(attempt(browser, PASSWORD))


def test_a_browser_known_for_more_than_90_days_waits_like_any_other(operator):
    older = Client(REMOTE_ADDR="203.0.113.10")
    newer = Client(REMOTE_ADDR="203.0.113.11")
    with time_machine.travel(NOON, tick=False) as clock:
        assert signed_in(attempt(older, PASSWORD))
        clock.shift(dt.timedelta(days=2))
        assert signed_in(attempt(newer, PASSWORD))
        clock.shift(dt.timedelta(days=89, seconds=1))  # 91 and 89 days since
        fail_from_many_addresses(clock, 12)

        assert attempt(older, PASSWORD).status_code == 429
        assert signed_in(attempt(newer, PASSWORD))


def test_a_successful_admin_sign_in_clears_the_failures(client, operator):
    for _ in range(4):
        attempt(client, "guess")
    assert attempt(client, PASSWORD).status_code == 302
    client.post("/admin/logout/")

    for _ in range(4):
        assert attempt(client, "guess").status_code == 200
    assert attempt(client, PASSWORD).status_code == 302


def test_a_signed_in_user_without_staff_rights_sees_the_form_not_a_loop(alice_client):
    page = alice_client.get(ADMIN_LOGIN)

    assert page.status_code == 200
    assert (
        "You are authenticated as alice@acme.test, but are not authorized" in page.content.decode()
    )


def test_a_right_password_refused_for_lack_of_staff_rights_is_not_a_failure(client, operator):
    get_user_model().objects.create_user("ann@example.test", "ann@example.test", PASSWORD)

    for _ in range(6):
        refused = attempt(client, PASSWORD, username="ann@example.test")
        assert refused.status_code == 200, refused.status_code
        assert "staff account" in refused.content.decode()

    assert signed_in(attempt(client, PASSWORD, path="/signin/", username="ann@example.test"))


def test_the_lock_says_how_many_minutes_are_left_rounded(client, operator):
    with time_machine.travel(NOON, tick=False) as clock:
        for _ in range(5):
            attempt(client, "guess")
        # the failures' slot leaves the 15-minute window at 12:16:15
        clock.move_to(NOON + dt.timedelta(seconds=875))
        hundred_seconds = attempt(client, PASSWORD)
        clock.move_to(NOON + dt.timedelta(seconds=915))
        sixty_seconds = attempt(client, PASSWORD)
        clock.move_to(NOON + dt.timedelta(seconds=955))
        twenty_seconds = attempt(client, PASSWORD)

    assert hundred_seconds["Retry-After"] == "100"
    assert f"{LOCKED}2 minutes." in hundred_seconds.content.decode()
    assert sixty_seconds["Retry-After"] == "60"
    assert f"{LOCKED}1 minute." in sixty_seconds.content.decode()
    assert twenty_seconds["Retry-After"] == "20"
    assert f"{LOCKED}1 minute." in twenty_seconds.content.decode()  # never "0 minutes"


def test_a_browser_remembers_the_account_it_signed_in_to_last(operator):
    from django.conf import settings

    from workspaces.signin import account_key

    browser = Client(REMOTE_ADDR="203.0.113.10")
    names = [f"user{n}@example.test" for n in range(6)]
    for name in names:
        get_user_model().objects.create_user(name, name, PASSWORD)
        assert signed_in(attempt(browser, PASSWORD, path="/signin/", username=name))
        del browser.cookies[settings.SESSION_COOKIE_NAME]  # signed out, cookies kept

    known = browser.cookies["signin_known"].value.split(":", 1)[0].split(",")

    assert known == [account_key(name) for name in reversed(names)][:5]  # the last five


def test_an_account_signed_in_to_again_comes_first_once_in_a_cookie_scripts_cannot_read(
    operator, settings
):
    from workspaces.signin import account_key

    settings.SESSION_COOKIE_SECURE = True  # served over HTTPS: the cookie goes over HTTPS only
    get_user_model().objects.create_user("eve@example.test", "eve@example.test", PASSWORD)
    browser = Client(REMOTE_ADDR="203.0.113.10")
    for name in ["ops@example.test", "eve@example.test", "ops@example.test"]:
        assert signed_in(attempt(browser, PASSWORD, path="/signin/", username=name))
        browser.post("/signout/")

    cookie = browser.cookies["signin_known"]
    known = cookie.value.split(":", 1)[0].split(",")

    assert known == [account_key("ops@example.test"), account_key("eve@example.test")]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True
