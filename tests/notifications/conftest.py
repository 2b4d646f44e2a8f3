"""Real receivers on loopback: the SMTP server of tests.fixtures.mail, and an HTTP server
that checks each webhook delivery's signature and answers as the test plans (a status, or
hanging until released)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from notifications import signing
from tests.fixtures.mail import SmtpServer

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
    """Answers each request with the next planned answer (an HTTP status, "hang", or a
    function called when the request arrives that returns one), then with `default`. A
    hanging request waits until `release()` (or the client gives up)."""

    url: str = ""
    secret: str = ""
    default: int = 200
    plan: list[Any] = field(default_factory=list)
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
            if callable(answer):
                answer = answer()
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
