"""The OpenAPI document at /api/schema/ and its UI, served by the app (no CDN)."""

import re

import yaml
from drf_spectacular.validation import validate_schema

from tests.api.conftest import ApiClient, make_token

SCHEMA = "/api/schema/"
UI = "/api/schema/ui/"
ASSET = re.compile(r'<(?:link|script)\b[^>]*?\b(?:src|href)="([^"]+)"')


def test_the_schema_is_valid_openapi_3_and_lists_every_endpoint(alice, workspace_a):
    api = ApiClient(make_token(alice, workspace_a, "read"))

    response = api.get(SCHEMA, {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # raises on anything that is not valid OpenAPI 3
    assert schema["openapi"].startswith("3.")
    prefix = "/api/v1/workspaces/{ws}/"
    assert {path.removeprefix(prefix) for path in schema["paths"]} == {
        "",
        "connections/",
        "connections/{id}/",
        "connections/{id}/test/",
        "imports/",
        "imports/{id}/",
        "imports/{id}/runs/",
        "imports/{id}/pause/",
        "imports/{id}/resume/",
        "imports/{id}/stop/",
        "imports/runs/{run_pk}/",
        "imports/runs/{run_pk}/rejected.csv",
        "audit/",
    }
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    run_now = schema["paths"][f"{prefix}imports/{{id}}/runs/"]["post"]
    assert {"202", "409", "401", "403", "404", "429"} <= set(run_now["responses"])
    error = schema["components"]["schemas"]["ErrorDetail"]["properties"]
    assert {"code", "message"} <= set(error)


def test_the_schema_is_yaml_by_default_for_a_signed_in_user(alice_client):
    response = alice_client.get(SCHEMA)

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["info"]["title"] == "BigQuery Imports API"


def test_the_schema_needs_a_token_or_a_session(client):
    assert client.get(SCHEMA).status_code == 401


def test_the_ui_is_for_signed_in_users(client):
    response = client.get(UI)

    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_the_ui_loads_every_asset_from_the_app(alice_client):
    response = alice_client.get(UI)

    html = response.content.decode()
    assert response.status_code == 200
    assert "swagger-ui" in html
    assert '<a href="/">&larr; BigQuery Imports</a>' in html  # the way back to the app
    assert "<style" not in html and "<script>" not in html  # the CSP allows neither
    assets = ASSET.findall(html)
    assert len(assets) >= 5  # icon, two stylesheets, two bundles, the init script
    assert not re.search(r"https?://|//[a-z]", html), "an external URL in the page"
    for asset in assets:
        assert asset.startswith("/"), asset
        served = alice_client.get(asset.replace("&amp;", "&"))
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert body, asset
    script = next(a for a in assets if "script=" in a)
    init = alice_client.get(script.replace("&amp;", "&")).content.decode()
    assert "/api/schema/" in init and "SwaggerUIBundle" in init
