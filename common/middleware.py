import io
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control

logger = logging.getLogger(__name__)

# No inline scripts or styles anywhere: every asset is a file the app serves.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def declared_length(request: HttpRequest) -> int:
    """The body's Content-Length, as Django reads it (0 when missing or not a number)."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # Django reads nothing of such a body either


def limit_body(max_bytes: int, *, too_large: Callable[..., HttpResponse] | None = None):
    """Let a view accept bodies up to `max_bytes` (settings.REQUEST_BODY_MAX_BYTES otherwise).

    `too_large(request, *args, **kwargs)` answers a refused body in the view's own words; it
    runs inside the decorators above this one (access checks), and must not read the body.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        if too_large is None:
            wrapper = view
        else:

            @wraps(view)
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if getattr(request, "body_refused", False):
                    return too_large(request, *args, **kwargs)
                return view(request, *args, **kwargs)

            wrapper.body_too_large = True  # type: ignore[attr-defined]
        wrapper.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return wrapper

    return decorate


def too_large_page(request: HttpRequest) -> HttpResponse:
    return render(request, "413.html", status=413)


class RequestSizeMiddleware:
    """Refuses a body larger than its view accepts, from its Content-Length, before anything
    reads it. Django would otherwise take it all in first (a multipart upload spooled to disk)
    and only then let CSRF or the form refuse it. Its process_view must run before
    CsrfViewMiddleware's, which reads POST.

    Under WSGI (gunicorn) Django reads no more of a body than its Content-Length says, so
    the declared length is the cap while reading too. A chunked body comes without one: it
    cannot be shown to fit, and is refused as well. (Django's ASGI handler reads the whole
    body before any middleware runs; the app is served over WSGI.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        limit = getattr(view_func, "max_body_bytes", settings.REQUEST_BODY_MAX_BYTES)
        chunked = "HTTP_TRANSFER_ENCODING" in request.META and not request.META.get(
            "CONTENT_LENGTH"
        )
        if not chunked and declared_length(request) <= limit:
            return None
        # From here nothing may read the body: not CSRF, not the view.
        # The stubs type _stream as BinaryIO; Django itself keeps a LimitedStream there.
        request._stream = LimitedStream(io.BytesIO(), 0)  # type: ignore[assignment]
        request.body_refused = True  # type: ignore[attr-defined]
        logger.warning(
            "refused a request body of %s bytes to %s (limit %d)",
            request.META.get("CONTENT_LENGTH") or "unknown",
            request.path,
            limit,
        )
        if getattr(view_func, "body_too_large", False):
            return view_func(request, *args, **kwargs)
        return too_large_page(request)


class NoStoreWhenSignedInMiddleware:
    """Pages of a signed-in user are kept by no cache, shared or the browser's own: they show
    a workspace's data, and Back after signing out must not bring them up again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)  # absent when a middleware before auth answered
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class ForbiddenInOneLine(logging.Filter):
    """Django logs every PermissionDenied on django.request with its traceback. A refused
    request is routine (a member trying an admin's action): one line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
