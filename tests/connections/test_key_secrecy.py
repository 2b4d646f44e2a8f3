"""After a key is saved, no page, fragment, admin screen or log line shows any of it."""

import json
import logging

from django.urls import URLPattern, URLResolver, get_resolver

from connections.models import Connection
from imports.services import run_create
from tests.api.conftest import make_token
from tests.factories import key_info
from tests.imports.conftest import make_import
from tests.security.needles import key_leaks


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


IMPORT_ROUTES = (
    "w/<slug:ws>/settings/partners/bigquery/imports/",
    "api/v1/workspaces/<slug:ws>/imports/",
)


def concrete(route: str, connection: Connection, objects: dict[str, str]) -> str | None:
    """Fill the app's URL parameters; None for routes we cannot fill (the admin's own)."""
    pk = objects["import"] if route.startswith(IMPORT_ROUTES) else str(connection.pk)
    path = route.replace("<slug:ws>", connection.workspace.slug).replace("<uuid:pk>", pk)
    path = path.replace("<uuid:run_pk>", objects["run"])
    path = path.replace("<uuid:connection_pk>", str(connection.pk))
    return None if "<" in path or "^" in path or "(?P" in path else "/" + path


def assert_secret_free(body: str, info: dict, where: str) -> None:
    assert "PRIVATE KEY" not in body, where
    assert key_leaks(body, info) == [], where


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_no_page_of_the_app_shows_the_saved_key(alice_client, caplog, alice, google):
    info = key_info()
    caplog.set_level(logging.DEBUG)
    add = "/w/acme/settings/partners/bigquery/add/"
    form = {"name": "Warehouse", "project_id": "analytics-prod", "dataset_id": "events_v2"}
    # the Test Connection fragment and a failed save, with the key typed
    responses = [
        alice_client.post(
            add + "test/", {**form, "key_text": json.dumps(info)}, headers={"HX-Request": "true"}
        ),
        alice_client.post(add, {**form, "project_id": "BAD", "key_text": json.dumps(info)}),
        alice_client.post(add, {**form, "key_text": json.dumps(info)}, follow=True),
    ]
    connection = Connection.objects.get()
    responses.append(alice_client.post(f"{add[:-4]}{connection.pk}/test/", follow=True))
    import_obj = make_import(connection, alice, table="users")
    run = run_create(import_obj=import_obj, scheduled_for=import_obj.created_at, trigger="manual")
    objects = {"import": str(import_obj.pk), "run": str(run.pk)}
    # The API takes tokens only; the sweep reads it as alice's admin token does.
    api_auth = {"Authorization": f"Bearer {make_token(alice, connection.workspace)}"}

    visited = []
    for route, _ in all_patterns():
        path = concrete(route, connection, objects)
        if path is None:
            continue
        headers = api_auth if path.startswith("/api/") else {}
        response = alice_client.get(path, follow=True, headers=headers)
        visited.append(path)
        assert response.status_code in (200, 405), path
        assert_secret_free(body_of(response), info, path)
    for response in responses:
        assert_secret_free(body_of(response), info, response.request["PATH_INFO"])
    assert_secret_free("\n".join(r.getMessage() for r in caplog.records), info, "logs")
    assert len(visited) >= 15


def test_the_admin_shows_no_key(client, connection_a, saved_key, django_user_model):
    admin_user = django_user_model.objects.create_superuser(
        "ops", "ops@example.test", "pw-12345678"
    )
    client.force_login(admin_user)

    for path in (
        "/admin/connections/connection/",
        f"/admin/connections/connection/{connection_a.pk}/change/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert_secret_free(body, saved_key, path)
        assert connection_a.encrypted_key not in body
