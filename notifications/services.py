"""Changes to a workspace's notifications: events, recipients, webhooks, Send test.

Every change is audited; no entry holds a webhook's signing secret or its URL's path
(a Slack incoming-webhook URL is a credential): the host is enough to tell them apart.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.ratelimit import SlidingWindow
from connections import crypto
from notifications import payloads, signing
from notifications.alerts import alert_send
from notifications.events import TOGGLED_KINDS, EventKind
from notifications.models import Alert, NotificationSettings, Recipient, Webhook
from workspaces.models import Workspace
from workspaces.services import audit_record

MAX_RECIPIENTS = 50
MAX_WEBHOOKS = 20
TEST_RATE_LIMIT = 5  # Send test clicks per user per minute
SEND_TEST_WINDOW = SlidingWindow("alert-test", limit=TEST_RATE_LIMIT, seconds=60)


class NotificationChangeRefused(Exception):
    """A change the rules refuse; the message is for the admin."""


def notification_settings_get(*, workspace: Workspace) -> NotificationSettings:
    row, _ = NotificationSettings.objects.get_or_create(workspace=workspace)
    return row


def notification_events_update(
    *, workspace: Workspace, actor: User, events: list[str]
) -> NotificationSettings:
    chosen = [str(kind) for kind in TOGGLED_KINDS if kind in events]
    with transaction.atomic():
        row = NotificationSettings.objects.select_for_update().get(
            pk=notification_settings_get(workspace=workspace).pk
        )
        before = list(row.events)
        if before == chosen:
            return row
        row.events = chosen
        row.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            action="notifications.events_changed",
            target=row,
            details={
                "turned_on": [e for e in chosen if e not in before],
                "turned_off": [e for e in before if e not in chosen],
            },
        )
    return row


def recipient_add(*, workspace: Workspace, actor: User, email: str) -> Recipient:
    email = email.strip()
    with transaction.atomic():
        if Recipient.objects.filter(workspace=workspace).count() >= MAX_RECIPIENTS:
            raise NotificationChangeRefused(
                f"A workspace can have at most {MAX_RECIPIENTS} email recipients."
            )
        if Recipient.objects.filter(workspace=workspace, email__iexact=email).exists():
            raise NotificationChangeRefused(f"{email} already receives alerts.")
        try:
            with transaction.atomic():
                recipient = Recipient.objects.create(
                    workspace=workspace, email=email, created_by=actor
                )
        except IntegrityError as error:  # added at the same moment by someone else
            raise NotificationChangeRefused(f"{email} already receives alerts.") from error
        audit_record(
            workspace=workspace,
            actor=actor,
            action="notifications.recipient_added",
            target=recipient,
            details={"email": email},
        )
    return recipient


@transaction.atomic
def recipient_remove(*, recipient: Recipient, actor: User) -> None:
    audit_record(
        workspace=recipient.workspace,
        actor=actor,
        action="notifications.recipient_removed",
        target=recipient,
        details={"email": recipient.email},
    )
    recipient.delete()


def url_display(url: str) -> str:
    """Scheme, host and port; the path (a Slack URL's secret) is shown as …"""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
    return shown + ("/…" if parts.path.strip("/") or parts.query else "/")


def _url_digest(url: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), url.encode(), hashlib.sha256).hexdigest()


def _audit_webhook(webhook: Webhook) -> dict[str, Any]:
    return {"name": webhook.name, "url": webhook.url_display, "payload": webhook.payload_format}


def webhook_add(
    *, workspace: Workspace, actor: User, name: str, url: str, payload_format: str
) -> tuple[Webhook, str]:
    """Save the webhook (URL checked by the form: scheme, public address) and return it
    with its new signing secret, which is shown once and then only used to sign."""
    secret = signing.new_secret()
    webhook = Webhook(
        workspace=workspace,
        name=name.strip(),
        url_display=url_display(url)[:300],
        url_digest=_url_digest(url),
        encrypted_url=crypto.encrypt_key(url.encode("utf-8")),
        encrypted_secret=crypto.encrypt_key(secret.encode("utf-8")),
        payload_format=payload_format,
        created_by=actor,
    )
    with transaction.atomic():
        if Webhook.objects.filter(workspace=workspace).count() >= MAX_WEBHOOKS:
            raise NotificationChangeRefused(
                f"A workspace can have at most {MAX_WEBHOOKS} webhooks."
            )
        try:
            with transaction.atomic():
                webhook.save()
        except IntegrityError as error:
            raise NotificationChangeRefused("This webhook URL is already in the list.") from error
        audit_record(
            workspace=workspace,
            actor=actor,
            action="notifications.webhook_added",
            target=webhook,
            details=_audit_webhook(webhook),
        )
    return webhook, secret


@transaction.atomic
def webhook_remove(*, webhook: Webhook, actor: User) -> None:
    audit_record(
        workspace=webhook.workspace,
        actor=actor,
        action="notifications.webhook_removed",
        target=webhook,
        details=_audit_webhook(webhook),
    )
    webhook.delete()


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook, actor: User) -> str:
    """A new signing secret (the old one stops at once); returned to be shown once."""
    secret = signing.new_secret()
    webhook.encrypted_secret = crypto.encrypt_key(secret.encode("utf-8"))
    webhook.secret_set_at = timezone.now()
    webhook.save(update_fields=["encrypted_secret", "secret_set_at"])
    audit_record(
        workspace=webhook.workspace,
        actor=actor,
        action="notifications.webhook_secret_rotated",
        target=webhook,
        details=_audit_webhook(webhook),
    )
    return secret


def webhooks_reencrypt() -> int:
    """Re-encrypt every webhook URL and secret under the newest FERNET_KEYS entry."""
    done = 0
    with transaction.atomic():
        for webhook in Webhook.objects.select_for_update().only(
            "pk", "encrypted_url", "encrypted_secret"
        ):
            webhook.encrypted_url = crypto.rotate(webhook.encrypted_url)
            webhook.encrypted_secret = crypto.rotate(webhook.encrypted_secret)
            webhook.save(update_fields=["encrypted_url", "encrypted_secret"])
            done += 1
    return done


def send_test_allowed(*, user: User) -> bool:
    """Count one Send test for `user`; False once the minute's allowance is used (each one
    sends mail or calls a URL on the admin's behalf)."""
    return SEND_TEST_WINDOW.attempt(str(user.pk)) == 0


@transaction.atomic
def destination_send_test(
    *,
    workspace: Workspace,
    actor: User,
    recipient: Recipient | None = None,
    webhook: Webhook | None = None,
) -> Alert:
    """Send a test alert to one recipient or webhook; its delivery is listed like any other."""
    if recipient is not None:
        target: Recipient | Webhook = recipient
        to = recipient.email
    elif webhook is not None:
        target, to = webhook, webhook.url_display
    else:
        raise ValueError("A test is sent to a recipient or a webhook.")
    alert = alert_send(
        workspace=workspace,
        kind=EventKind.TEST,
        payload=payloads.test_event(workspace=workspace, actor=actor),
        recipients=[recipient] if recipient else [],
        webhooks=[webhook] if webhook else [],
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="notifications.test_sent",
        target=target,
        details={"to": to},
    )
    return alert
