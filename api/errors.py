"""One error shape for every API answer that is not a success:

    {"error": {"code": "not_found", "message": "Not found."}}

Validation errors add "fields": {"name": ["This field is required."]}. Throttled answers
carry Retry-After, refusals of credentials WWW-Authenticate (DRF sets both headers).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

MESSAGES = {
    "not_authenticated": "Send an API token in the Authorization header: `Bearer <token>`.",
    "not_found": "Not found.",
    "permission_denied": "This token may not do that.",
}


class Conflict(exceptions.APIException):
    """The object's state does not allow the request (an import already running)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _code_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, exceptions.ErrorDetail) and detail.code:
        return str(detail.code)
    return exc.default_code


def _body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_body("invalid", "The request is not valid; see `fields`.", fields=fields)
    if isinstance(exc, exceptions.Throttled) and _code_of(exc) == "throttled":
        wait = getattr(exc, "wait", None)  # set by Throttled(); its stubs do not declare it
        return error_body(
            "throttled",
            f"Too many requests. Try again in {wait:.0f} seconds."
            if wait is not None
            else "Too many requests. Try again later.",
        )
    code = _code_of(exc)
    message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)
    if message == str(exc.default_detail):
        message = MESSAGES.get(code, message)  # DRF's wording, where ours says more
    return error_body(code, message)


def error_response(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: DRF's own handling (status, headers), our body."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        # An unexpected error: logged with its traceback, answered without it.
        logger.exception("API request failed", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on the server; it was logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response.data = _body(exc)
    return response


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any /api/ URL that names no endpoint."""
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
