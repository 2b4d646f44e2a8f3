"""Sign-in with a brake on password guessing: after repeated failures for one account
(from one address, or from anywhere), further attempts are refused for a while."""

from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

MAX_FAILURES_PER_ADDRESS = 5
MAX_FAILURES_PER_ACCOUNT = 20
LOCK_SECONDS = 15 * 60
LOCKED_MESSAGE = "Too many failed sign-in attempts. Try again in 15 minutes."


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    account = username.strip().lower()[:150]
    address = request.META.get("REMOTE_ADDR", "")
    return f"signin-fail:{account}:{address}", f"signin-fail:{account}"


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
