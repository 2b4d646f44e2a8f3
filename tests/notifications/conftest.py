"""Real receivers on loopback: an SMTP server (aiosmtpd) that keeps every message it
accepts, and an HTTP server that checks each webhook delivery's signature and answers as
the test plans (a status, or hanging until released)."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import close_old_connections

from notifications import signing


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll `predicate` (with fresh database connections) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


# -- SMTP ----------------------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP answer to RCPT TO

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


class _LoopbackController(Controller):
    """aiosmtpd on a free port: the port the server was given is read back before the
    controller's own start-up check connects to it."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: _Inbox

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.inbox.messages

    def env(self) -> dict[str, str]:
        return {"EMAIL_HOST": self.host, "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = _Inbox()
    controller = _LoopbackController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=controller.port, inbox=inbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """This process sends mail to the loopback SMTP server (pytest-django's default keeps
    mail in memory)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    return smtp_server


# -- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    at: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each request with the next planned answer (an HTTP status or "hang"), then
    with `default`. A hanging request waits until `release()` (or the client gives up)."""

    url: str = ""
    secret: str = ""
    default: int = 200
    plan: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hanging: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    def answer(self) -> int | str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default

    def release(self) -> None:
        self.released.set()


def _handler(receiver: WebhookReceiver):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            header = self.headers.get(signing.SIGNATURE_HEADER, "")
            ok = bool(receiver.secret) and signing.verify(
                secret=receiver.secret, header=header, body=body, now=int(time.time())
            )
            receiver.received.append(
                Received(self.path, dict(self.headers.items()), body, ok, time.time())
            )
            answer = receiver.answer()
            if answer == "hang":
                receiver.hanging.set()
                receiver.released.wait(timeout=120)
                answer = 200
            if isinstance(answer, str) and answer.startswith("redirect"):
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            else:
                self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()


@pytest.fixture
def private_webhooks(settings):
    """The loopback receiver is a private address: the tests that use it allow those."""
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True


def alerts_worker_env(smtp_server: SmtpServer | None = None, **extra: str) -> dict[str, str]:
    env = {
        "NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS": "true",
        "NOTIFICATIONS_RETRY_BASE_SECONDS": "0.5",
        "NOTIFICATIONS_WEBHOOK_READ_TIMEOUT": "5",
        "SITE_URL": "https://imports.example.test",
    }
    if smtp_server is not None:
        env.update(smtp_server.env())
    env.update(extra)
    return env
