"""Sign-in with a brake on password guessing, for /signin/ and the Django admin's login alike
(they share the counters, so an attacker cannot spend a set of guesses on each form).

Failed sign-ins are counted under the username as the authentication backend sees it: the
sign-in form normalizes it (NFKC, so `ｔｈｒ１@…` is `thr1@…`), and the count is case-folded
on top. Three limits, each answered with 429 and Retry-After, never a sleep in the request:

- per account and address: 5 failures in 15 minutes lock that pair until the oldest leaves;
- per address, any account: 30 failures in 15 minutes lock the address (password spraying);
- per account, any address: after 10 failures in an hour each further try waits 2, 4, 8 …
  seconds (at most 5 minutes) after the last failure. It only slows: a lock here would let
  anyone lock anyone out. A browser that signed in to the account before (a signed cookie)
  skips this delay, so guessers elsewhere cannot keep its owner out; the other two limits
  still hold it.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from common.ratelimit import SlidingWindow

PER_ACCOUNT_AND_ADDRESS = SlidingWindow("signin-pair", limit=5, seconds=15 * 60)
PER_ADDRESS = SlidingWindow("signin-address", limit=30, seconds=15 * 60)
PER_ACCOUNT = SlidingWindow("signin-account", limit=10, seconds=60 * 60)
MAX_DELAY_SECONDS = 5 * 60
KNOWN_BROWSER_COOKIE = "signin_known"
KNOWN_BROWSER_DAYS = 90
KNOWN_ACCOUNTS_KEPT = 5


def client_address(request: HttpRequest) -> str:
    """The address a sign-in comes from: the peer's, or behind TRUSTED_PROXY_COUNT proxies,
    the one the outermost of them saw.

    X-Forwarded-For is read from the right, where each trusted proxy appended the address
    it saw; whatever the client wrote there itself stays to the left and is never used.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count][:64]
    return request.META.get("REMOTE_ADDR", "")


def account_key(username: str) -> str:
    """The counters' name for an account: a digest of the username normalized as the
    backend sees it, case-folded, so whatever was typed makes a short, plain cache key."""
    normalized = get_user_model().normalize_username(username.strip()).casefold()
    return hashlib.sha256(normalized.encode("utf-8", "backslashreplace")).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _seconds(seconds: int) -> str:
    return "1 second" if seconds == 1 else f"{seconds} seconds"


class Brake:
    """The brake for one sign-in attempt: `username` is the form's cleaned value."""

    def __init__(self, request: HttpRequest, username: str) -> None:
        self.request = request
        self.account = account_key(username)
        self.address = client_address(request)
        self.pair = f"{self.account}:{self.address}"

    def refusal(self) -> Refusal | None:
        wait = PER_ACCOUNT_AND_ADDRESS.retry_after(self.pair)
        if wait:
            return Refusal(
                f"Too many failed sign-in attempts. Try again in {_minutes(wait)}.", wait
            )
        wait = PER_ADDRESS.retry_after(self.address)
        if wait:
            return Refusal(
                "Too many failed sign-in attempts from your network. "
                f"Try again in {_minutes(wait)}.",
                wait,
            )
        wait = 0 if self.account in known_accounts(self.request) else self._account_delay()
        if wait:
            return Refusal(
                "This account had many failed sign-in attempts, so each try must wait a "
                f"little. Try again in {_seconds(wait)}.",
                wait,
            )
        return None

    def _account_delay(self) -> int:
        failures = PER_ACCOUNT.count(self.account)
        if failures < PER_ACCOUNT.limit:
            return 0
        delay = min(2 ** (failures - PER_ACCOUNT.limit + 1), MAX_DELAY_SECONDS)
        last = cache.get(f"signin-last-failure:{self.account}") or 0
        return max(0, math.ceil(last + delay - time.time()))

    def failed(self) -> None:
        PER_ACCOUNT_AND_ADDRESS.add(self.pair)
        PER_ADDRESS.add(self.address)
        PER_ACCOUNT.add(self.account)
        cache.set(f"signin-last-failure:{self.account}", time.time(), PER_ACCOUNT.seconds)

    def succeeded(self) -> None:
        PER_ACCOUNT_AND_ADDRESS.clear(self.pair)


def known_accounts(request: HttpRequest) -> list[str]:
    value = request.get_signed_cookie(
        KNOWN_BROWSER_COOKIE,
        default="",
        salt=KNOWN_BROWSER_COOKIE,
        max_age=KNOWN_BROWSER_DAYS * 24 * 60 * 60,
    )
    return [account for account in (value or "").split(",") if account]


class BrakedFormMixin:
    """For AuthenticationForm and its admin subclass: the brake is asked before the password
    is checked, and told how it went."""

    request: HttpRequest
    cleaned_data: dict[str, Any]
    user_cache: User | None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()  # type: ignore[misc]  # no password is checked
        brake = Brake(self.request, username)
        refusal = brake.refusal()
        if refusal:
            self.request.signin_refusal = refusal  # type: ignore[attr-defined]
            raise ValidationError(refusal.message, code="throttled")
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except ValidationError:
            if self.user_cache is None:  # a wrong password, not a right one refused after
                brake.failed()
            raise
        brake.succeeded()
        self.request.signin_account = brake.account  # type: ignore[attr-defined]
        return cleaned


# AuthenticationForm types `request` as optional; the sign-in views always pass it, and
# the brake needs it, so the mixin declares it as given.
class BrakedAuthenticationForm(BrakedFormMixin, AuthenticationForm):  # type: ignore[misc]
    pass


class BrakedAdminAuthenticationForm(BrakedFormMixin, AdminAuthenticationForm):  # type: ignore[misc]
    pass


def braked_response(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The login page's answer, with 429 when the brake refused, and the browser remembered
    as known to the account it signed in to."""
    refusal = getattr(request, "signin_refusal", None)
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    account = getattr(request, "signin_account", None)
    if account is not None:
        others = [known for known in known_accounts(request) if known != account]
        response.set_signed_cookie(
            KNOWN_BROWSER_COOKIE,
            ",".join([account, *others][:KNOWN_ACCOUNTS_KEPT]),
            salt=KNOWN_BROWSER_COOKIE,
            max_age=KNOWN_BROWSER_DAYS * 24 * 60 * 60,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


class ThrottledLoginView(LoginView):
    authentication_form = BrakedAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return braked_response(request, super().post(request, *args, **kwargs))


class BrakedAdminSite(admin.AdminSite):
    """The admin, whose login form goes through the same brake (Django's own login view,
    given the braked form through the documented `login_form` hook)."""

    login_form = BrakedAdminAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return braked_response(request, super().login(request, extra_context))
