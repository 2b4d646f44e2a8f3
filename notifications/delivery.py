"""Sending one delivery: claim it, send it, record status, latency and attempts.

A delivery is claimed with a conditional UPDATE (pending and due, or sending with an
expired lease), so a redelivered task or the sweep never sends it twice at once. A
failure that may pass (a timeout, a 5xx, a 429, an SMTP 4xx) is tried again after
NOTIFICATIONS_RETRY_BASE_SECONDS × 1, 2, 4… up to NOTIFICATIONS_MAX_ATTEMPTS attempts;
one that will not pass (a refused address, a 4xx, a redirect, an SMTP 5xx) ends it.
Error texts are our own: a library's exception can hold the URL, and a Slack webhook's
URL is its credential.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q
from django.utils import timezone

from connections import crypto
from notifications import payloads, signing, webhooks_http
from notifications.addresses import AddressRefused
from notifications.models import Delivery, Webhook

logger = logging.getLogger(__name__)

USER_AGENT = "BigQueryImports-Alerts/1"
MAX_DELAY_SECONDS = 3600


class SendFailed(Exception):
    def __init__(self, message: str, *, permanent: bool, response_status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.response_status = response_status


class Refused(SendFailed):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


@dataclass
class Outcome:
    status: str
    retry_in: float | None = None  # seconds until the next attempt, when one is planned


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base × 1, 2, 4…"""
    base = float(settings.NOTIFICATIONS_RETRY_BASE_SECONDS)
    return min(MAX_DELAY_SECONDS, base * 2 ** (attempts - 1))


def lease_seconds() -> float:
    return (
        settings.NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT
        + settings.NOTIFICATIONS_WEBHOOK_READ_TIMEOUT
        + (settings.EMAIL_TIMEOUT or 0)
        + 60
    )


def delivery_claim(*, delivery_id: str, now: dt.datetime | None = None) -> Delivery | None:
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Delivery.Status.SENDING, lease_until__lt=now)
        )
        .update(
            status=Delivery.Status.SENDING,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            lease_until=now + dt.timedelta(seconds=lease_seconds()),
        )
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("alert", "workspace", "recipient", "webhook").get(
        pk=delivery_id
    )


def delivery_attempt(*, delivery_id: str) -> Outcome:
    """Make one attempt if the delivery is due; 'skipped' when it is not (or is taken)."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return Outcome("skipped")
    started = time.monotonic()
    response_status = None
    try:
        if delivery.channel == Delivery.Channel.EMAIL:
            _send_email(delivery)
        else:
            response_status = _send_webhook(delivery)
    except SendFailed as failure:
        latency = int((time.monotonic() - started) * 1000)
        return _record_failure(delivery, failure, latency)
    except Exception as error:
        # Recorded and retried like any failure, so that attempts stay counted. Only the
        # type is logged: a library's message can hold the URL (a Slack URL's secret).
        reference = uuid.uuid4().hex[:12]
        logger.error(
            "delivery %s: unexpected %s (reference %s)",
            delivery.pk,
            type(error).__name__,
            reference,
        )
        unexpected = SendFailed(
            f"Sending failed unexpectedly. Reference: {reference} (in the server log).",
            permanent=False,
        )
        return _record_failure(delivery, unexpected, int((time.monotonic() - started) * 1000))
    latency = int((time.monotonic() - started) * 1000)
    _fenced(delivery).update(
        status=Delivery.Status.DELIVERED,
        latency_ms=latency,
        response_status=response_status,
        last_error="",
        delivered_at=timezone.now(),
        next_attempt_at=None,
        lease_until=None,
    )
    logger.info(
        "delivery %s delivered (attempt %s, %s ms)", delivery.pk, delivery.attempts, latency
    )
    return Outcome(Delivery.Status.DELIVERED)


def _fenced(delivery: Delivery):
    """Only the attempt that claimed it records its outcome (not a stale duplicate)."""
    return Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts
    )


def _record_failure(delivery: Delivery, failure: SendFailed, latency: int) -> Outcome:
    last = failure.permanent or delivery.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS
    if isinstance(failure, Refused):
        status = Delivery.Status.REFUSED
    elif last:
        status = Delivery.Status.FAILED
    else:
        status = Delivery.Status.PENDING
    delay = None if last else retry_delay(delivery.attempts)
    _fenced(delivery).update(
        status=status,
        latency_ms=latency,
        response_status=failure.response_status,
        last_error=str(failure)[:500],
        lease_until=None,
        next_attempt_at=None if delay is None else timezone.now() + dt.timedelta(seconds=delay),
    )
    logger.warning(
        "delivery %s attempt %s: %s%s",
        delivery.pk,
        delivery.attempts,
        failure,
        "" if delay is None else f" Trying again in {delay:g} s.",
    )
    return Outcome(status, retry_in=delay)


# -- email -----------------------------------------------------------------------------------


def _send_email(delivery: Delivery) -> None:
    if delivery.recipient is None:
        raise SendFailed("The recipient was removed.", permanent=True)
    payload = delivery.alert.payload
    message = EmailMessage(
        subject=payloads.email_subject(payload),
        body=payloads.email_body(payload),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient.email],
        headers={"X-Alert-Event": payload["event"], "X-Alert-Delivery": str(delivery.pk)},
        connection=get_connection(),  # EMAIL_* settings, EMAIL_TIMEOUT per operation
    )
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise SendFailed(
            f"The mail server refused the address (SMTP {codes[0] if codes else '?'}).",
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as error:
        raise SendFailed(
            f"The mail server answered SMTP {error.smtp_code}.", permanent=error.smtp_code >= 500
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SendFailed(
            f"Could not reach the mail server ({type(error).__name__}).", permanent=False
        ) from None


# -- webhooks --------------------------------------------------------------------------------


def webhook_url(webhook: Webhook) -> str:
    return crypto.decrypt_key(webhook.encrypted_url).decode("utf-8")


def webhook_secret(webhook: Webhook) -> str:
    return crypto.decrypt_key(webhook.encrypted_secret).decode("utf-8")


RETRIED_STATUSES = {408, 425, 429}


def _send_webhook(delivery: Delivery) -> int:
    webhook = delivery.webhook
    if webhook is None:
        raise SendFailed("The webhook was removed.", permanent=True)
    try:
        url, secret = webhook_url(webhook), webhook_secret(webhook)
    except crypto.KeyDecryptionError:
        raise SendFailed(
            "The webhook's URL and secret cannot be decrypted: FERNET_KEYS lacks the key they "
            "were encrypted with.",
            permanent=True,
        ) from None
    host = urlsplit(url).hostname or "?"
    payload = delivery.alert.payload
    body = json.dumps(
        payloads.webhook_body(
            payload, delivery_id=str(delivery.pk), slack=webhook.payload_format == "slack"
        ),
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: payload["event"],
        signing.DELIVERY_HEADER: str(delivery.pk),
        signing.SIGNATURE_HEADER: signing.signature_header(
            secret=secret, timestamp=timestamp, body=body
        ),
    }
    timeouts = (
        settings.NOTIFICATIONS_WEBHOOK_CONNECT_TIMEOUT,
        settings.NOTIFICATIONS_WEBHOOK_READ_TIMEOUT,
    )
    try:
        with webhooks_http.session() as http:
            response = http.post(
                url,
                data=body,
                headers=headers,
                timeout=timeouts,
                allow_redirects=False,
                stream=True,
            )
            response.close()
    except AddressRefused as refused:
        raise Refused(str(refused)) from None
    except requests.ConnectTimeout:
        raise SendFailed(
            f"Could not connect to {host} within {timeouts[0]:g} s.", permanent=False
        ) from None
    except requests.ReadTimeout:
        raise SendFailed(
            f"{host} did not answer within {timeouts[1]:g} s.", permanent=False
        ) from None
    except requests.exceptions.SSLError:
        raise SendFailed(
            f"TLS with {host} failed (is its certificate valid for that name?).", permanent=False
        ) from None
    except (requests.RequestException, OSError) as error:
        raise SendFailed(
            f"Could not reach {host} ({type(error).__name__}).", permanent=False
        ) from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    if 300 <= code < 400:
        raise SendFailed(
            f"{host} answered HTTP {code}, a redirect; redirects are not followed: use the final "
            "URL.",
            permanent=True,
            response_status=code,
        )
    raise SendFailed(
        f"{host} answered HTTP {code}.",
        permanent=code < 500 and code not in RETRIED_STATUSES,
        response_status=code,
    )
