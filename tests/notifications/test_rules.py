"""The pure rules: when a change of state sends an alert, which addresses webhooks may
reach, how deliveries are signed and spaced out."""

import socket

import pytest

from notifications import addresses, delivery, events, signing
from notifications.events import EventKind, Health
from notifications.services import url_display


def replay(healths: list[Health | None]) -> list[EventKind]:
    """Alerts an import sends over a series of run outcomes, starting healthy."""
    alerted, sent = Health.OK, []
    for health in healths:
        if health is None:
            continue
        kind = events.import_event(alerted, health)
        if kind:
            sent.append(kind)
        alerted = health
    return sent


def test_an_import_failing_all_day_sends_one_alert_then_one_recovered():
    day = [events.run_health(status="failed")] * 24 + [events.run_health(status="succeeded")]
    assert replay(day) == [EventKind.RUN_FAILED, EventKind.IMPORT_RECOVERED]


def test_successes_alone_send_nothing_and_a_cancelled_run_says_nothing():
    assert events.run_health(status="cancelled") is None
    outcomes = ["succeeded", "cancelled", "succeeded", "failed", "cancelled", "failed"]
    assert replay([events.run_health(status=s) for s in outcomes]) == [EventKind.RUN_FAILED]


def test_rejections_within_the_threshold_are_healthy_and_above_it_a_failure():
    # Above the threshold a run ends "failed" (imports/run/verdict.py): one "run failed";
    # within it, "succeeded_with_rejections" is a success, and ends a failure.
    assert events.run_health(status="succeeded_with_rejections") == Health.OK
    assert "succeeded_with_rejections" in events.DECISIVE_RUN_STATUSES
    outcomes = ["succeeded_with_rejections", "failed", "failed", "succeeded_with_rejections",
                "succeeded", "succeeded_with_rejections"]  # fmt: skip
    assert replay([events.run_health(status=s) for s in outcomes]) == [
        EventKind.RUN_FAILED, EventKind.IMPORT_RECOVERED,
    ]  # fmt: skip


def test_a_connection_alerts_on_failing_and_on_passing_again_only():
    assert events.connection_event(Health.OK, Health.FAILING) == EventKind.CONNECTION_FAILING
    assert events.connection_event(Health.FAILING, Health.FAILING) is None
    assert events.connection_event(Health.FAILING, Health.OK) == EventKind.CONNECTION_RECOVERED
    assert events.connection_event(Health.OK, Health.OK) is None


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address refused, not bound
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("192.0.0.8", "not globally routable"),  # IETF protocol assignments
        ("192.0.0.170", "private"),
    ],
)
def test_addresses_webhooks_may_not_reach(address, reason):
    assert addresses.refusal_reason(address) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d70e::", "192.0.0.9"],
)  # 2002:5db8:d70e:: is 6to4 of 93.184.215.14; 192.0.0.9 is PCP anycast
def test_public_addresses_are_allowed(address):
    assert addresses.refusal_reason(address) is None


def test_a_host_is_resolved_to_each_of_its_addresses_once_and_to_none_is_refused(
    monkeypatch,
):
    answers = {
        "hooks.twice.test": ["93.184.215.14", "2606:4700:4700::1111", "93.184.215.14"],
        "hooks.empty.test": [],
    }

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    assert addresses.resolve("hooks.twice.test", 443) == ["93.184.215.14", "2606:4700:4700::1111"]
    with pytest.raises(addresses.AddressRefused, match="hooks.empty.test cannot be resolved"):
        addresses.check_url("https://hooks.empty.test/alerts")


def test_a_signature_verifies_with_the_secret_and_fails_when_anything_changes():
    secret, body, t = signing.new_secret(), b'{"event":"run.failed"}', 1_800_000_000
    header = signing.signature_header(secret=secret, timestamp=t, body=body)

    assert header.startswith(f"t={t},v1=")
    assert signing.verify(secret=secret, header=header, body=body, now=t + 10)
    assert not signing.verify(secret=secret, header=header, body=body + b" ", now=t)
    assert not signing.verify(secret=secret + "x", header=header, body=body, now=t)
    assert not signing.verify(secret=secret, header=header, body=body, now=t + 301)  # replayed
    forged = header.replace(f"t={t}", f"t={t + 5}")
    assert not signing.verify(secret=secret, header=forged, body=body, now=t)
    assert not signing.verify(secret=secret, header="garbage", body=body, now=t)


def test_retries_wait_longer_each_time(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    assert [delivery.retry_delay(n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert delivery.retry_delay(20) == delivery.MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/…"),
        ("https://example.com", "https://example.com/"),
        ("http://127.0.0.1:8123/hook?token=abc", "http://127.0.0.1:8123/…"),
        ("https://example.com/?token=abc", "https://example.com/…"),  # a query alone
        ("https://user:pass@example.com/", "https://example.com/"),
        ("https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/…"),
    ],
)
def test_a_webhook_url_is_shown_without_its_path_or_credentials(url, shown):
    assert url_display(url) == shown
