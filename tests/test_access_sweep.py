"""Every URL of the app, every method, every persona: resolved from the URLconf so that a
new view cannot escape. Anonymous users are sent to sign in (or refused), members may
read but change nothing, another workspace's admin gets 404 everywhere, the owner may act."""

import datetime as dt
import itertools
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api import services as api_services
from api.models import ApiToken
from api.views.base import WorkspaceAPIView
from connections.models import Connection
from imports.models import Import, ImportRun
from imports.services import run_create
from notifications.models import Recipient, Webhook
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import
from workspaces import members
from workspaces.models import Invitation, Membership

# Routes outside a workspace, each with why it needs no workspace check.
OUTSIDE_WORKSPACES = {
    "": "redirects to the user's own workspace",
    "healthz": "reports only reachability",
    "signin/": "sign-in",
    "signout/": "sign-out",
    "password/reset/": "asks for a password reset email (braked)",
    "password/reset/sent/": "says the email is on its way",
    "password/reset/<uidb64>/<token>/": "Django's reset link: the token is the check",
    "password/reset/done/": "says the password changed",
    "password/change/": "the signed-in user's own password",
    "password/change/done/": "says the password changed",
    "invitations/accept/": "accepts the invitation whose link this browser opened",
    "invitations/<str:secret>/": "an invitation link: the secret is the check",
}


# Names of A's objects that no one outside A may see.
SECRETS = (
    "Secret warehouse",
    "Secret import",
    "secret-ops@acme.test",
    "Secret hook",
    "Secret token",
    "secret-invitee@acme.test",
)

# Django's admin: staff only, its own permission system. The API: tokens, not sessions; it
# has its own sweep at the end of this file.
SWEPT_APART = ("admin/", "api/")


def app_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith(SWEPT_APART):
                continue
            yield from app_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


@pytest.fixture
def objects(alice, workspace_a):
    connection = make_connection(workspace_a, alice, name="Secret warehouse")
    # Incremental, with a watermark that no one outside A's admins may move (Re-import).
    import_obj = make_import(
        connection, alice, table="users", name="Secret import", sync_mode="incremental",
        cursor_column="updated_at", cursor_type="TIMESTAMP",
    )  # fmt: skip
    import_obj.watermark = "2026-03-01T00:00:00+00:00"
    run = run_create(import_obj=import_obj, scheduled_for=import_obj.created_at, trigger="manual")
    import_obj.save()
    recipient = Recipient.objects.create(workspace=workspace_a, email="secret-ops@acme.test")
    webhook = Webhook.objects.create(
        workspace=workspace_a,
        name="Secret hook",
        url_display="https://hooks.acme.test/…",
        url_digest="0" * 64,
        encrypted_url="-",
        encrypted_secret="-",
    )
    token = api_services.api_token_create(
        workspace=workspace_a,
        user=alice,
        role="admin",
        name="Secret token",
        scope="admin",
        expires_at=None,
    ).token
    invitation = members.invitation_create(
        workspace=workspace_a, actor=alice, email="secret-invitee@acme.test", role="admin"
    ).invitation
    return {
        "connection": connection,
        "import": import_obj,
        "run": run,
        "recipient": recipient,
        "webhook": webhook,
        "token": token,
        "membership": Membership.objects.get(workspace=workspace_a, user=alice),
        "invitation": invitation,
    }


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
        .replace("<uuid:token_pk>", _pk_or_new(objects, "token"))
        .replace(
            "<int:member_pk>", str(objects["membership"].pk) if "membership" in objects else "0"
        )
        .replace("<uuid:invitation_pk>", _pk_or_new(objects, "invitation"))
        .replace("<uidb64>/<token>", "MQ/set-password")
        .replace("<str:secret>", objects.get("invitation_secret", "no-such-invitation"))
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
        list(Import.objects.values_list("pk", "name", "status", "next_run_at", "watermark")),
        list(ImportRun.objects.values_list("pk", "status", "cancel_requested")),
        list(ApiToken.objects.values_list("pk", "name", "scope", "revoked_at").order_by("pk")),
        list(Membership.objects.values_list("pk", "role").order_by("pk")),
        list(Invitation.objects.values_list("pk", "accepted_at", "revoked_at").order_by("pk")),
    )


def test_every_route_is_covered(objects):
    assert len(workspace_routes(objects)) >= 20


def test_anonymous_users_are_sent_to_sign_in_or_refused(client, objects):
    for path in workspace_routes(objects):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/signin/"), path
        assert client.post(path).status_code == 403, path
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 403, path


def members_may_change(path: str) -> bool:
    from django.urls import resolve

    return getattr(resolve(path).func, "members_may_change", False)


def test_members_may_read_but_every_change_is_403(bob_client, objects):
    before = state()
    own = 0
    for path in workspace_routes(objects):
        response = bob_client.get(path)
        assert response.status_code in (200, 302, 403, 404, 405), (path, response.status_code)
        answer = bob_client.post(path, {"name": "changed"}).status_code
        if members_may_change(path):
            # A member's own API tokens: the form wants more than a name, and another
            # user's token is not found.
            own += 1
            assert answer in (200, 404), (path, answer)
        else:
            assert answer == 403, path
    assert own == 2
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
    ("api_tokens", "token_pk"): "token",
    ("members", "member_pk"): "membership",
    ("members", "invitation_pk"): "invitation",
}
OTHER_ARGUMENTS = {
    "ws": "the workspace: B's own slug",
    "draft": "a Create Import draft, kept in the user's own session",
    "action": "every action the converter accepts",
    "uidb64": "a password reset link's user, checked with its token by Django",
    "token": "a password reset link's token",
    "secret": "an invitation link's secret (tests/workspaces/test_members.py)",
}


def named_routes(resolver=None, namespace="", converters=None):
    """(view name, its URL arguments with their converters) for every app URL."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        found = {**(converters or {}), **entry.pattern.converters}
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith(SWEPT_APART):
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
    for label in ("workspaces", "connections", "imports", "audience", "notifications", "api"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    for token in rows["api.ApiToken"]:
        del token["last_used_at"]  # a request with a token records its use, and only that
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


# -- the REST API, with tokens ----------------------------------------------------------------
# Every endpoint under /api/v1/workspaces/<slug>/, every method, with each persona's token:
# no token or a dead one is 401, a member's token reads but changes nothing (403), another
# workspace's token gets 404 under A's slug and for A's ids under its own slug, the owner's
# admin token reads everything.

API_PREFIX = "v1/workspaces/<slug:ws>/"  # under api/
METHODS = ("get", "post", "put", "patch", "delete")
# Which of A's objects an endpoint's id names, by the endpoint's name.
API_OBJECTS = {
    "api:connection": "connection",
    "api:connection_test": "connection",
    "api:import": "import",
    "api:import_runs": "import",
    "api:import_pause": "import",
    "api:import_resume": "import",
    "api:import_stop": "import",
    "api:run": "run",
    "api:run_rejected_csv": "run",
}
ADMINS_ONLY = {"api:audit"}


def api_endpoints():
    """(name, its one id argument or None, the view class) of every workspace endpoint."""
    found = []
    for entry in get_resolver().url_patterns:
        if str(entry.pattern) != "api/":
            continue
        for inner in entry.url_patterns:
            if str(inner.pattern) != API_PREFIX:
                continue
            for endpoint in inner.url_patterns:
                arguments = [a for a in endpoint.pattern.converters if a != "ws"]
                assert len(arguments) <= 1, endpoint.pattern
                view = endpoint.callback.cls
                assert issubclass(view, WorkspaceAPIView), f"{endpoint.pattern}: not scoped"
                found.append((f"api:{endpoint.name}", arguments[0] if arguments else None, view))
    assert len(found) >= 13
    return found


def api_url(name: str, argument: str | None, objects, ws: str) -> str:
    kwargs = {"ws": ws}
    if argument is not None:
        assert name in API_OBJECTS, f"{name}: add the object its id names to API_OBJECTS"
        kwargs[argument] = objects[API_OBJECTS[name]].pk
    return reverse(name, kwargs=kwargs)


def api_client(text: str):
    from tests.api.conftest import ApiClient

    return ApiClient(text)


def token_of(user, workspace, scope: str, **fields) -> str:
    from tests.api.conftest import make_token

    return make_token(user, workspace, scope, **fields)


def assert_error(response, status: int, where):
    assert response.status_code == status, (where, response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/json", where
    error = response.json()["error"]
    assert error["code"] and error["message"], where
    body = response.content.decode()
    assert not any(secret in body for secret in SECRETS), where


def test_the_api_without_a_valid_token_is_401_everywhere(client, objects, alice, workspace_a):
    revoked = token_of(alice, workspace_a, "admin", name="revoked")
    ApiToken.objects.filter(name="revoked").update(revoked_at=timezone.now())
    expired = token_of(alice, workspace_a, "admin", name="expired")
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - dt.timedelta(1))
    callers = {"anonymous": client, "revoked": api_client(revoked), "expired": api_client(expired)}
    before = every_row()

    for name, argument, _ in api_endpoints():
        url = api_url(name, argument, objects, "acme")
        for who, caller in callers.items():
            for method in METHODS:
                assert_error(getattr(caller, method)(url), 401, (who, method, url))

    assert every_row() == before


def test_a_members_token_reads_but_every_change_is_403(objects, bob, workspace_a):
    bob_api = api_client(token_of(bob, workspace_a, "read"))
    before = every_row()

    for name, argument, view in api_endpoints():
        url = api_url(name, argument, objects, "acme")
        response = bob_api.get(url)
        if name in ADMINS_ONLY:
            assert_error(response, 403, url)
        elif not hasattr(view, "get"):
            assert_error(response, 405, url)  # Test Connection, Pause…: POST only
        else:
            assert response.status_code == 200, (url, response.status_code)
        for method in METHODS[1:]:
            assert_error(getattr(bob_api, method)(url), 403, (method, url))

    assert every_row() == before


def test_a_member_token_asked_with_a_higher_scope_still_only_reads(objects, bob, workspace_a):
    # Created before bob was made a member: the role, not the scope, has the last word.
    from workspaces.models import Membership

    Membership.objects.filter(user=bob).update(role=Membership.Role.ADMIN)
    text = token_of(bob, workspace_a, "admin")
    Membership.objects.filter(user=bob).update(role=Membership.Role.MEMBER)
    before = every_row()

    for name, argument, view in api_endpoints():
        if hasattr(view, "post"):
            url = api_url(name, argument, objects, "acme")
            assert_error(api_client(text).post(url), 403, url)

    assert every_row() == before


def test_another_workspaces_token_gets_404_everywhere_in_a(objects, charlie, workspace_b):
    charlie_api = api_client(token_of(charlie, workspace_b, "admin"))
    before = every_row()

    for name, argument, _ in api_endpoints():
        for ws in ("acme", "no-such-workspace"):
            url = api_url(name, argument, objects, ws)
            for method in METHODS:
                assert_error(getattr(charlie_api, method)(url), 404, (method, url))

    assert every_row() == before


def test_another_workspaces_token_under_its_own_slug_gets_404_for_every_object_of_a(
    objects, charlie, workspace_b
):
    charlie_api = api_client(token_of(charlie, workspace_b, "admin"))
    before = every_row()
    looked_up = 0

    for name, argument, view in api_endpoints():
        url = api_url(name, argument, objects, workspace_b.slug)
        for method in METHODS:
            response = getattr(charlie_api, method)(url)
            if argument is None:
                # Lists of B: nothing of A in them.
                body = response.content.decode()
                assert not any(secret in body for secret in SECRETS), (method, url)
                continue
            if not hasattr(view, method):
                assert_error(response, 405, (method, url))  # refused before any lookup
                continue
            assert_error(response, 404, (method, url))
            looked_up += 1

    assert looked_up >= 10
    assert every_row() == before


def test_the_owners_admin_token_reads_every_endpoint(objects, alice, workspace_a):
    alice_api = api_client(token_of(alice, workspace_a, "admin"))

    reached = 0
    for name, argument, view in api_endpoints():
        if hasattr(view, "get"):
            url = api_url(name, argument, objects, "acme")
            response = alice_api.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content)
            reached += 1
    assert reached >= 8
