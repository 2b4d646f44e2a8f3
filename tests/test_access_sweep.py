"""Every URL of the app, every method, every persona: resolved from the URLconf so that a
new view cannot escape. Anonymous users are sent to sign in (or refused), members may
read but change nothing, another workspace's admin gets 404 everywhere, the owner may act."""

import itertools
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connections.models import Connection
from imports.models import Import, ImportRun
from imports.services import run_create
from notifications.models import Recipient, Webhook
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import

# Routes outside a workspace, each with why it needs no workspace check.
OUTSIDE_WORKSPACES = {
    "": "redirects to the user's own workspace",
    "healthz": "reports only reachability",
    "signin/": "sign-in",
    "signout/": "sign-out",
}


# Names of A's objects that no one outside A may see.
SECRETS = ("Secret warehouse", "Secret import", "secret-ops@acme.test", "Secret hook")


def app_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue  # Django's admin: staff only, its own permission system
            yield from app_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


@pytest.fixture
def objects(alice, workspace_a):
    connection = make_connection(workspace_a, alice, name="Secret warehouse")
    import_obj = make_import(connection, alice, table="users", name="Secret import")
    run = run_create(import_obj=import_obj, scheduled_for=import_obj.created_at, trigger="manual")
    import_obj.save()
    recipient = Recipient.objects.create(workspace=workspace_a, email="secret-ops@acme.test")
    webhook = Webhook.objects.create(
        workspace=workspace_a, name="Secret hook", url_display="https://hooks.acme.test/…",
        url_digest="0" * 64, encrypted_url="-", encrypted_secret="-",
    )  # fmt: skip
    return {
        "connection": connection, "import": import_obj, "run": run,
        "recipient": recipient, "webhook": webhook,
    }  # fmt: skip


def _pk_or_new(objects, name: str) -> str:
    """The object's id, or (for callers that made no such object) one that names nothing."""
    return str(objects[name].pk) if name in objects else str(uuid.uuid4())


def fill(route: str, objects) -> str:
    pk = (
        objects["import"].pk
        if route.startswith("w/<slug:ws>/settings/partners/bigquery/imports/")
        else objects["connection"].pk
    )
    path = (
        route.replace("<slug:ws>", "acme")
        .replace("<uuid:pk>", str(pk))
        .replace("<uuid:run_pk>", str(objects["run"].pk))
        .replace("<uuid:connection_pk>", str(objects["connection"].pk))
        .replace("<uuid:recipient_pk>", _pk_or_new(objects, "recipient"))
        .replace("<uuid:webhook_pk>", _pk_or_new(objects, "webhook"))
        .replace("<uuid:draft>", str(uuid.uuid4()))
        .replace("<import_action:action>", "pause")
    )
    assert "<" not in path, f"the sweep cannot fill {route}: teach fill() its parameter"
    return "/" + path


def workspace_routes(objects):
    routes = []
    for route, callback in app_routes():
        if route in OUTSIDE_WORKSPACES:
            continue
        assert route.startswith("w/<slug:ws>/"), f"{route} is outside every workspace"
        assert getattr(callback, "workspace_view", False), f"{route} does not use workspace_view"
        routes.append(fill(route, objects))
    return routes


def state():
    return (
        list(Connection.objects.values_list("pk", "name", "status")),
        list(Import.objects.values_list("pk", "name", "status", "next_run_at")),
        list(ImportRun.objects.values_list("pk", "status", "cancel_requested")),
    )


def test_every_route_is_covered(objects):
    assert len(workspace_routes(objects)) >= 20


def test_anonymous_users_are_sent_to_sign_in_or_refused(client, objects):
    for path in workspace_routes(objects):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/signin/"), path
        assert client.post(path).status_code == 403, path
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 403, path


def test_members_may_read_but_every_change_is_403(bob_client, objects):
    before = state()
    for path in workspace_routes(objects):
        response = bob_client.get(path)
        assert response.status_code in (200, 302, 403, 404, 405), (path, response.status_code)
        assert bob_client.post(path, {"name": "changed"}).status_code == 403, path
    assert state() == before


def test_another_workspaces_admin_gets_404_everywhere_and_learns_nothing(charlie_client, objects):
    before = state()
    for path in workspace_routes(objects):
        for method in ("get", "post"):
            response = getattr(charlie_client, method)(path)
            assert response.status_code == 404, (method, path, response.status_code)
            body = response.content.decode()
            assert not any(secret in body for secret in SECRETS), path
    assert state() == before


def test_the_owner_reaches_every_page(alice_client, objects):
    for path in workspace_routes(objects):
        response = alice_client.get(path)
        assert response.status_code in (200, 302, 405), (path, response.status_code)


# -- A's object ids under B's own slug ------------------------------------------------------
# The sweeps above use A's slug, so the workspace check answers 404 before any view runs. Here
# charlie asks for A's objects under his own workspace's slug: the decorator lets him in, and
# only the view's scoped lookup stands between him and A's rows.

# Which of A's objects each URL argument names, per URL namespace ("pk" means different
# things in different apps). Arguments that name no row are listed apart.
OBJECT_ARGUMENTS = {
    ("connections", "pk"): "connection",
    ("imports", "pk"): "import",
    ("imports", "run_pk"): "run",
    ("imports", "connection_pk"): "connection",
    ("notifications", "recipient_pk"): "recipient",
    ("notifications", "webhook_pk"): "webhook",
}
OTHER_ARGUMENTS = {
    "ws": "the workspace: B's own slug",
    "draft": "a Create Import draft, kept in the user's own session",
    "action": "every action the converter accepts",
}


def named_routes(resolver=None, namespace="", converters=None):
    """(view name, its URL arguments with their converters) for every app URL."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        found = {**(converters or {}), **entry.pattern.converters}
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_routes(entry, inner, found)
        else:
            assert entry.name, f"{entry.pattern} has no name: the sweep reverses URLs by name"
            yield namespace + entry.name, found


def argument_values(namespace: str, name: str, converter, objects, ws: str) -> list[str]:
    if (namespace, name) in OBJECT_ARGUMENTS:
        return [str(objects[OBJECT_ARGUMENTS[namespace, name]].pk)]
    if name == "ws":
        return [ws]
    if name == "draft":
        return [str(uuid.uuid4())]
    if name == "action":
        return converter.regex.split("|")
    raise AssertionError(
        f"{namespace}:{name} is not known to the sweep: add it to OBJECT_ARGUMENTS (the object "
        "of workspace A it names) or OTHER_ARGUMENTS"
    )


def object_urls(objects, ws: str) -> list[str]:
    """Every URL that names an object, filled with A's objects and the workspace `ws`."""
    urls = []
    for view_name, converters in named_routes():
        namespace = view_name.rpartition(":")[0]
        if all(name in OTHER_ARGUMENTS for name in converters):
            continue  # names no object: the sweeps by slug above cover it
        choices = {
            name: argument_values(namespace, name, converter, objects, ws)
            for name, converter in converters.items()
        }
        for values in itertools.product(*choices.values()):
            urls.append(reverse(view_name, kwargs=dict(zip(choices, values, strict=True))))
    return urls


def every_row() -> dict[str, list[dict]]:
    """Every row of the product's tables, to show that nothing at all was written."""
    rows = {}
    for label in ("workspaces", "connections", "imports", "audience", "notifications"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return rows


# Values a form would accept, so that a view that found A's object would act on it.
FORM_DATA = {
    "name": "Taken over",
    "project_id": "analytics-prod",
    "dataset_id": "events_v2",
    "schedule_kind": "none",
}


def test_another_workspaces_admin_under_their_own_slug_gets_404_for_every_object_of_a(
    charlie_client, workspace_b, objects
):
    urls = object_urls(objects, ws=workspace_b.slug)
    assert len(urls) >= 20
    before = every_row()

    for url in urls:
        assert url.startswith(f"/w/{workspace_b.slug}/"), url
        answers = {}
        for method in ("get", "post"):
            response = getattr(charlie_client, method)(url, FORM_DATA)
            answers[method] = response.status_code
            body = response.content.decode()
            assert not any(secret in body for secret in SECRETS), url
            if response.status_code == 405:
                # Refused before any lookup, whatever the id: the view takes no such method.
                assert method.upper() not in response["Allow"], (method, url)
            else:
                assert response.status_code == 404, (method, url, response.status_code)
        assert 404 in answers.values(), (url, answers)  # the view itself ran and refused

    assert every_row() == before
