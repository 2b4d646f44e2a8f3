"""What the sweep catches up (a delivery whose message was lost, one whose worker died),
what it forgets, and the re-encryption of webhook secrets after a Fernet key change."""

from __future__ import annotations

import datetime as dt
import io
import socket

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from notifications import delivery, queue, services, tasks
from notifications.models import Alert, Delivery, Webhook
from tests.fixtures.waiting import wait_for
from tests.notifications.conftest import alerts_worker_env
from tests.notifications.helpers import an_import, finished_run


@pytest.fixture
def worker_env(smtp_server):
    return alerts_worker_env(smtp_server)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_deliveries_whose_message_was_lost_or_whose_worker_died(
    celery_worker, workspace_a, alice, smtp_server
):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    lost = services.destination_send_test(workspace=workspace_a, actor=alice, recipient=recipient)
    orphan = services.destination_send_test(workspace=workspace_a, actor=alice, recipient=recipient)
    wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 2)
    # As if the broker had lost the first message and a worker had died sending the second:
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    Delivery.objects.filter(alert=lost).update(status="pending", next_attempt_at=long_ago)
    Delivery.objects.filter(alert=orphan).update(status="sending", lease_until=long_ago)

    assert tasks.sweep()["resent"] == 2
    wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 2)

    assert len(smtp_server.messages) == 4
    assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [2, 2]


@pytest.mark.django_db
def test_the_sweep_forgets_alerts_older_than_the_keep_days(workspace_a, alice, settings):
    settings.NOTIFICATIONS_KEEP_DAYS = 90
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        old = services.destination_send_test(
            workspace=workspace_a, actor=alice, recipient=recipient
        )
        clock.shift(dt.timedelta(days=60))
        recent = services.destination_send_test(
            workspace=workspace_a, actor=alice, recipient=recipient
        )
        Delivery.objects.update(status="delivered")
        Delivery.objects.filter(alert=old).update(status="failed")  # ended: forgotten too
        clock.shift(dt.timedelta(days=31))
        assert tasks.sweep()["forgotten"] == 1

    assert list(Alert.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Delivery.objects.filter(alert_id=old.pk).exists()


@pytest.mark.django_db
def test_webhook_urls_and_secrets_are_re_encrypted_with_the_newest_fernet_key(
    workspace_a, alice, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True
    old_key, new_key = settings.FERNET_KEYS[0], Fernet.generate_key().decode()
    webhook, secret = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="",
        url="http://127.0.0.1:9/x",
        payload_format="json",
    )

    settings.FERNET_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_notification_secrets", stdout=out)
    assert "Re-encrypted 1 webhook(s)." in out.getvalue()
    settings.FERNET_KEYS = [new_key]  # the old key is gone

    webhook = Webhook.objects.get(pk=webhook.pk)
    assert delivery.webhook_secret(webhook) == secret
    assert delivery.webhook_url(webhook) == "http://127.0.0.1:9/x"


@pytest.fixture
def enqueued(monkeypatch):
    sent = []

    def record(name, *args, countdown=None):
        sent.append((name, *args, countdown))
        return True

    monkeypatch.setattr(queue, "send_task_or_log", record)
    return sent


@pytest.mark.django_db
def test_the_sweep_resends_a_pending_delivery_only_once_its_own_message_is_overdue(
    workspace_a, alice, enqueued
):
    """A delivery's own message normally comes at once: the sweep sending it too soon
    would make two workers race for it."""
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        alert = services.destination_send_test(
            workspace=workspace_a, actor=alice, recipient=recipient
        )
        clock.shift(29)
        assert tasks.sweep()["resent"] == 0
        clock.shift(1)
        assert tasks.sweep()["resent"] == 1

    assert enqueued == [(queue.DELIVER, str(alert.deliveries.get().pk), None)]


@pytest.mark.django_db
def test_a_short_retry_waits_in_the_broker_and_a_long_one_is_left_to_the_sweep(
    workspace_a, alice, settings, enqueued
):
    with socket.socket() as probe:  # a mail server that is away
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")

    def failing_delivery(base_seconds):
        settings.NOTIFICATIONS_RETRY_BASE_SECONDS = base_seconds
        alert = services.destination_send_test(
            workspace=workspace_a, actor=alice, recipient=recipient
        )
        delivery_id = str(alert.deliveries.get().pk)
        assert tasks.deliver(delivery_id) == "pending"
        return delivery_id

    short = failing_delivery(300)
    failing_delivery(301)

    assert enqueued == [(queue.DELIVER, short, 300)]


@pytest.mark.django_db
def test_the_sweep_resends_a_delivery_held_by_a_worker_only_once_its_lease_ran_out(
    workspace_a, alice, enqueued
):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    alert = services.destination_send_test(workspace=workspace_a, actor=alice, recipient=recipient)
    sent = alert.deliveries.get()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert delivery.delivery_claim(delivery_id=str(sent.pk)) is not None  # then it died
        clock.shift(delivery.lease_seconds())
        assert tasks.sweep()["resent"] == 0  # the lease ends now: still held
        clock.shift(1)
        assert tasks.sweep()["resent"] == 1

    assert enqueued == [(queue.DELIVER, str(sent.pk), None)]


@pytest.mark.django_db
def test_the_sweep_judges_a_finished_run_whose_message_was_lost(workspace_a, alice, enqueued):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    finished_run(an_import(workspace_a, alice), "failed")

    assert tasks.sweep()["judged"] == 1

    assert list(Alert.objects.values_list("kind", flat=True)) == ["run.failed"]
    assert tasks.sweep()["judged"] == 0
