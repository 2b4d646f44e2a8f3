"""Password reset and password change: Django's own views, in the app's layout, with a brake
on reset requests.

A reset request is refused (429 with Retry-After) while the sign-in brake has locked the
address for failed sign-ins, and past its own limits: RESET_PER_ADDRESS from one address,
RESET_PER_ACCOUNT for one typed email (counted whether or not it has an account, so the
answer still says nothing about that).
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from common.ratelimit import SlidingWindow
from workspaces import signin

RESET_PER_ADDRESS = SlidingWindow("password-reset-address", limit=10, seconds=15 * 60)
RESET_PER_ACCOUNT = SlidingWindow("password-reset-account", limit=3, seconds=60 * 60)


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def reset_refusal(request: HttpRequest, email: str) -> signin.Refusal | None:
    address = signin.client_address(request)
    wait = signin.PER_ADDRESS.retry_after(address)
    if wait:
        return signin.Refusal(
            f"Too many failed sign-in attempts from your network. Try again in {_minutes(wait)}.",
            wait,
        )
    wait = RESET_PER_ADDRESS.attempt(address)
    if wait:
        return signin.Refusal(
            f"Too many password reset requests from your network. Try again in {_minutes(wait)}.",
            wait,
        )
    wait = RESET_PER_ACCOUNT.attempt(signin.account_key(email))
    if wait:
        return signin.Refusal(
            "Too many password reset requests for this email address. "
            f"Try again in {_minutes(wait)}.",
            wait,
        )
    return None


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view: the same answer whether or not the address has an account."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        refusal = reset_refusal(self.request, form.cleaned_data["email"])
        if refusal is not None:
            form.add_error(None, refusal.message)
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(refusal.retry_after)
            return response
        return super().form_valid(form)
