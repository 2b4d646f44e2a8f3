"""Create Import is for admins of the connection's workspace only."""

import uuid

import pytest

from imports import views_create
from imports.models import Import
from tests.connections.conftest import make_connection
from tests.imports.test_create_flow import flow_connection, make_flow_tables, new_url

DRAFT = uuid.uuid4()
GET_PATHS = ["", "tables/", "preview/?table=users", "schedule-preview/?schedule_kind=now"]
DRAFT_STEPS = ["source", "target", "sync", "schedule", "review"]


@pytest.fixture
def connection_a(workspace_a, alice):
    return make_connection(workspace_a, alice)


@pytest.fixture
def connection_b(workspace_b, charlie):
    return make_connection(workspace_b, charlie, name="Globex warehouse")


def all_urls(connection, ws="acme"):
    base = new_url(connection, ws)
    return [("get", base + path) for path in GET_PATHS] + [
        ("post", base),
        ("post", base + "check-query/"),
        *[(method, f"{base}{DRAFT}/{step}/") for step in DRAFT_STEPS for method in ("get", "post")],
    ]


def test_members_may_not_create_imports(bob_client, connection_a):
    for method, url in all_urls(connection_a):
        response = getattr(bob_client, method)(url, {"source_kind": "query", "query": "SELECT 1"})
        assert response.status_code == 403, (method, url)
    assert not Import.objects.exists()


def test_another_workspaces_connection_is_not_found(
    charlie_client, alice_client, connection_a, connection_b
):
    # Charlie is no member of acme: its pages are 404 ...
    for method, url in all_urls(connection_a):
        assert getattr(charlie_client, method)(url).status_code == 404, (method, url)
    # ... and acme's connection under his own workspace is 404 too.
    for method, url in all_urls(connection_a, ws="globex"):
        assert getattr(charlie_client, method)(url).status_code == 404, (method, url)
    # Alice, an admin of acme only, cannot reach globex's connection either way.
    for method, url in all_urls(connection_b, ws="acme") + all_urls(connection_b, ws="globex"):
        assert getattr(alice_client, method)(url).status_code == 404, (method, url)
    assert not Import.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, connection_a):
    response = client.get(new_url(connection_a))
    assert response.status_code == 302 and response["Location"].startswith("/signin/")
    assert client.post(new_url(connection_a), {}).status_code == 403


def test_an_unknown_draft_sends_the_admin_back_to_the_start(
    alice_client, alice, workspace_a, google, standin_stack
):
    make_flow_tables(standin_stack)
    connection_a = flow_connection(google, workspace_a, alice)
    for step in DRAFT_STEPS:
        for method in ("get", "post"):
            response = getattr(alice_client, method)(f"{new_url(connection_a)}{DRAFT}/{step}/")
            assert response.status_code == 302, (method, step)
            assert response["Location"] == new_url(connection_a)
    page = alice_client.get(new_url(connection_a))
    assert "That import draft is no longer open" in page.content.decode()
    assert not Import.objects.exists()


def test_every_create_view_is_admin_only():
    views = [
        views_create.create_source,
        views_create.create_tables,
        views_create.create_preview,
        views_create.create_check_query,
        views_create.create_target,
        views_create.create_sync,
        views_create.create_schedule,
        views_create.create_schedule_preview,
        views_create.create_review,
    ]
    assert all(view.workspace_view and view.admin_only for view in views)
