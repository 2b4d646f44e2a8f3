"""The API tokens page in a browser: a token is shown once, works, and is revoked; the API
reference page loads from the app under its CSP."""

import re

import pytest
import requests
from playwright.sync_api import expect

from api.models import ApiToken
from tests.fixtures.browser import sign_in_browser

pytestmark = pytest.mark.slow

TOKENS = "/w/acme/settings/api-tokens/"


def test_create_a_token_see_it_once_use_it_and_revoke_it(
    page, live_server, alice, bob, workspace_a, screenshot
):
    sign_in_browser(page, live_server, alice)
    page.goto(f"/w/{workspace_a.slug}/settings/partners/bigquery/")
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    expect(page.locator("a.active")).to_have_text("API tokens")

    page.get_by_label("Token name").fill("dbt Cloud nightly job")
    page.get_by_role("radio", name=re.compile("^Run")).check()
    page.get_by_role("button", name="Create token").click()

    created = page.locator("#token-created")
    expect(created).to_contain_text("Copy it now: it is shown only this once.")
    text = page.get_by_label("Your new token").input_value()
    assert re.fullmatch(r"bqi_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", text)
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.locator("#tokens")).to_contain_text("dbt Cloud nightly job")
    expect(page.locator("#tokens")).to_contain_text("Never used")
    screenshot("api-token-created")

    answer = requests.get(
        f"{live_server.url}/api/v1/workspaces/acme/",
        headers={"Authorization": f"Bearer {text}"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["token"]["scope"] == "run"

    # A reload sends the form again: nothing new is created, and the token is not shown.
    page.reload()
    expect(page.locator(".message-info")).to_contain_text(
        "This form was sent already: token “dbt Cloud nightly job” was created then"
    )
    expect(page.locator("#token-created")).to_have_count(0)
    assert text not in page.content()
    assert ApiToken.objects.count() == 1
    row = page.locator("#tokens tbody tr", has_text="dbt Cloud nightly job")
    expect(row).not_to_contain_text("Never used")
    expect(row).to_contain_text("Active")
    screenshot("api-tokens-list")

    row.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading")).to_contain_text("Revoke token “dbt Cloud nightly job”?")
    screenshot("api-token-revoke")
    page.get_by_role("button", name="Revoke token").click()
    expect(page.locator(".message-success")).to_contain_text("revoked")
    expect(page.locator("#tokens tbody tr", has_text="dbt Cloud nightly job")).to_contain_text(
        "Revoked"
    )
    answer = requests.get(
        f"{live_server.url}/api/v1/workspaces/acme/",
        headers={"Authorization": f"Bearer {text}"},
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_revoked"
    assert page.console_errors == []


def test_a_member_sees_only_the_read_scope(page, live_server, bob, workspace_a, screenshot):
    sign_in_browser(page, live_server, bob)
    page.goto(TOKENS)

    expect(page.locator("input[name=scope]")).to_have_count(1)
    expect(page.get_by_role("radio", name=re.compile("^Read"))).to_be_checked()
    expect(page.locator(".token-scopes")).to_contain_text("their tokens only read")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    page.get_by_label("Token name").fill("Notebook")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-created")).to_contain_text("Token “Notebook” created")
    screenshot("api-token-member")
    assert ApiToken.objects.get().scope == "read"


def test_the_api_reference_loads_from_the_app(page, live_server, alice, screenshot):
    sign_in_browser(page, live_server, alice)
    outside = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None,
    )

    page.goto("/api/schema/ui/")

    expect(page.locator(".swagger-ui .title")).to_contain_text("BigQuery Imports API")
    expect(page.get_by_text("/api/v1/workspaces/{ws}/imports/{id}/runs/").first).to_be_visible()
    screenshot("api-reference")
    assert outside == [] or all(url.startswith("data:") for url in outside), outside
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
