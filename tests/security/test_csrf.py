"""Cross-site request forgery: every URL that takes a POST refuses one without the CSRF
token, even from a signed-in owner (and from a superuser in the admin), and changes nothing;
no GET changes anything, and actions answer a GET with 405.

URLs come from the URLconf (the discovery of tests/test_access_sweep.py), so a new view
cannot escape; the methods a view takes are read from its decorators."""

import inspect

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core import serializers
from django.test import Client
from django.urls import reverse
from django.utils.crypto import get_random_string

from api.services import api_token_create
from connections.models import Connection
from imports.services import run_create
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import
from tests.test_access_sweep import app_routes, fill
from workspaces import members

# The actions of the generic action route; Stop has its own route (it asks first).
ACTIONS = ("run-now", "pause", "resume")
PASSWORD = "correct horse battery"
APP_PAGE = "/w/acme/settings/partners/bigquery/"


def allowed_methods(callback) -> frozenset[str] | None:
    """The methods a view takes, from `require_http_methods` (and friends) or a class-based
    view's handlers; None when nothing restricts them."""
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        return frozenset(m.upper() for m in view_class.http_method_names if hasattr(view_class, m))
    function = callback
    while function is not None:
        methods = inspect.getclosurevars(function).nonlocals.get("request_method_list")
        if methods is not None:
            return frozenset(methods)
        function = getattr(function, "__wrapped__", None)
    return None


def takes_post(callback) -> bool:
    methods = allowed_methods(callback)
    return methods is None or "POST" in methods


def database() -> dict[str, str]:
    """Every row of every table except sessions, serialized: the state a request may not
    change."""
    return {
        model._meta.label: serializers.serialize("json", model._default_manager.order_by("pk"))
        for model in apps.get_models()
        if model is not Session
    }


@pytest.fixture
def objects(alice, workspace_a, google):
    """A connection with an import and a queued run (the sweep's set-up); `google` makes the
    pages that browse BigQuery answer from the stand-ins instead of waiting on a refusal."""
    connection = make_connection(workspace_a, alice, name="Secret warehouse")
    import_obj = make_import(connection, alice, table="users", name="Secret import")
    run = run_create(import_obj=import_obj, scheduled_for=import_obj.created_at, trigger="manual")
    import_obj.save()
    token = api_token_create(
        workspace=workspace_a,
        user=alice,
        role="admin",
        name="Pipeline",
        scope="run",
        expires_at=None,
    ).token
    invited = members.invitation_create(
        workspace=workspace_a, actor=alice, email="carol@acme.test", role="member"
    )
    return {
        "connection": connection,
        "import": import_obj,
        "run": run,
        "token": token,
        "invitation_secret": invited.secret,
    }


def app_urls(objects) -> list[tuple[str, object]]:
    """(path, view) for every route of the app, each import action spelled out."""
    urls = []
    for route, callback in app_routes():
        path = fill(route, objects)
        if "<import_action:action>" in route:
            urls += [(path.replace("/pause/", f"/{action}/"), callback) for action in ACTIONS]
        else:
            urls.append((path, callback))
    return urls


def admin_urls() -> list[tuple[str, dict]]:
    """(path, the data a real form would post) for every admin view that changes things."""
    urls = [
        (reverse("admin:login"), {"username": "ops", "password": PASSWORD}),
        (reverse("admin:logout"), {}),
        (
            reverse("admin:password_change"),
            {
                "old_password": PASSWORD,
                "new_password1": "n3w-Passw0rd!",
                "new_password2": "n3w-Passw0rd!",
            },
        ),
    ]
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"no {model.__name__} to post about"
        urls += [
            (
                reverse(f"{name}_changelist"),
                {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
            ),
            (reverse(f"{name}_add"), {"name": "added"}),
            (reverse(f"{name}_change", args=[obj.pk]), {"name": "changed"}),
            (reverse(f"{name}_delete", args=[obj.pk]), {"post": "yes"}),
        ]
    return urls


def csrf_client(user, page: str) -> Client:
    """A browser-like client: enforces CSRF checks and holds the CSRF cookie of a page with
    forms that it loaded, so a refusal below is for the missing token, not the cookie."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(page).status_code == 200
    assert client.cookies["csrftoken"].value
    return client


def cookie_token(client: Client) -> str:
    return client.cookies["csrftoken"].value


def assert_csrf_refused(response, where: str) -> None:
    assert response.status_code == 403, (where, response.status_code)
    assert b"The form has expired (403)" in response.content, where


@pytest.fixture
def operator(django_user_model, objects):
    Group.objects.create(name="Operators")
    return django_user_model.objects.create_superuser("ops", "ops@example.test", PASSWORD)


def test_every_post_url_of_the_app_refuses_a_request_without_the_csrf_token(alice, objects):
    client = csrf_client(alice, APP_PAGE)
    wrong = {"HTTP_X_CSRFTOKEN": get_random_string(64)}
    before = database()

    posted = []
    for path, callback in app_urls(objects):
        if not takes_post(callback):
            continue
        data = {"name": "changed", "key_text": "{}", "query": "SELECT 1", "post": "yes"}
        assert_csrf_refused(client.post(path, data), path)
        assert_csrf_refused(client.post(path, data, headers={"HX-Request": "true"}), path)
        assert_csrf_refused(client.post(path, data, **wrong), path)
        posted.append(path)

    assert database() == before
    # The owner is still signed in: the sign-out without a token did nothing either.
    assert client.get(APP_PAGE).status_code == 200
    assert len(posted) >= 20
    assert "/signout/" in posted and "/signin/" in posted and "/" in posted
    for action in (*ACTIONS, "stop", "reimport"):
        assert any(path.endswith(f"/{action}/") for path in posted), action

    # The same request with the token goes through: the refusals above were the token's.
    connection = objects["connection"]
    token = cookie_token(client)
    deleted = client.post(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/delete/", HTTP_X_CSRFTOKEN=token
    )
    assert deleted.status_code == 302
    assert not Connection.objects.filter(pk=connection.pk).exists()


def test_every_admin_view_refuses_a_post_without_the_csrf_token(operator):
    client = csrf_client(operator, "/admin/")
    before = database()

    urls = admin_urls()
    for path, data in urls:
        assert_csrf_refused(client.post(path, data), path)
        assert_csrf_refused(client.post(path, data, HTTP_X_CSRFTOKEN=get_random_string(64)), path)

    assert database() == before
    operator.refresh_from_db()
    assert operator.check_password(PASSWORD)
    assert client.get("/admin/").status_code == 200  # still signed in
    assert len(urls) == 3 + 4 * 5  # login, logout, password; 4 views of 5 models

    group = Group.objects.get()
    token = cookie_token(client)
    deleted = client.post(
        reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"}, HTTP_X_CSRFTOKEN=token
    )
    assert deleted.status_code == 302
    assert not Group.objects.exists()


def test_no_get_changes_anything_and_actions_refuse_a_get(alice, operator, objects):
    client = csrf_client(alice, APP_PAGE)
    staff = csrf_client(operator, "/admin/")
    before = database()

    refused = []
    for path, callback in app_urls(objects):
        methods = allowed_methods(callback)
        response = client.get(path)
        if methods is not None and "GET" not in methods:
            assert response.status_code == 405, path
            refused.append(path)
        else:
            assert response.status_code in (200, 302), (path, response.status_code)
    for path, _ in admin_urls():
        response = staff.get(path)
        if path == reverse("admin:logout"):
            assert response.status_code == 405
        elif path == reverse("admin:connections_connection_add"):
            assert response.status_code == 403  # keys come in through the app only
        else:
            assert response.status_code in (200, 302), (path, response.status_code)

    assert database() == before
    assert client.get(APP_PAGE).status_code == 200
    assert staff.get("/admin/").status_code == 200
    # sign-out, Test Connection (new, edit, saved), check-query and the three import actions
    # (Stop answers a GET with its confirmation, which changes nothing)
    assert "/signout/" in refused and len(refused) >= 8
