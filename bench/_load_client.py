"""The load generator of bench/load.py: locust users, headless, in this process.

bench/load.py starts it as a child process (locust monkey-patches the standard library
with gevent, which the parent's threads — the BigQuery stand-in's gate and token
endpoint — must not see) and gives it a plan, a JSON file with the base URL, the
accounts and the objects to visit. Every virtual user signs in once; when all have, this
prints "go" and the users browse for the planned seconds; then it prints "done" and
writes every request's start time, latency and outcome to the result file.

    .venv/bin/python bench/_load_client.py PLAN.json RESULT.json   # bench/load.py does this
"""

from __future__ import annotations

import html
import json
import random
import re
import resource
import sys
import time
from collections import defaultdict
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gevent
from gevent.event import Event
from locust import FastHttpUser, between, constant, events, task
from locust.env import Environment
from locust.exception import CatchResponseError, StopUser

PLAN: dict[str, Any] = {}
SIGNED_IN: list[float] = []
SIGN_IN_FAILED: list[str] = []
GO = Event()
DEADLINE = [float("inf")]
TIMES: dict[str, list[tuple[float, float]]] = defaultdict(list)
ERRORS: dict[str, int] = defaultdict(int)
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PROGRESS_POLL = re.compile(r'hx-get="([^"]+/progress/[^"]*)"')
SECURE_HOP = ("https", "wss", "http")


@events.request.add_listener
def record(name: str, response_time: float, exception: Any, **_: Any) -> None:
    # when the request was sent (unix time) and how long its answer took (ms)
    TIMES[name].append((time.time() - response_time / 1000, response_time))
    if exception is not None:
        # our failure() messages, or the exception of a request that got no answer
        reason = str(exception) if isinstance(exception, CatchResponseError) else ""
        ERRORS[f"{name}: {reason or type(exception).__name__}"] += 1


class Admin(FastHttpUser):
    """A signed-in admin: the dashboard, a connection, the imports, one import, a run.

    The proxy in front of gunicorn terminates TLS and says so with X-Forwarded-Proto
    (TRUST_X_FORWARDED_PROTO); the cookie jar sends the Secure cookies (session, CSRF) over
    the plain loopback hop, as the browser does over HTTPS to the proxy.
    """

    default_headers = {"X-Forwarded-Proto": "https", "User-Agent": "bench-load"}
    wait_time = between(1, 5)  # replaced from the plan
    accounts_taken = 0

    poll_seconds = 2.0

    def on_start(self) -> None:
        account = PLAN["accounts"][Admin.accounts_taken % len(PLAN["accounts"])]
        Admin.accounts_taken += 1
        started = time.perf_counter()
        if not self.sign_in(account):
            SIGN_IN_FAILED.append(account["username"])
            raise StopUser()
        SIGNED_IN.append(time.perf_counter() - started)
        GO.wait()
        # People do not all click at the same instant: each starts somewhere in a pause.
        gevent.sleep(random.uniform(0, PLAN["think"][1]))

    def sign_in(self, account: dict[str, str]) -> bool:
        """The sign-in page, then the form POSTed with its CSRF token, as a browser does."""
        self.client.cookiejar.set_policy(DefaultCookiePolicy(secure_protocols=SECURE_HOP))
        self.ws = f"/w/{PLAN['slug']}/settings/partners/bigquery"
        page = self.client.get("/signin/", name="sign-in: page")
        token = CSRF_INPUT.search(page.text or "")
        if token is None:
            return False
        with self.client.post(
            "/signin/",
            name="sign-in: POST",
            data=urlencode(
                {
                    "username": account["username"],
                    "password": account["password"],
                    "csrfmiddlewaretoken": token.group(1),
                }
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": PLAN["origin"],
            },
            allow_redirects=False,
            catch_response=True,
        ) as response:
            location = response.headers.get("Location", "")
            if response.status_code != 302 or "signin" in location:
                response.failure(f"sign-in answered {response.status_code} {location}")
                return False
        return True

    def page(self, path: str, name: str, **headers: str) -> str:
        """GET one page; anything but a 200 (a redirect to sign-in too) is an error."""
        if time.monotonic() >= DEADLINE[0]:
            raise StopUser()
        if name in PLAN["skip"]:
            return ""
        with self.client.get(
            path, name=name, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code == 0:  # no answer: the client's 60 s timeout, a reset...
                error = getattr(response, "error", None)
                response.failure(f"no answer ({type(error).__name__})")
            elif response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            return response.text or ""

    def pause(self) -> None:
        """Think time between two pages of a round (locust adds one between rounds)."""
        gevent.sleep(self.wait_time())

    @task
    def browse(self) -> None:
        rng = random
        plan = PLAN
        dashboard = f"{self.ws}/"
        kind = rng.random()
        if kind < 0.3:
            self.page(dashboard, "dashboard")
        elif kind < 0.5:
            page = rng.randint(2, plan["dashboard_pages"])
            self.page(f"{dashboard}?page={page}", "dashboard: page N")
        else:
            filters = rng.choice(
                [
                    {"connected_by": rng.choice(plan["connected_by"])},
                    {
                        "connected_on_after": plan["month_ago"],
                        "connected_on_before": plan["today"],
                    },
                    {"q": f"project-{rng.randrange(97):04d}"},
                    {"sort": rng.choice(["name", "-connected_on", "connected_by", "dataset"])},
                    {"status": "untested", "sort": "-connected_on", "page": rng.randint(1, 5)},
                ]
            )
            self.page(f"{dashboard}?{urlencode(filters)}", "dashboard: filtered")
        self.pause()
        self.page(f"{self.ws}/{rng.choice(plan['connection_ids'])}/", "connection detail")
        self.pause()
        if rng.random() < 0.5:
            self.page(f"{self.ws}/imports/", "imports list")
        else:
            page = rng.randint(2, plan["imports_pages"])
            self.page(f"{self.ws}/imports/?page={page}", "imports list")
        self.pause()
        # Half the admins open the import that is running and watch it as the page does:
        # htmx polls the progress fragment every 2 s.
        watched = rng.random() < 0.5
        import_id = plan["watched_import"] if watched else rng.choice(plan["import_ids"])
        text = self.page(f"{self.ws}/imports/{import_id}/", "import detail")
        poll = PROGRESS_POLL.search(text)
        if poll:
            for _ in range(3):
                gevent.sleep(self.poll_seconds)
                fragment = self.page(
                    html.unescape(poll.group(1)),
                    "progress fragment",
                    **{"HX-Request": "true", "HX-Target": "run-progress"},
                )
                poll = PROGRESS_POLL.search(fragment)
                if not poll:
                    break
        self.pause()
        self.page(f"{self.ws}/imports/runs/{rng.choice(plan['run_ids'])}/", "run page")
        # locust waits once more before the next round


def main() -> None:
    plan_path, result_path = sys.argv[1], sys.argv[2]
    PLAN.update(json.loads(Path(plan_path).read_text()))
    low, high = PLAN["think"]
    Admin.wait_time = between(low, high)
    Admin.host = PLAN["host"]
    users = PLAN["users"]

    environment = Environment(user_classes=[Admin], events=events)
    runner = environment.create_local_runner()
    started = time.perf_counter()
    runner.start(users, spawn_rate=users)
    sign_in_deadline = time.monotonic() + PLAN["sign_in_timeout"]
    while len(SIGNED_IN) + len(SIGN_IN_FAILED) < users:
        if time.monotonic() > sign_in_deadline:
            break
        gevent.sleep(0.1)
    sign_in_seconds = time.perf_counter() - started
    sign_in_times, sign_in_errors = dict(TIMES), dict(ERRORS)
    TIMES.clear()
    ERRORS.clear()
    solo_times, solo_errors = solo(environment, PLAN["solo_rounds"])
    cpu_before = _cpu_seconds()
    DEADLINE[0] = time.monotonic() + PLAN["seconds"]
    print(f"go {len(SIGNED_IN)}", flush=True)
    GO.set()
    window_started = time.perf_counter()
    gevent.sleep(max(0.0, DEADLINE[0] - time.monotonic()))
    print("stop", flush=True)
    # Users stop before their next request; wait for the ones still waiting on an answer.
    drain_deadline = time.monotonic() + PLAN["drain_timeout"]
    while runner.user_count and time.monotonic() < drain_deadline:
        gevent.sleep(0.1)
    window = time.perf_counter() - window_started
    print("done", flush=True)
    still_running = runner.user_count
    runner.quit()
    Path(result_path).write_text(
        json.dumps(
            {
                "signed_in": len(SIGNED_IN),
                "sign_in_seconds": sign_in_seconds,
                "sign_in_times": sign_in_times,
                "sign_in_errors": sign_in_errors,
                "solo_times": solo_times,
                "solo_errors": solo_errors,
                "window_seconds": window,
                "times": TIMES,
                "errors": ERRORS,
                "users_cut_off": still_running,
                "cpu_seconds": _cpu_seconds() - cpu_before,
            }
        )
    )


class SoloAdmin(Admin):
    wait_time = constant(0)
    poll_seconds = 0.0


def solo(environment: Environment, rounds: int) -> tuple[dict, dict]:
    """One more admin browses alone, without pauses, while the others wait to start: what
    each page costs when it has the machine to itself (no import runs then either)."""
    user = SoloAdmin(environment)
    if user.sign_in(PLAN["accounts"][0]):
        TIMES.clear()
        for _ in range(rounds):
            user.browse()
    times, errors = dict(TIMES), dict(ERRORS)
    TIMES.clear()
    ERRORS.clear()
    return times, errors


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
