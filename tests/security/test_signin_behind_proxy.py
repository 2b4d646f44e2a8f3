"""The sign-in brake counts failures per account and client address. Behind a proxy every
client arrives from the proxy's address; TRUSTED_PROXY_COUNT says how many proxies append to
X-Forwarded-For, so the brake sees each client apart and a client cannot pick its own."""

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

PROXY = "10.0.0.2"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def no_failures_counted():
    cache.clear()
    yield
    cache.clear()


def through_proxy(client_address: str, forged: str = "") -> Client:
    """A browser at `client_address` behind one proxy, which appends what it saw."""
    chain = f"{forged}, {client_address}" if forged else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)


def sign_in(client: Client, password: str):
    return client.post("/signin/", {"username": "alice@acme.test", "password": password})


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_guesser_behind_the_proxy_does_not_lock_out_the_others(alice):
    guesser = through_proxy("198.51.100.66")
    for _ in range(5):
        assert sign_in(guesser, "guess").status_code == 200
    assert sign_in(guesser, PASSWORD).status_code == 429

    alice_browser = through_proxy("203.0.113.10")
    signed_in = sign_in(alice_browser, PASSWORD)

    assert signed_in.status_code == 302
    assert alice_browser.session["_auth_user_id"] == str(alice.pk)


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_an_address_written_by_the_client_is_not_believed(alice):
    # The guesser forges a new first hop each time; the proxy's own hop stays the same.
    for n in range(5):
        assert (
            sign_in(through_proxy("198.51.100.66", forged=f"192.0.2.{n}"), "guess").status_code
            == 200
        )

    locked = sign_in(through_proxy("198.51.100.66", forged="192.0.2.99"), PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed sign-in attempts. Try again in" in locked.content.decode()


@override_settings(TRUSTED_PROXY_COUNT=0)
def test_without_a_trusted_proxy_the_header_is_ignored(alice):
    for n in range(5):
        guesser = Client(REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        assert sign_in(guesser, "guess").status_code == 200

    fresh_forgery = Client(REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_FOR="192.0.2.200")

    assert sign_in(fresh_forgery, PASSWORD).status_code == 429


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_with_two_proxies_the_outer_ones_view_counts(alice):
    def behind_two(client_address: str, forged: str = "") -> Client:
        chain = ", ".join(filter(None, [forged, client_address, "10.0.0.1"]))
        return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)

    for n in range(5):
        assert (
            sign_in(behind_two("198.51.100.66", forged=f"192.0.2.{n}"), "guess").status_code == 200
        )

    assert sign_in(behind_two("198.51.100.66"), PASSWORD).status_code == 429
    assert sign_in(behind_two("203.0.113.10"), PASSWORD).status_code == 302
