"""Sign-in with a brake on password guessing: after repeated failures for one account
(from one address, or from anywhere), further attempts are refused for a while.

The Django admin's login goes through the same brake and shares the counters, so an
attacker cannot spend five guesses on each form."""

import hashlib

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

MAX_FAILURES_PER_ADDRESS = 5
MAX_FAILURES_PER_ACCOUNT = 20
LOCK_SECONDS = 15 * 60
LOCKED_MESSAGE = "Too many failed sign-in attempts. Try again in 15 minutes."


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
    """The failure counters' name for an account: a digest, so that whatever was typed as
    the username (control characters, 10 KB) makes a short, plain cache key."""
    typed = username.strip().lower()[:150].encode("utf-8", "backslashreplace")
    return f"signin-fail:{hashlib.sha256(typed).hexdigest()[:32]}"


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    account = account_key(username)
    return f"{account}:{client_address(request)}", account


def _failures(key: str) -> int:
    return cache.get(key, 0)


def _count_failure(key: str) -> None:
    if not cache.add(key, 1, timeout=LOCK_SECONDS):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=LOCK_SECONDS)


class ThrottledLoginView(LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        per_address, per_account = _keys(request, request.POST.get("username", ""))
        if (
            _failures(per_address) >= MAX_FAILURES_PER_ADDRESS
            or _failures(per_account) >= MAX_FAILURES_PER_ACCOUNT
        ):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, LOCKED_MESSAGE)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        for key in _keys(self.request, self.request.POST.get("username", "")):
            _count_failure(key)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete(_keys(self.request, self.request.POST.get("username", ""))[0])
        return super().form_valid(form)


def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """`admin.site.login`, with ThrottledLoginView in place of the plain LoginView.

    Django's AdminSite.login builds its context and hands the request to LoginView; this
    does the same (Django 5.2), so the admin's page is unchanged but every failed attempt
    counts, and a locked account is refused, exactly as on /signin/.
    """
    site = admin.site
    if request.method == "GET" and site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:index", current_app=site.name))
    context = {
        **site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
    }
    if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
        context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=site.name)
    context.update(extra_context or {})
    request.current_app = site.name
    return ThrottledLoginView.as_view(
        extra_context=context,
        authentication_form=site.login_form or AdminAuthenticationForm,
        template_name=site.login_template or "admin/login.html",
        # A signed-in user without staff rights must see the form, not a redirect loop.
        redirect_authenticated_user=False,
    )(request)
