"""Shared plumbing for the stand-in HTTP servers: a threaded loopback server running in a
daemon thread, a request log, and fault injection (errors, hangs, dropped connections)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

FAULT_KINDS = ("backend_error", "rate_limit", "hang", "drop")


@dataclass
class Fault:
    """One injected fault. ``remaining`` is None for "until cleared"."""

    kind: str
    remaining: int | None
    match: str | None
    seconds: float
    after: int | None = None  # streaming calls: fail after this many responses
    detail: str | None = None  # names in a documented error's message (see standins.errors)
    fired: int = 0

    def matches(self, operation: str, path: str) -> bool:
        if self.match is None:
            return True
        return self.match == operation or self.match in path


class FaultInjector:
    """Thread-safe queue of faults, consumed by the requests they match."""

    def __init__(self, default_hang_seconds: float, kinds: tuple[str, ...] = FAULT_KINDS) -> None:
        self.default_hang_seconds = default_hang_seconds
        self.kinds = kinds
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._release = threading.Event()

    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        match: str | None = None,
        seconds: float | None = None,
        after: int | None = None,
        detail: str | None = None,
    ) -> Fault:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {self.kinds}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for 'until cleared')")
        if after is not None and after < 0:
            raise ValueError("after must be 0 or more responses")
        fault = Fault(
            kind=kind,
            remaining=times,
            match=match,
            seconds=self.default_hang_seconds if seconds is None else seconds,
            after=after,
            detail=detail,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(operation, path):
                    fault.fired += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Drop pending faults and wake up any request that is currently hanging."""
        with self._lock:
            self._faults.clear()
            release, self._release = self._release, threading.Event()
        release.set()

    def hang(self, seconds: float) -> None:
        with self._lock:
            release = self._release
        release.wait(seconds)


@dataclass(frozen=True)
class RecordedRequest:
    """What a stand-in server saw: enough for a test to assert what was (not) called."""

    method: str
    path: str
    operation: str
    account: str | None
    status: int | None
    fault: str | None = None
    time: float = field(default_factory=time.time)
    sql: str | None = None  # a query job's SQL (jobs.insert / jobs.query), as it was sent
    # A query job's cost settings, as sent: maximumBytesBilled (None: none), labels, dryRun.
    maximum_bytes_billed: int | None = None
    labels: dict[str, str] | None = None
    dry_run: bool = False


class RecordsCalls:
    """A thread-safe log of what a stand-in answered, for tests to read.

    Every entry has an ``operation``; the HTTP services log RecordedRequests, the storage
    gate RecordedCalls.
    """

    def __init__(self) -> None:
        self._log_lock = threading.Lock()
        self._requests: list[Any] = []

    def record(self, entry: Any) -> None:
        with self._log_lock:
            self._requests.append(entry)

    @property
    def requests(self) -> list[Any]:
        with self._log_lock:
            return list(self._requests)

    def operations(self) -> list[str]:
        return [entry.operation for entry in self.requests]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, service: LoopbackService) -> None:
        self.service = service
        super().__init__(address, handler)


class BaseHandler(BaseHTTPRequestHandler):
    """Request handler with JSON helpers; subclasses implement ``handle_request``."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK of the headers (about 40 ms on Linux), on every answer.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "standins"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        try:
            self.handle_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def handle_request(self) -> None:
        raise NotImplementedError

    @property
    def service(self) -> Any:
        return self.server.service

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def drop(self) -> None:
        """Close the connection without answering (the client sees a reset/EOF)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        return


class LoopbackService(RecordsCalls):
    """A ThreadingHTTPServer bound to loopback, served from a daemon thread."""

    handler_class: ClassVar[type[BaseHandler]]

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0
    ) -> None:
        super().__init__()
        self.host = host
        self._requested_port = port
        self.faults = FaultInjector(hang_seconds)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server((self.host, self._requested_port), self.handler_class, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.faults.clear()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> LoopbackService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- faults and request log ---------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        match: str | None = None,
        seconds: float | None = None,
        detail: str | None = None,
    ) -> Fault:
        """Make the next ``times`` matching requests fail.

        kind: ``backend_error`` (503), ``rate_limit``, ``hang`` (wait ``seconds`` then close
        without answering) or ``drop`` (close without answering); the BigQuery gate also
        answers Google's documented errors (standins.errors.DOCUMENTED, with ``detail``).
        ``match`` is an operation name such as ``"datasets.get"`` or a substring of the
        path; None matches everything. ``times=None`` keeps the fault until ``reset()``.
        """
        return self.faults.inject(kind, times=times, match=match, seconds=seconds, detail=detail)

    def reset(self) -> None:
        self.faults.clear()
        self.clear_requests()
