"""Tokens for the personas, and a test client that speaks to the API with one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from api import services
from workspaces.models import Membership

API = "/api/v1/workspaces"


def make_token(user, workspace, scope: str = "admin", **fields: Any) -> str:
    """A new token of `user` in `workspace`; returns the token text."""
    role = Membership.objects.get(user=user, workspace=workspace).role
    created = services.api_token_create(
        workspace=workspace,
        user=user,
        role=role,
        name=fields.pop("name", f"{user.username} {scope}"),
        scope=scope,
        expires_at=fields.pop("expires_at", None),
    )
    return created.text


class ApiClient(Client):
    """Django's test client with `Authorization: Bearer <token>` on every request."""

    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token

    def request(self, **request: Any):
        if self.token is not None:
            request.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return super().request(**request)


@pytest.fixture
def alice_api(alice, workspace_a) -> ApiClient:
    return ApiClient(make_token(alice, workspace_a, "admin"))


@pytest.fixture
def bob_api(bob, workspace_a) -> ApiClient:
    return ApiClient(make_token(bob, workspace_a, "read"))


@pytest.fixture
def charlie_api(charlie, workspace_b) -> ApiClient:
    return ApiClient(make_token(charlie, workspace_b, "admin"))


def error_of(response) -> dict:
    """The error of a JSON error answer, after checking its shape."""
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
    return body["error"]
