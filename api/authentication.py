from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api import services
from api.models import ApiToken


class TokenRequest(Request):
    """A request ApiTokenAuthentication let in: `auth` is the token, `user` its owner."""

    user: User
    auth: ApiToken


def token_request(request: Request) -> TokenRequest:
    """`request` as TokenRequest, for the code that runs after the token check (DRF's stubs
    type `auth` as its own Token model)."""
    return cast(TokenRequest, request)


class TokenRejected(exceptions.AuthenticationFailed):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(detail=message, code=code)


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`. Personal tokens only: no session, so no CSRF."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise TokenRejected(
                "token_malformed", "Send the token as `Authorization: Bearer <token>`."
            )
        try:
            text = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise TokenRejected("token_invalid", "The API token is not valid.") from None
        try:
            token = services.api_token_authenticate(text=text)
        except services.TokenRejected as exc:
            raise TokenRejected(exc.code, str(exc)) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
