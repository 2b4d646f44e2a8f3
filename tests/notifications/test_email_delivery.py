"""Email deliveries, made in this process, to a real SMTP server on loopback (aiosmtpd):
what the message says, an address the server refuses, a server that is away."""

from __future__ import annotations

import socket

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from notifications import alerts, delivery, services
from notifications.models import Delivery
from tests.notifications.helpers import an_import, finished_run

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


@pytest.mark.parametrize(
    "refused_at, answer, status, error",
    [
        (
            "RCPT",
            "450 4.2.1 Mailbox busy",
            "pending",
            "The mail server refused the address (SMTP 450).",
        ),
        ("DATA", "451 4.3.0 Try again later", "pending", "The mail server answered SMTP 451."),
        ("DATA", "554 5.7.1 Message rejected", "failed", "The mail server answered SMTP 554."),
        # 500 is the first permanent code
        (
            "RCPT",
            "500 5.5.2 Syntax error",
            "failed",
            "The mail server refused the address (SMTP 500).",
        ),
        ("DATA", "500 5.5.2 Syntax error", "failed", "The mail server answered SMTP 500."),
    ],
)
def test_a_temporary_smtp_refusal_is_tried_again_and_a_permanent_one_ends_the_delivery(
    workspace_a, alice, smtp_settings, settings, refused_at, answer, status, error
):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    if refused_at == "RCPT":
        smtp_settings.inbox.refuse["ops@acme.test"] = answer
    else:
        smtp_settings.inbox.data_answer = answer
    sent = send_test_to(workspace_a, alice)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == (status, 30 if status == "pending" else None)
    sent.refresh_from_db()
    assert (sent.status, sent.last_error) == (status, error)
    assert smtp_settings.messages == []


def test_a_delivery_held_by_a_worker_is_sent_again_only_once_its_lease_runs_out(
    workspace_a, alice, smtp_settings, settings
):
    """A worker that died while sending leaves the delivery "sending": it is taken over
    when its lease ends, a minute after the longest attempt could have ended (a margin
    for a slow worker), never while that attempt could still be under way."""
    longest_attempt = (
        settings.NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT
        + settings.NOTIFICATIONS_WEBHOOK_READ_TIMEOUT
        + settings.EMAIL_TIMEOUT
    )
    sent = send_test_to(workspace_a, alice)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert delivery.delivery_claim(delivery_id=str(sent.pk)) is not None  # then it died
        clock.shift(longest_attempt)
        assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "skipped"
        assert smtp_settings.messages == []

        clock.shift(59)
        assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "skipped"
        clock.shift(2)
        assert delivery.delivery_attempt(delivery_id=str(sent.pk)).status == "delivered"

    assert len(smtp_settings.messages) == 1
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("delivered", 2)


def test_a_removed_recipients_pending_delivery_ends(workspace_a, alice, smtp_settings):
    sent = send_test_to(workspace_a, alice)
    services.recipient_remove(recipient=sent.recipient, actor=alice)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("failed", None)
    sent.refresh_from_db()
    assert (sent.last_error, sent.destination) == ("The recipient was removed.", "ops@acme.test")
    assert smtp_settings.messages == []


class ExplodingBackend(BaseEmailBackend):
    """A mail backend with a bug whose message holds a credential."""

    def send_messages(self, email_messages):
        raise RuntimeError("smtp://alerts:hunter2@mail.internal.test refused")


def test_an_unexpected_error_is_tried_again_and_recorded_without_its_message(
    workspace_a, alice, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.ExplodingBackend"
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    sent = send_test_to(workspace_a, alice)

    outcome = delivery.delivery_attempt(delivery_id=str(sent.pk))

    assert (outcome.status, outcome.retry_in) == ("pending", 30)
    sent.refresh_from_db()
    assert sent.last_error.startswith("Sending failed unexpectedly. Reference: ")
    assert "hunter2" not in sent.last_error and "mail.internal" not in sent.last_error


def test_a_failed_run_alert_says_what_failed_with_counts_connection_and_links(
    workspace_a, alice, smtp_settings, settings
):
    settings.SITE_URL = "https://imports.example.test/"  # a trailing slash makes no "//"
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    import_obj = an_import(workspace_a, alice)
    run = finished_run(
        import_obj, "failed", error="Google rejected the key.", rejected=10, unchanged=20
    )
    alert = alerts.import_alert_evaluate(import_id=import_obj.pk)

    assert delivery.delivery_attempt(delivery_id=str(alert.deliveries.get().pk)).status == (
        "delivered"
    )

    [message] = smtp_settings.messages
    site = "https://imports.example.test/w/acme/settings"
    assert message.get_content().replace("\r\n", "\n") == (
        "Import “Nightly users” failed.\n"
        "\n"
        "Google rejected the key.\n"
        "\n"
        "Rows read: 120\n"
        "Rows written: 90\n"
        "Rows unchanged: 20\n"
        "Rows rejected: 10\n"
        "\n"
        "Connection: Warehouse Nightly users (analytics-prod.events_v2)\n"
        "\n"
        f"Run: {site}/partners/bigquery/imports/runs/{run.pk}/\n"
        f"Import: https://imports.example.test{import_obj.get_absolute_url()}\n"
        f"Notification settings: {site}/notifications/\n"
        "\n"
        "Workspace: Acme\n"
        "Event: run.failed\n"
    )
