"""A stand-in for Google's OAuth 2.0 token endpoint (``https://oauth2.googleapis.com/token``).

It implements the JWT-bearer grant exactly as google-auth's
``service_account.Credentials.refresh()`` uses it, with a registry of service accounts and
their keys, so tests can delete keys, disable or delete accounts and skew clocks, and get
the answers Google gives in those cases.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from standins._http import BaseHandler, LoopbackService, RecordedRequest

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
# google-auth hard-codes this audience (service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT),
# whatever token_uri the credentials POST to.
JWT_AUDIENCE = GOOGLE_TOKEN_URI
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOCK_SKEW_SECONDS = 300
MAX_LIFETIME_SECONDS = 3600
TOKEN_LIFETIME_SECONDS = 3599

INVALID_SIGNATURE = "Invalid JWT Signature."
ACCOUNT_NOT_FOUND = "Invalid grant: account not found"
# Google has been reported answering both "Invalid grant: account not found" and
# "Robot is disabled." for a disabled account; we use the latter so that callers exercise
# both texts (deleted accounts get the former).
ACCOUNT_DISABLED = "Robot is disabled."
BAD_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
BAD_AUDIENCE = (
    "Invalid JWT: Failed audience check. The expected audience is "
    "https://oauth2.googleapis.com/token."
)


# -- RSA key cache -----------------------------------------------------------------------------
# Generating an RSA-2048 key takes tens of milliseconds; a per-process list of keys lets every
# test reuse the same few keys. Within one TokenServer (between resets) each key is used once,
# so two registered keys never share key material.
_key_lock = threading.Lock()
_keys: list[rsa.RSAPrivateKey] = []


def _key(index: int) -> rsa.RSAPrivateKey:
    with _key_lock:
        while len(_keys) <= index:
            _keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _keys[index]


def prewarm_keys(count: int = 4) -> threading.Thread:
    """Generate ``count`` keys in a background thread so later registrations are instant."""
    thread = threading.Thread(target=_key, args=(count - 1,), name="standins-keygen", daemon=True)
    thread.start()
    return thread


# -- registry ----------------------------------------------------------------------------------
@dataclass
class FakeKey:
    """A service-account key as Google's console would hand it out."""

    info: dict[str, str]
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def email(self) -> str:
        return self.info["client_email"]

    @property
    def key_id(self) -> str:
        return self.info["private_key_id"]

    @property
    def project_id(self) -> str:
        return self.info["project_id"]

    def to_json(self) -> str:
        return json.dumps(self.info, indent=2)


@dataclass
class ServiceAccount:
    email: str
    project_id: str
    client_id: str
    disabled: bool = False
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenInfo:
    """What an access token stands for."""

    token: str
    email: str
    project_id: str
    scopes: frozenset[str]
    expires_at: float


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class _TokenHandler(BaseHandler):
    def handle_request(self) -> None:
        server: TokenServer = self.service
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        claimed = server.claimed_email(form.get("assertion", ""))
        fault = server.faults.take("token", path)
        if fault is not None:
            server.record(RecordedRequest(self.command, path, "token", claimed, None, fault.kind))
            if fault.kind == "backend_error":
                self.send_json(
                    503,
                    {
                        "error": "internal_failure",
                        "error_description": "The service is currently unavailable.",
                    },
                )
            elif fault.kind == "rate_limit":
                self.send_json(
                    429,
                    {"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded."},
                )
            elif fault.kind == "hang":
                server.faults.hang(fault.seconds)
                self.drop()
            else:
                self.drop()
            return
        try:
            if self.command != "POST":
                raise OAuthError("invalid_request", "Method not allowed.", status=405)
            info = server.grant(form)
        except OAuthError as error:
            server.record(RecordedRequest(self.command, path, "token", claimed, error.status))
            self.send_json(error.status, error.body(), headers={"Cache-Control": "no-store"})
            return
        server.record(RecordedRequest(self.command, path, "token", info.email, 200))
        self.send_json(
            200,
            {
                "access_token": info.token,
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "token_type": "Bearer",
            },
            headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
        )


class TokenServer(LoopbackService):
    """OAuth 2.0 JWT-bearer token endpoint, with a service-account registry.

    ``token_uri`` is the URL to give to ``Credentials.with_token_uri()``.
    """

    handler_class = _TokenHandler

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0
    ) -> None:
        super().__init__(host=host, port=port, hang_seconds=hang_seconds)
        self._lock = threading.RLock()
        self._accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, TokenInfo] = {}
        self._next_key = 0
        self.clock = time.time  # replaceable in tests that need another "now"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # -- registry API --------------------------------------------------------------------------
    def register_service_account(
        self,
        email: str,
        *,
        project_id: str,
        token_uri: str = GOOGLE_TOKEN_URI,
    ) -> FakeKey:
        """Create (or extend) a service account and return a new key for it."""
        with self._lock:
            account = self._accounts.get(email)
            if account is None:
                account = ServiceAccount(
                    email=email,
                    project_id=project_id,
                    client_id=str(secrets.randbelow(10**21 - 10**20) + 10**20),
                )
                self._accounts[email] = account
            private_key = _key(self._next_key)
            self._next_key += 1
            key_id = secrets.token_hex(20)
            account.keys[key_id] = private_key.public_key()
        return FakeKey(
            info=_key_info(account, key_id, private_key, token_uri), private_key=private_key
        )

    def add_key(self, email: str, *, token_uri: str = GOOGLE_TOKEN_URI) -> FakeKey:
        """Create another key for an existing account (key rotation)."""
        account = self._account(email)
        return self.register_service_account(
            email, project_id=account.project_id, token_uri=token_uri
        )

    def import_key(self, info: dict[str, Any]) -> FakeKey:
        """Register an existing service-account JSON key (e.g. a demo key kept on disk)."""
        private_key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("only RSA keys are supported")
        email, key_id = info["client_email"], info["private_key_id"]
        with self._lock:
            account = self._accounts.setdefault(
                email,
                ServiceAccount(
                    email=email,
                    project_id=info["project_id"],
                    client_id=str(info.get("client_id") or secrets.randbelow(10**21)),
                ),
            )
            account.keys[key_id] = private_key.public_key()
        return FakeKey(info=dict(info), private_key=private_key)

    def delete_key(self, key_id: str) -> None:
        with self._lock:
            for account in self._accounts.values():
                if account.keys.pop(key_id, None) is not None:
                    return
        raise KeyError(f"no such key: {key_id}")

    def disable_account(self, email: str, disabled: bool = True) -> None:
        """Disable (or re-enable) an account. Its tokens stop working, as with Google."""
        with self._lock:
            self._account(email).disabled = disabled

    def delete_account(self, email: str) -> None:
        with self._lock:
            self._accounts.pop(email)
            self._revoke(lambda info: info.email == email)

    def revoke_tokens(self, email: str | None = None) -> None:
        """Forget issued access tokens (all, or those of one account)."""
        with self._lock:
            self._revoke(lambda info: email is None or info.email == email)

    def account(self, email: str) -> ServiceAccount | None:
        with self._lock:
            return self._accounts.get(email)

    def resolve(self, token: str) -> TokenInfo | None:
        """The token's info if it is valid now (issued here, unexpired, account usable)."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None or info.expires_at <= self.clock():
                return None
            account = self._accounts.get(info.email)
            if account is None or account.disabled:
                return None
            return info

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._accounts.clear()
            self._tokens.clear()
            self._next_key = 0

    # -- grant -----------------------------------------------------------------------------------
    def grant(self, form: dict[str, str]) -> TokenInfo:
        """Validate a token request form; return the issued token or raise OAuthError."""
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER_GRANT:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64decode(header_b64))
            claims = json.loads(_b64decode(payload_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, binascii.Error) as error:
            raise OAuthError("invalid_grant", INVALID_SIGNATURE) from error
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError("invalid_grant", INVALID_SIGNATURE)

        with self._lock:
            account = self._accounts.get(str(claims.get("iss")))
            if account is None:
                raise OAuthError("invalid_grant", ACCOUNT_NOT_FOUND)
            if account.disabled:
                raise OAuthError("invalid_grant", ACCOUNT_DISABLED)
            kid = header.get("kid")
            candidates = [account.keys[kid]] if kid in account.keys else []
            if kid is None:
                candidates = list(account.keys.values())
        if header.get("alg") != "RS256" or not any(
            _verifies(key, f"{header_b64}.{payload_b64}".encode(), signature) for key in candidates
        ):
            raise OAuthError("invalid_grant", INVALID_SIGNATURE)

        if claims.get("aud") != JWT_AUDIENCE:
            raise OAuthError("invalid_grant", BAD_AUDIENCE)
        now = self.clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or iat > now + CLOCK_SKEW_SECONDS
            or exp < now - CLOCK_SKEW_SECONDS
            or exp <= iat
            or exp - iat > MAX_LIFETIME_SECONDS
        ):
            raise OAuthError("invalid_grant", BAD_TIMEFRAME)
        if "sub" in claims and claims["sub"] != account.email:
            raise OAuthError(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")

        info = TokenInfo(
            token="ya29.standin-" + secrets.token_urlsafe(32),
            email=account.email,
            project_id=account.project_id,
            scopes=scopes,
            expires_at=now + TOKEN_LIFETIME_SECONDS,
        )
        with self._lock:
            self._tokens[info.token] = info
        return info

    def claimed_email(self, assertion: str) -> str | None:
        """The unverified ``iss`` of an assertion, for the request log."""
        try:
            claims = json.loads(_b64decode(assertion.split(".")[1]))
        except (ValueError, IndexError, binascii.Error):
            return None
        return claims.get("iss") if isinstance(claims, dict) else None

    # -- helpers ---------------------------------------------------------------------------------
    def _account(self, email: str) -> ServiceAccount:
        account = self._accounts.get(email)
        if account is None:
            raise KeyError(f"no such service account: {email}")
        return account

    def _revoke(self, predicate: Any) -> None:
        for token in [t for t, info in self._tokens.items() if predicate(info)]:
            del self._tokens[token]


def _verifies(public_key: rsa.RSAPublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _key_info(
    account: ServiceAccount, key_id: str, private_key: rsa.RSAPrivateKey, token_uri: str
) -> dict[str, str]:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": account.project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": account.email,
        "client_id": account.client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + urllib.parse.quote(account.email),
        "universe_domain": "googleapis.com",
    }
