"""Shared personas and real-process fixtures.

Personas (as in healthchecks): alice is admin of workspace A, bob a member of
A, charlie admin of workspace B.
"""

import os

import pytest
from django.test import Client

from workspaces.models import Membership, Workspace

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop

pytest_plugins = [
    "tests.fixtures.processes",
    "tests.fixtures.browser",
    "tests.fixtures.google",
    "tests.fixtures.connections",
    "tests.fixtures.mail",
    "tests.fixtures.migrations",
]


LOOPBACK = ("127.", "::1", "localhost")
# Fixtures that start a browser or a real Celery worker: a test using one is end to end, and
# must carry the `slow` marker so that `-m "not slow"` stays the fast loop.
SLOW_FIXTURES = {"browser", "celery_worker"}  # `page` needs `browser`


def pytest_collection_modifyitems(config, items):
    unmarked = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "These tests start a browser or a worker but are not marked slow: "
            + ", ".join(unmarked)
        )


@pytest.fixture(autouse=True, scope="session")
def no_outgoing_network():
    """Nothing in the suite may leave the machine: Google is reached only through the
    stand-ins on loopback. A lookup of any other host fails loudly."""
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.startswith(LOOPBACK):
            # what a failed DNS lookup raises, so the app sees "host not found"
            raise socket.gaierror(
                socket.EAI_NONAME, f"tests may not reach {name}: use the local stand-ins"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = loopback_only
    yield
    socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(autouse=True, scope="session")
def no_counts_from_an_earlier_session():
    """Rate-limit windows live in the cache (Redis, or files on the SQLite set-up) and are
    keyed by user id. A new test database hands out the same ids again, so a session started
    within a minute of the last one would inherit its counts."""
    from django.core.cache import cache

    cache.clear()


def make_user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, email=username, password="correct horse battery"
    )


@pytest.fixture
def workspace_a(db) -> Workspace:
    return Workspace.objects.create(name="Acme", slug="acme")


@pytest.fixture
def workspace_b(db) -> Workspace:
    return Workspace.objects.create(name="Globex", slug="globex")


@pytest.fixture
def alice(workspace_a):
    user = make_user("alice@acme.test")
    Membership.objects.create(workspace=workspace_a, user=user, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def bob(workspace_a):
    user = make_user("bob@acme.test")
    Membership.objects.create(workspace=workspace_a, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def charlie(workspace_b):
    user = make_user("charlie@globex.test")
    Membership.objects.create(workspace=workspace_b, user=user, role=Membership.Role.ADMIN)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return client_for(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie) -> Client:
    return client_for(charlie)
