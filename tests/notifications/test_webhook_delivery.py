"""Webhook deliveries, made in this process, to a real HTTP receiver on loopback that checks
each signature: the payload, the Slack option, retries with back-off on a controlled
clock, answers that end a delivery, and the address checks at delivery time (SSRF, DNS
rebinding)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection as db_connection
from django.utils import timezone

from notifications import delivery, payloads, services
from notifications.alerts import alert_raise
from notifications.events import EventKind
from notifications.forms import WebhookForm
from notifications.models import Delivery
from tests.fixtures.connections import make_connection
from tests.notifications.helpers import an_import, finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def links(settings):
    settings.SITE_URL = "https://imports.example.test"


def add_webhook(workspace, user, url, payload_format="json"):
    return services.webhook_add(
        workspace=workspace, actor=user, name="Ops", url=url, payload_format=payload_format
    )


def failed_run_alert(workspace, user, webhook):
    import_obj = an_import(workspace, user)
    run = finished_run(import_obj, "failed", error="Google rejected the key: it was deleted.")
    run = (
        type(run)
        .objects.select_related("import_obj__workspace", "import_obj__connection")
        .get(pk=run.pk)
    )
    alert = alert_raise(
        workspace=workspace,
        kind=EventKind.RUN_FAILED,
        payload=payloads.import_event(kind=EventKind.RUN_FAILED, run=run),
        recipients=[],
        webhooks=[webhook],
    )
    return alert.deliveries.get(), run


def test_a_delivery_is_signed_json_with_the_event_counts_error_and_links(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    webhook, secret = add_webhook(workspace_a, alice, webhook_receiver.url)
    webhook_receiver.secret = secret
    sent, run = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert outcome.status == Delivery.Status.DELIVERED
    [request] = webhook_receiver.received
    assert request.signature_ok
    assert request.path == "/hooks/alerts"
    assert request.headers["X-Webhook-Event"] == "run.failed"
    assert request.headers["X-Webhook-Delivery"] == str(sent.pk)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "BigQueryImports-Alerts/1"  # not the library's
    body = request.json()
    assert body["version"] == 1
    assert body["event"] == "run.failed" and body["delivery"] == str(sent.pk)
    occurred_at = dt.datetime.fromisoformat(body["occurred_at"])
    assert sent.alert.created_at - dt.timedelta(seconds=5) <= occurred_at <= timezone.now()
    assert body["workspace"] == {"slug": "acme", "name": "Acme"}
    assert body["import"]["name"] == "Nightly users"
    assert body["run"] == {
        "id": str(run.pk),
        "status": "failed",
        "trigger": "manual",
        "scheduled_for": run.scheduled_for.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
    }
    connection = run.import_obj.connection
    assert body["connection"] == {
        "id": str(connection.pk),
        "name": connection.name,
        "project_id": "analytics-prod",
        "dataset_id": "events_v2",
    }
    assert body["counts"] == {
        "rows_read": 120, "rows_written": 120, "rows_unchanged": 0, "rows_rejected": 0,
        "health": 100.0,
    }  # fmt: skip
    assert body["error"] == "Google rejected the key: it was deleted."
    assert body["links"]["run"] == (
        f"https://imports.example.test/w/acme/settings/partners/bigquery/imports/runs/{run.pk}/"
    )
    assert body["links"]["import"] == (
        f"https://imports.example.test/w/acme/settings/partners/bigquery/imports/{run.import_obj_id}/"
    )
    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.response_status) == ("delivered", 1, 200)
    assert sent.latency_ms is not None and sent.delivered_at is not None


def test_the_signature_is_the_documented_hmac_sha256_of_the_timestamp_and_the_raw_body(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    """What README's receiver computes, written out here rather than through
    notifications.signing, so that a change of scheme cannot agree with itself."""
    webhook, secret = add_webhook(workspace_a, alice, webhook_receiver.url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)
    before = int(time.time())

    delivery.delivery_attempt(delivery_id=str(sent.pk))

    [request] = webhook_receiver.received
    header = request.headers["X-Webhook-Signature"]
    found = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert found, header
    timestamp = int(found[1])
    assert before <= timestamp <= int(time.time())
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert found[2] == expected


def test_a_wrong_secret_fails_the_receivers_check(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    webhook, secret = add_webhook(workspace_a, alice, webhook_receiver.url)
    webhook_receiver.secret = secret
    services.webhook_rotate_secret(webhook=webhook, actor=alice)  # the receiver has the old one
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert [r.signature_ok for r in webhook_receiver.received] == [False]


def test_the_slack_option_posts_a_text_message(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url, payload_format="slack")
    sent, run = failed_run_alert(workspace_a, alice, webhook)

    delivery.delivery_attempt(delivery_id=str(sent.pk))

    body = webhook_receiver.received[0].json()
    assert list(body) == ["text"]
    assert body["text"].startswith("*[Acme] Import “Nightly users” failed*")
    assert "Google rejected the key: it was deleted." in body["text"]
    assert f"/imports/runs/{run.pk}/|Open the run>" in body["text"]


def test_the_slack_text_escapes_what_users_typed_and_gives_the_counts(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    """Slack reads <…> as a link or a mention and & as an entity: a name such as
    "<!channel>" must show as typed, not ping everyone."""
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url, payload_format="slack")
    import_obj = an_import(
        workspace_a,
        alice,
        name="Users & <!channel>",
        connection=make_connection(workspace_a, alice),
    )
    run = finished_run(
        import_obj,
        "failed",
        error="Column <email> & more are missing.",
        read=2400,
        rejected=10,
        unchanged=1200,
    )
    run = (
        type(run)
        .objects.select_related("import_obj__workspace", "import_obj__connection")
        .get(pk=run.pk)
    )
    alert = alert_raise(
        workspace=workspace_a,
        kind=EventKind.RUN_FAILED,
        payload=payloads.import_event(kind=EventKind.RUN_FAILED, run=run),
        recipients=[],
        webhooks=[webhook],
    )

    delivery.delivery_attempt(delivery_id=str(alert.deliveries.get().pk))

    assert webhook_receiver.received[0].json()["text"] == "\n".join(
        [
            "*[Acme] Import “Users &amp; &lt;!channel&gt;” failed*",
            "Column &lt;email&gt; &amp; more are missing.",
            "Rows read 2,400, written 1,190, unchanged 1,200, rejected 10",
            "<https://imports.example.test/w/acme/settings/partners/bigquery/imports/runs/"
            f"{run.pk}/|Open the run>",
        ]
    )


def test_a_failing_webhook_is_retried_with_growing_pauses_and_each_attempt_recorded(
    workspace_a, alice, webhook_receiver, private_webhooks, settings
):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    webhook, secret = add_webhook(workspace_a, alice, webhook_receiver.url)
    webhook_receiver.secret = secret
    webhook_receiver.plan = [500, 503]
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = delivery.delivery_attempt(delivery_id=str(sent.pk))
        sent.refresh_from_db()
        assert (first.status, first.retry_in) == ("pending", 30)
        assert sent.attempts == 1 and sent.response_status == 500
        assert sent.last_error == "127.0.0.1 answered HTTP 500."
        assert sent.next_attempt_at == timezone.now() + dt.timedelta(seconds=30)

        clock.shift(29)
        assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "skipped"  # not due

        clock.shift(1)
        second = delivery.delivery_attempt(delivery_id=str(sent.pk))
        assert (second.status, second.retry_in) == ("pending", 60)

        clock.shift(60)
        third = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert third.status == "delivered"
    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.last_error, sent.next_attempt_at) == (
        "delivered",
        3,
        "",
        None,
    )
    assert [r.headers["X-Webhook-Delivery"] for r in webhook_receiver.received] == [
        str(sent.pk)
    ] * 3
    assert all(r.signature_ok for r in webhook_receiver.received)


def test_the_last_attempt_fails_the_delivery(
    workspace_a, alice, webhook_receiver, private_webhooks, settings
):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 0
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    webhook_receiver.default = 502
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "pending"
    last = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (last.status, last.retry_in) == ("failed", None)
    sent.refresh_from_db()
    assert (sent.attempts, sent.next_attempt_at) == (2, None)


@pytest.mark.parametrize(
    "answer, error",
    [
        (410, "127.0.0.1 answered HTTP 410."),
        (300, "127.0.0.1 answered HTTP 300, a redirect; redirects are not followed"),
        ("redirect", "127.0.0.1 answered HTTP 302, a redirect; redirects are not followed"),
    ],
)
def test_a_client_error_or_a_redirect_ends_the_delivery_at_once(
    workspace_a, alice, webhook_receiver, private_webhooks, answer, error
):
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    webhook_receiver.default = answer
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("failed", None)
    assert len(webhook_receiver.received) == 1  # the redirect was not followed
    sent.refresh_from_db()
    assert sent.last_error.startswith(error)


def closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "trouble, error",
    [
        (429, "127.0.0.1 answered HTTP 429."),
        (408, "127.0.0.1 answered HTTP 408."),
        ("hang", "127.0.0.1 did not answer within 0.5 s."),
        ("closed port", "Could not reach 127.0.0.1 (ConnectionError)."),
        (
            "TLS to plain HTTP",
            "TLS with 127.0.0.1 failed (is its certificate valid for that name?).",
        ),
    ],
)
def test_a_failure_that_may_pass_is_tried_again(
    workspace_a, alice, webhook_receiver, private_webhooks, settings, trouble, error
):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    settings.NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT = 3
    settings.NOTIFICATIONS_WEBHOOK_READ_TIMEOUT = 0.5
    url = webhook_receiver.url
    if trouble == "closed port":
        url = f"http://127.0.0.1:{closed_port()}/hooks/alerts"
    elif trouble == "TLS to plain HTTP":
        url = url.replace("http://", "https://")
    else:
        webhook_receiver.plan = [trouble]
    webhook, _ = add_webhook(workspace_a, alice, url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("pending", 30)
    sent.refresh_from_db()
    assert (sent.status, sent.last_error) == ("pending", error)


@contextlib.contextmanager
def port_that_never_accepts() -> Iterator[int]:
    """A port whose listener's queue is full: a new connection is neither accepted nor
    refused, so connecting to it times out."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(64):
            waiting = stack.enter_context(socket.socket())
            waiting.settimeout(0.2)
            try:
                waiting.connect(("127.0.0.1", port))
            except TimeoutError:
                break  # the queue is full
        else:
            pytest.fail("the listener kept accepting connections")
        yield port


def test_a_connection_that_times_out_is_tried_again(workspace_a, alice, private_webhooks, settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    settings.NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT = 0.5
    with port_that_never_accepts() as port:
        webhook, _ = add_webhook(workspace_a, alice, f"http://127.0.0.1:{port}/hooks/alerts")
        sent, _ = failed_run_alert(workspace_a, alice, webhook)

        outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("pending", 30)
    sent.refresh_from_db()
    assert (sent.status, sent.last_error) == (
        "pending",
        "Could not connect to 127.0.0.1 within 0.5 s.",
    )


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_ends_after_another_took_over_records_nothing(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    """A worker whose lease ran out while it waited for an answer was taken over by the
    sweep: its late failure must not overwrite the attempt under way, whose success then
    counts (else the alert would be sent once more)."""
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)
    takeover_waiting, first_recorded = threading.Event(), threading.Event()
    takeover_outcome = []

    def take_over():
        try:
            expired = timezone.now() - dt.timedelta(seconds=1)
            Delivery.objects.filter(pk=sent.pk).update(lease_until=expired)
            takeover_outcome.append(delivery.delivery_attempt(delivery_id=str(sent.pk)).status)
        finally:
            db_connection.close()

    takeover = threading.Thread(target=take_over)

    def first_answer():
        takeover.start()
        assert takeover_waiting.wait(30)
        return 500

    def second_answer():
        takeover_waiting.set()
        assert first_recorded.wait(30)
        return 200

    webhook_receiver.plan = [first_answer, second_answer]

    delivery.delivery_attempt(delivery_id=str(sent.pk))
    first_recorded.set()
    takeover.join(30)

    assert takeover_outcome == ["delivered"]
    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.response_status) == ("delivered", 2, 200)


def test_a_webhook_to_loopback_is_refused_at_delivery_when_private_addresses_are_not_allowed(
    workspace_a, alice, webhook_receiver, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True  # saved while it was allowed
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = False

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("refused", None)
    assert webhook_receiver.received == []
    sent.refresh_from_db()
    assert sent.last_error.startswith("Webhooks may not reach 127.0.0.1: the address is loopback.")


def test_a_proxy_in_the_environment_is_not_used_so_the_address_check_stands(
    workspace_a, alice, webhook_receiver, monkeypatch
):
    """A proxy would look the host up itself and reach whatever it can: deliveries ignore
    HTTP_PROXY, so a host that cannot be checked is refused and nothing is sent."""
    proxy = f"http://127.0.0.1:{webhook_receiver.port}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "")
    webhook, _ = add_webhook(workspace_a, alice, "http://hooks.unresolvable.test/alerts")
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert outcome.status == "refused"
    assert webhook_receiver.received == []
    sent.refresh_from_db()
    assert sent.last_error.startswith("The host hooks.unresolvable.test cannot be resolved.")


class Rebinding:
    """A resolver for `name` that answers `first` once and then `then`, like a DNS server
    an attacker controls; every other lookup goes to the suite's loopback-only resolver."""

    def __init__(self, name: str, first: str, then: str) -> None:
        self.name, self.answers, self.calls = name, [first, then], 0
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        self.calls += 1
        address = self.answers[0] if self.calls == 1 else self.answers[1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_delivery(
    workspace_a, alice, webhook_receiver, monkeypatch
):
    port = webhook_receiver.port
    url = f"http://hooks.rebind.test:{port}/hooks/alerts"
    resolver = Rebinding("hooks.rebind.test", first="93.184.215.14", then="127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    form = WebhookForm({"name": "", "url": url, "payload_format": "json"})
    assert form.is_valid(), form.errors  # a public address when it was saved
    webhook, _ = add_webhook(workspace_a, alice, form.cleaned_data["url"])
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert outcome.status == "refused"
    assert webhook_receiver.received == []
    sent.refresh_from_db()
    assert sent.last_error.startswith(
        "Webhooks may not reach hooks.rebind.test (127.0.0.1): the address is loopback."
    )


def test_a_delivery_connects_to_the_address_it_checked_and_keeps_the_host_name(
    workspace_a, alice, webhook_receiver, private_webhooks, monkeypatch
):
    port = webhook_receiver.port
    resolver = Rebinding("hooks.pinned.test", first="127.0.0.1", then="127.0.0.2")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    webhook, _ = add_webhook(workspace_a, alice, f"http://hooks.pinned.test:{port}/hooks/alerts")
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert outcome.status == "delivered"
    assert resolver.calls == 1  # one lookup, checked and connected to: nothing to rebind
    assert webhook_receiver.received[0].headers["Host"] == f"hooks.pinned.test:{port}"


def test_a_delivery_tries_the_next_checked_address_when_one_refuses_the_connection(
    workspace_a, alice, webhook_receiver, private_webhooks, monkeypatch
):
    port = webhook_receiver.port
    real = socket.getaddrinfo

    def resolve(host, port_, *args, **kwargs):
        if host != "hooks.two.test":
            return real(host, port_, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_))
            for address in ("127.0.0.2", "127.0.0.1")  # nothing listens on the first
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    webhook, _ = add_webhook(workspace_a, alice, f"http://hooks.two.test:{port}/hooks/alerts")
    sent, _ = failed_run_alert(workspace_a, alice, webhook)

    assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "delivered"
    assert len(webhook_receiver.received) == 1


def test_a_removed_webhooks_pending_delivery_ends(
    workspace_a, alice, webhook_receiver, private_webhooks
):
    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)
    services.webhook_remove(webhook=webhook, actor=alice)

    assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "failed"
    sent.refresh_from_db()
    assert sent.last_error == "The webhook was removed."
    assert sent.destination == f"Ops (http://127.0.0.1:{webhook_receiver.port}/…)"


def test_a_webhook_whose_secret_cannot_be_decrypted_ends_with_a_clear_reason(
    workspace_a, alice, webhook_receiver, private_webhooks, settings
):
    from cryptography.fernet import Fernet

    webhook, _ = add_webhook(workspace_a, alice, webhook_receiver.url)
    sent, _ = failed_run_alert(workspace_a, alice, webhook)
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # the old key was dropped

    assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "failed"
    sent.refresh_from_db()
    assert sent.last_error.startswith("The webhook's URL and secret cannot be decrypted")
    assert webhook_receiver.received == []
