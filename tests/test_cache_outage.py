"""With Redis away, the cache forgives: signing in and the rate limits keep working."""

import logging
import socket

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from connections.services import connection_test_allowed


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


@pytest.fixture
def redis_away():
    location = f"redis://127.0.0.1:{closed_port()}/0"
    caches = {
        "default": {
            "BACKEND": "common.cache.ForgivingRedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with override_settings(CACHES=caches):
        yield


def test_signing_in_works_while_redis_is_away(client, alice, redis_away, caplog):
    with caplog.at_level(logging.WARNING, logger="common.cache"):
        wrong = client.post(reverse("login"), {"username": alice.email, "password": "nope"})
        right = client.post(
            reverse("login"), {"username": alice.email, "password": "correct horse battery"}
        )

    assert wrong.status_code == 200
    assert "Please enter a correct" in wrong.content.decode()
    assert right.status_code == 302
    assert "skipped: Redis is unreachable" in caplog.text


def test_the_cache_reads_nothing_and_drops_writes_while_redis_is_away(redis_away):
    cache.set("k", 1)
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is True
    assert cache.incr("k") == 1
    assert cache.delete("k") is False


def test_the_connection_test_rate_limit_lets_tests_through_while_redis_is_away(alice, redis_away):
    assert all(connection_test_allowed(user=alice) for _ in range(15))


def test_with_redis_up_the_rate_limit_still_applies(alice):
    cache.clear()
    # 25 calls: even split over two minutes, more than the two allowances of 10.
    allowed = [connection_test_allowed(user=alice) for _ in range(25)]
    assert allowed.count(False) >= 1
