"""The token stand-in, driven by google-auth's real service-account refresh."""

from __future__ import annotations

import functools
import re
import time

import pytest
from cryptography.hazmat.primitives import serialization
from google.auth import exceptions
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from standins import GOOGLE_TOKEN_URI, StandinStack
from standins.token_server import BAD_TIMEFRAME

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def credentials(stack: StandinStack, info: dict, **kwargs) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(
        info, scopes=[CLOUD_PLATFORM], **kwargs
    ).with_token_uri(stack.token_uri)


def refresh_error(stack: StandinStack, info: dict, **kwargs) -> exceptions.RefreshError:
    with pytest.raises(exceptions.RefreshError) as caught:
        credentials(stack, info, **kwargs).refresh(Request())
    return caught.value


def test_key_json_looks_like_googles(stack: StandinStack) -> None:
    key = stack.register_service_account(
        "loader@acme-analytics.iam.gserviceaccount.com", project_id="acme-analytics"
    )
    info = key.info
    assert info["type"] == "service_account"
    assert info["project_id"] == "acme-analytics"
    assert re.fullmatch(r"[0-9a-f]{40}", info["private_key_id"])
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    private_key = serialization.load_pem_private_key(info["private_key"].encode(), None)
    assert private_key.key_size == 2048
    assert re.fullmatch(r"\d{21}", info["client_id"])
    assert info["token_uri"] == GOOGLE_TOKEN_URI
    assert info["universe_domain"] == "googleapis.com"
    assert info["client_x509_cert_url"].endswith("loader%40acme-analytics.iam.gserviceaccount.com")
    # Nothing is sent anywhere until a refresh: the key's own token_uri is never used.
    credentials(stack, info)
    assert stack.token_server.requests == []


def test_refresh_issues_a_bearer_token(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    creds = credentials(stack, key.info)
    creds.refresh(Request())

    assert creds.token.startswith("ya29.")
    assert 3500 < (creds.expiry - creds.expiry.now(creds.expiry.tzinfo)).total_seconds() < 3600
    info = stack.token_server.resolve(creds.token)
    assert info is not None and info.email == key.email and CLOUD_PLATFORM in info.scopes
    [seen] = stack.token_server.requests
    assert (seen.method, seen.path, seen.account, seen.status) == ("POST", "/token", key.email, 200)


def test_deleted_key_is_an_invalid_signature(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.delete_key(key.key_id)

    error = refresh_error(stack, key.info)
    assert error.args[0] == "invalid_grant: Invalid JWT Signature."
    assert error.args[1] == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }
    assert error.retryable is False


def test_rotated_key_old_fails_new_works(stack: StandinStack) -> None:
    old = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    new = stack.token_server.add_key(old.email)
    stack.token_server.delete_key(old.key_id)

    assert "Invalid JWT Signature." in str(refresh_error(stack, old.info))
    credentials(stack, new.info).refresh(Request())


def test_key_of_another_account_is_an_invalid_signature(stack: StandinStack) -> None:
    mine = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    other = stack.register_service_account("b@p-one.iam.gserviceaccount.com", project_id="p-one")
    forged = {**mine.info, "private_key": other.info["private_key"]}

    assert refresh_error(stack, forged).args[1]["error_description"] == "Invalid JWT Signature."


def test_disabled_account(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.disable_account(key.email)

    assert refresh_error(stack, key.info).args[0] == "invalid_grant: Robot is disabled."
    stack.token_server.disable_account(key.email, disabled=False)
    credentials(stack, key.info).refresh(Request())


def test_deleted_account(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.delete_account(key.email)

    error = refresh_error(stack, key.info)
    assert error.args[0] == "invalid_grant: Invalid grant: account not found"


def test_unknown_account(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    info = {**key.info, "client_email": "ghost@p-one.iam.gserviceaccount.com"}
    assert "Invalid grant: account not found" in str(refresh_error(stack, info))


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iat": -7200, "exp": -3600}, id="issued-two-hours-ago"),
        pytest.param({"iat": 900, "exp": 4500}, id="issued-in-the-future"),
        pytest.param({"iat": 0, "exp": 7200}, id="lifetime-over-an-hour"),
    ],
)
def test_jwt_outside_a_reasonable_timeframe(stack: StandinStack, claims: dict) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    now = int(time.time())
    # google-auth lets additional claims override iat/exp: it signs what a skewed clock would.
    shifted = {name: now + offset for name, offset in claims.items()}

    error = refresh_error(stack, key.info, additional_claims=shifted)
    assert error.args[1] == {"error": "invalid_grant", "error_description": BAD_TIMEFRAME}


def test_server_clock_ahead_of_ours(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.clock = lambda: time.time() + 3 * 3600
    try:
        assert "short-lived token (60 minutes)" in str(refresh_error(stack, key.info))
    finally:
        stack.token_server.clock = time.time
    # a few minutes of skew are tolerated
    stack.token_server.clock = lambda: time.time() + 240
    try:
        credentials(stack, key.info).refresh(Request())
    finally:
        stack.token_server.clock = time.time


def test_wrong_audience_and_missing_scope(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    error = refresh_error(stack, key.info, additional_claims={"aud": "https://example.com/"})
    assert "Failed audience check" in error.args[1]["error_description"]

    unscoped = service_account.Credentials.from_service_account_info(key.info).with_token_uri(
        stack.token_uri
    )
    with pytest.raises(exceptions.RefreshError, match="invalid_scope"):
        unscoped.refresh(Request())


def test_drop_and_hang_surface_as_transport_errors(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.inject("drop")
    with pytest.raises(exceptions.TransportError):
        credentials(stack, key.info).refresh(Request())

    stack.token_server.inject("hang", seconds=30)
    started = time.monotonic()
    with pytest.raises(exceptions.TransportError):
        credentials(stack, key.info).refresh(functools.partial(Request(), timeout=0.5))
    assert time.monotonic() - started < 5
    assert [r.fault for r in stack.token_server.requests] == ["drop", "hang"]


def test_one_backend_error_is_retried_by_google_auth(stack: StandinStack) -> None:
    key = stack.register_service_account("a@p-one.iam.gserviceaccount.com", project_id="p-one")
    stack.token_server.inject("backend_error", times=1)

    creds = credentials(stack, key.info)
    creds.refresh(Request())  # google-auth retries 5xx on the token endpoint after ~1 s
    assert creds.valid
    assert [r.status for r in stack.token_server.requests] == [None, 200]
