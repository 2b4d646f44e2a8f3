"""The Django admin's login is behind the same brake as /signin/: 5 failures per account and
address, or 20 per account from anywhere, lock the account for 15 minutes, and both forms
count together."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import resolve

from workspaces.signin import LOCKED_MESSAGE, account_key, admin_login

PASSWORD = "correct horse battery"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_superuser(
        "ops@example.test", "ops@example.test", PASSWORD
    )
    clear_failures()
    yield user
    clear_failures()


def clear_failures() -> None:
    """The counters live in the shared cache and outlast a test's database."""
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match=f"*{account_key('ops@example.test')}*"):
        client.delete(key)


def attempt(
    client: Client, password: str, path: str = ADMIN_LOGIN, username: str = "ops@example.test"
):
    return client.post(f"{path}?next=/admin/", {"username": username, "password": password})


def test_the_admin_login_is_the_throttled_view_and_still_the_admins_page(client, operator):
    assert resolve(ADMIN_LOGIN).func is admin_login
    page = client.get("/admin/", follow=True)
    assert page.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert "Django administration" in page.content.decode()

    assert attempt(client, PASSWORD)["Location"] == "/admin/"
    assert client.get(ADMIN_LOGIN)["Location"] == "/admin/"  # signed in: on to the index


def test_five_failures_lock_the_admin_login(client, operator):
    for _ in range(5):
        failed = attempt(client, "guess")
        assert failed.status_code == 200
        assert "Please enter the correct username and password" in failed.content.decode()

    locked = attempt(client, PASSWORD)

    assert locked.status_code == 429
    assert LOCKED_MESSAGE in locked.content.decode()
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


def test_twenty_failures_from_many_addresses_lock_the_account_everywhere(operator):
    for n in range(20):
        client = Client(REMOTE_ADDR=f"203.0.113.{n}")
        assert attempt(client, "guess").status_code == 200

    locked = attempt(Client(REMOTE_ADDR="198.51.100.7"), PASSWORD)

    assert locked.status_code == 429
    assert LOCKED_MESSAGE in locked.content.decode()


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
