from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import token_request
from api.serializers import ErrorSerializer
from workspaces.models import Workspace

# Error answers every workspace endpoint may give, for the schema.
ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No token, or not a valid one."),
    403: OpenApiResponse(ErrorSerializer, description="The token's scope or role is too low."),
    404: OpenApiResponse(ErrorSerializer, description="Not in the token's workspace."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
}


class WorkspaceAPIView(GenericAPIView):
    # An endpoint under /api/v1/workspaces/<slug>/, for the token's workspace only
    # (api.permissions.TokenWorkspaceAccess). Dates in filters are the workspace's local
    # dates, as on the pages; times in answers are UTC. (No docstring: the schema would
    # show it on every endpoint.)

    scopes: dict[str, str] = {}
    admin_only = False

    @property
    def workspace(self) -> Workspace:
        return token_request(self.request).auth.workspace

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        timezone.activate(self.workspace.time_zone)

    def finalize_response(self, request, response, *args, **kwargs):
        timezone.deactivate()
        return super().finalize_response(request, response, *args, **kwargs)

    def paged(self, queryset: Any, decorate=None) -> Response:
        page = self.paginate_queryset(queryset)
        rows = list(page) if page is not None else list(queryset)  # every view has a paginator
        if decorate is not None:
            rows = decorate(rows)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)
