"""Capturing what the app lets out: log records, response bodies, and every command sent
to the test's Redis database (where Celery messages and the cache live)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import redis
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import Client

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class LogCapture(logging.Handler):
    """Every record that reaches the root logger, formatted with its traceback and any
    `extra` fields (a JSON log formatter would print them: google-auth puts request
    headers there)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
        self.lines.append(self.format(record) + (f" {extra!r}" if extra else ""))

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        self._old_level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._old_level)


class RecordingClient(Client):
    """A test client that keeps every response it gets (each hop of a redirect too): the
    status line's path, the headers, the body and the text of any messages cookie."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responses: list[tuple[str, str]] = []

    def request(self, **request: Any):
        response = super().request(**request)
        if response.streaming:
            content = b"".join(response.streaming_content)
            response.streaming_content = [content]
        else:
            content = response.content
        text = response.serialize_headers().decode("latin-1") + "\n\n"
        text += content.decode("utf-8", "replace")
        morsel = response.cookies.get("messages")
        if morsel is not None and morsel.value:
            # The messages cookie is signed and may be compressed: read what it says.
            decoded = CookieStorage(HttpRequest())._decode(morsel.value) or []
            text += "\n" + "\n".join(str(message) for message in decoded)
        where = f"{request['REQUEST_METHOD']} {request['PATH_INFO']} {response.status_code}"
        self.responses.append((where, text))
        return response


_MONITOR_LINE = re.compile(rb"^\d+\.\d+ \[(\d+) [^\]]*\] (.*)$", re.DOTALL)
_ESCAPES = {"n": 10, "r": 13, "t": 9, "a": 7, "b": 8}


def _arguments(text: str) -> list[bytes]:
    """Undo Redis's quoting of MONITOR arguments ("..." with \\", \\\\, \\n, \\xHH)."""
    args: list[bytes] = []
    i = 0
    while i < len(text):
        if text[i] != '"':
            i += 1
            continue
        i += 1
        out = bytearray()
        while i < len(text) and text[i] != '"':
            if text[i] == "\\" and i + 1 < len(text):
                escaped = text[i + 1]
                if escaped == "x":
                    out.append(int(text[i + 2 : i + 4], 16))
                    i += 4
                    continue
                out.append(_ESCAPES.get(escaped, ord(escaped)))
                i += 2
                continue
            out.append(ord(text[i]))
            i += 1
        args.append(bytes(out))
        i += 1
    return args


class RedisMonitor(threading.Thread):
    """Runs MONITOR and keeps the arguments of every command sent to one database."""

    def __init__(self, url: str) -> None:
        super().__init__(name="redis-monitor", daemon=True)
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.commands: list[list[bytes]] = []
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        with self.client.monitor() as monitor:
            self.ready.set()
            while not self._stopping.is_set():
                raw = monitor.connection.read_response()
                match = _MONITOR_LINE.match(raw)
                if match and int(match.group(1)) == self.db:
                    self.commands.append(_arguments(match.group(2).decode("latin-1")))

    def __enter__(self) -> RedisMonitor:
        self.start()
        assert self.ready.wait(10), "MONITOR did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.client.ping()  # wakes the monitor up so that it sees the flag
        self.join(10)

    def payloads(self) -> list[bytes]:
        return [b" ".join(command) for command in self.commands]

    def messages(self) -> list[dict[str, Any]]:
        """Every kombu message found in a command, with its body decoded."""
        found = []
        for command in self.commands:
            for arg in command[1:]:
                if not arg.startswith((b"{", b"[")):
                    continue
                try:
                    value = json.loads(arg)
                except ValueError:
                    continue
                found.extend(_kombu_messages(value))
        return found


def _kombu_messages(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        properties = value.get("properties")
        if "body" in value and isinstance(properties, dict):
            body = value["body"]
            if properties.get("body_encoding") == "base64":
                try:
                    body = base64.b64decode(body, validate=True)
                except (binascii.Error, ValueError):
                    body = body.encode()
            else:
                body = json.dumps(body).encode()
            yield {"headers": value.get("headers") or {}, "body": body}
        for item in value.values():
            yield from _kombu_messages(item)
    elif isinstance(value, list):
        for item in value:
            yield from _kombu_messages(item)
