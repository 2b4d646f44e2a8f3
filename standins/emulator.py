"""Run the local BigQuery emulator (PyPI ``local-bigquery``) as a subprocess on loopback.

The emulator lives in its own Python 3.13 virtual environment (``.venv-bq``) with DuckDB
extensions pre-installed under ``.bq-home`` (see ``bin/install-emulator``).

How it handles projects: ``--project`` only names the project that exists at start (plus
``--dataset``, a dataset created in it). Any project ID becomes usable as soon as a dataset
is created in it through the API; listing datasets of an unknown project answers an empty
list. So one emulator serves every project a test needs, and the gate decides which
projects "exist".

Resetting between tests: deleting every dataset (``deleteContents=true``) takes a few
milliseconds each, far less than restarting the emulator (1-2 s).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from threading import Thread
from typing import IO, Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "run bin/install-emulator first"
# The project and (hidden) dataset the emulator creates at start; reset() keeps them.
DEFAULT_PROJECT = "standins-default"
DEFAULT_DATASET = "_standins"


class EmulatorError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# Run by the emulator's own interpreter before it becomes the emulator: ask Linux to stop
# it when the thread that started it ends, so a killed test run leaves no orphan (start it
# from a thread that lives as long as you need it, e.g. the main thread), unless that
# thread has already gone. Not a preexec_fn: Python code between fork and exec in a
# process whose threads are inside gRPC calls (the storage gate, a client reconnecting)
# can abort the child ("epoll_wait error: Bad file descriptor", exit code -6), while
# without one the child is started by vfork and nothing runs before exec.
_DIE_WITH_PARENT = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit("the process that started the emulator has ended")
os.execv(sys.argv[2], sys.argv[2:])
"""


def _default_venv() -> Path:
    return Path(os.environ.get("STANDINS_BQ_VENV", PROJECT_ROOT / ".venv-bq"))


def _default_home() -> Path:
    return Path(os.environ.get("STANDINS_BQ_HOME", PROJECT_ROOT / ".bq-home"))


class Emulator:
    """A ``local-bigquery serve`` subprocess on free loopback ports.

    ``rest_url`` is the REST base (use as a BigQuery client's ``api_endpoint``, or put the
    gate in front of it); ``grpc_target`` is ``host:port`` of the Storage Read/Write API.
    """

    def __init__(
        self,
        *,
        venv: Path | str | None = None,
        home: Path | str | None = None,
        data_dir: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        grpc_port: int = 0,
        project: str = DEFAULT_PROJECT,
        startup_timeout: float = 30.0,
    ) -> None:
        self.venv = Path(venv) if venv else _default_venv()
        self.home = Path(home) if home else _default_home()
        self.host = host
        self.project = project
        self.startup_timeout = startup_timeout
        self._requested_ports = (port, grpc_port)
        self._data_dir = Path(data_dir) if data_dir else None
        self._temp_dir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: deque[str] = deque(maxlen=40)
        self.port = 0
        self.grpc_port = 0
        self.session = requests.Session()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "local-bigquery"

    def start(self) -> None:
        if self._process is not None:
            return
        if not self.executable.exists():
            raise EmulatorError(f"BigQuery emulator not found at {self.executable}: {INSTALL_HINT}")
        if not (self.home / ".duckdb").is_dir():
            raise EmulatorError(f"DuckDB extensions missing under {self.home}: {INSTALL_HINT}")
        if self._data_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="standins-bq-")
            self._data_dir = Path(self._temp_dir)
        attempts = 1 if all(self._requested_ports) else 3
        for attempt in range(attempts):
            self.port = self._requested_ports[0] or free_port(self.host)
            self.grpc_port = self._requested_ports[1] or free_port(self.host)
            try:
                self._spawn()
                return
            except EmulatorError:
                self._kill()
                # A port picked as free may have been taken meanwhile: try new ones.
                if attempt == attempts - 1 or not self._port_clash():
                    raise

    def _spawn(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
        }
        env["HOME"] = str(self.home)
        command = [
            *self._launcher(),
            str(self.executable),
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--grpc-port",
            str(self.grpc_port),
            "--project",
            self.project,
            "--dataset",
            DEFAULT_DATASET,
            "--data-dir",
            str(self._data_dir),
        ]
        self._stderr.clear()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        atexit.register(self._kill)
        Thread(target=self._drain, args=(self._process.stderr,), daemon=True).start()
        self._wait_ready()

    def _launcher(self) -> list[str]:
        if sys.platform != "linux":
            return []
        return [str(self.venv / "bin" / "python"), "-c", _DIE_WITH_PARENT, str(os.getpid())]

    def _drain(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        probe = f"{self.rest_url}/bigquery/v2/projects/{self.project}/datasets"
        while time.monotonic() < deadline:
            assert self._process is not None  # noqa: S101 - narrowing for type checkers
            if self._process.poll() is not None:
                raise EmulatorError(
                    f"BigQuery emulator exited with code {self._process.returncode} "
                    f"during start:\n{self.stderr_tail()}"
                )
            try:
                if self.session.get(probe, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise EmulatorError(
            f"BigQuery emulator did not answer {probe} within {self.startup_timeout:.0f} s:\n"
            f"{self.stderr_tail()}"
        )

    def _port_clash(self) -> bool:
        return any(
            "address already in use" in line.lower() or "failed to bind" in line.lower()
            for line in self._stderr
        )

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self._stderr)[-lines:]) or "(no output)"

    def stop(self) -> None:
        self._kill()
        self.session.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
            self._data_dir = None

    def restart(self) -> None:
        """Start it again on the same ports, without data when it made its own data folder.

        The emulator slows down as data accumulates (a query 8 times slower after a few
        hundred small datasets), and deleting them does not give its memory back.
        """
        requested = self._requested_ports
        self._requested_ports = (self.port, self.grpc_port)
        try:
            self.stop()
            self.start()
        finally:
            self._requested_ports = requested

    def rss_bytes(self) -> int | None:
        """The emulator process's resident memory, where /proc tells it."""
        if self._process is None:
            return None
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The code the process ended with (negative: the signal that ended it); None while
        it runs or before it started."""
        return None if self._process is None else self._process.poll()

    def answering(self) -> bool:
        """Whether the process runs and its REST port takes connections. A crash closes the
        port, and so does a shutdown stuck on a request (the Storage Read port then stays
        open), so a running process alone does not say the emulator can be used."""
        if not self.running:
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def data_dir(self) -> Path | None:
        return self._data_dir

    # -- direct (ungated) API helpers ------------------------------------------------------------
    def api(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        """Call the emulator's REST API directly (``path`` below ``/bigquery/v2``)."""
        response = self.session.request(
            method, f"{self.rest_url}/bigquery/v2{path}", timeout=60, **kwargs
        )
        if response.status_code not in expect:
            raise EmulatorError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def projects(self) -> list[str]:
        payload = self.api("GET", "/projects")
        return [item["projectReference"]["projectId"] for item in payload.get("projects") or []]

    def datasets(self, project: str, *, include_hidden: bool = True) -> list[str]:
        payload = self.api(
            "GET", f"/projects/{project}/datasets", params={"all": str(include_hidden).lower()}
        )
        return [item["datasetReference"]["datasetId"] for item in payload.get("datasets") or []]

    def reset(self, projects: Iterable[str] | None = None) -> None:
        """Delete every dataset (with its tables), or only those of ``projects``.

        The emulator's own default dataset is kept.
        """
        for project in self.projects() if projects is None else projects:
            for dataset in self.datasets(project):
                if (project, dataset) == (self.project, DEFAULT_DATASET):
                    continue
                self.api(
                    "DELETE",
                    f"/projects/{project}/datasets/{dataset}",
                    params={"deleteContents": "true"},
                    expect=(200, 204, 404),
                )
