"""Email deliveries, made in this process, to a real SMTP server on loopback (aiosmtpd):
what the message says, an address the server refuses, a server that is away."""

from __future__ import annotations

import socket

import pytest

from notifications import delivery, services
from notifications.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def links(settings):
    settings.SITE_URL = "https://imports.example.test"


def send_test_to(workspace_a, alice, email="ops@acme.test") -> Delivery:
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email=email)
    alert = services.destination_send_test(workspace=workspace_a, actor=alice, recipient=recipient)
    return alert.deliveries.get()


def test_a_test_alert_arrives_with_its_subject_sender_and_links(
    workspace_a, alice, smtp_settings, settings
):
    settings.DEFAULT_FROM_EMAIL = "Imports <alerts@imports.example.test>"
    sent = send_test_to(workspace_a, alice)

    assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "delivered"

    [message] = smtp_settings.messages
    assert str(message["Subject"]).strip() == (
        "[Acme] Test alert sent by alice@acme.test: alerts reach this destination"
    )
    assert message["From"] == "Imports <alerts@imports.example.test>"
    assert message["To"] == "ops@acme.test"
    assert message["X-Alert-Event"] == "test"
    body = message.get_content()
    assert (
        "Notification settings: https://imports.example.test/w/acme/settings/notifications/" in body
    )
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("delivered", 1) and sent.latency_ms is not None


def test_an_address_the_server_refuses_for_good_ends_the_delivery(
    workspace_a, alice, smtp_settings
):
    smtp_settings.inbox.refuse["gone@acme.test"] = "550 5.1.1 No such user"
    sent = send_test_to(workspace_a, alice, email="gone@acme.test")

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("failed", None)
    sent.refresh_from_db()
    assert sent.last_error == "The mail server refused the address (SMTP 550)."
    assert smtp_settings.messages == []


def test_a_mail_server_that_is_away_is_tried_again_later(workspace_a, alice, settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    sent = send_test_to(workspace_a, alice)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("pending", 30)
    sent.refresh_from_db()
    assert sent.last_error == "Could not reach the mail server (ConnectionRefusedError)."
