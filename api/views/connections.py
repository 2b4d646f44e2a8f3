from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Value
from django.db.models.functions import Coalesce
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from api.authentication import TokenRequest
from api.pagination import SortableCursor
from api.serializers import (
    ConnectionDetailSerializer,
    ConnectionSerializer,
    ConnectionTestSerializer,
    ErrorSerializer,
)
from api.views.base import ERRORS, WorkspaceAPIView
from common.filters import range_parameter_errors
from connections import check, selectors, services
from connections.models import Connection
from workspaces.access import get_in_workspace

# The dashboard's filters, under the names an API client expects.
RENAMED = {"search": "q"}

LIST_PARAMETERS = [
    OpenApiParameter("search", str, description="Part of the name, project or dataset."),
    OpenApiParameter(
        "connected_on_after",
        OpenApiTypes.DATE,
        description="Connected on or after this date (the workspace's time zone).",
    ),
    OpenApiParameter(
        "connected_on_before",
        OpenApiTypes.DATE,
        description="Connected on or before this date (the workspace's time zone).",
    ),
    OpenApiParameter("connected_by", int, description="The id of the user who connected it."),
    OpenApiParameter("status", str, enum=Connection.Status.values),
    OpenApiParameter(
        "ordering",
        str,
        description="name, project, dataset, status, connected_on or connected_by; "
        "a leading - reverses. Default -connected_on.",
    ),
    OpenApiParameter("page_size", int, description="1 to 200; default 50."),
]


class ConnectionList(WorkspaceAPIView):
    serializer_class = ConnectionSerializer
    pagination_class = SortableCursor
    default_ordering = ("-created_at", "-pk")
    orderings = {
        "name": "name",
        "project": "project_id",
        "dataset": "dataset_id",
        "status": "status",
        "connected_on": "created_at",
        "connected_by": "connected_by_name",
    }

    @extend_schema(
        summary="List connections",
        parameters=LIST_PARAMETERS,
        responses={200: ConnectionSerializer(many=True), 400: ErrorSerializer, **ERRORS},
    )
    def get(self, request: TokenRequest, ws: str) -> Response:
        params = request.query_params.copy()
        for outer, inner in RENAMED.items():
            params.setlist(inner, params.pop(outer, []))
        params.pop("sort", None)  # ordering is the cursor's, not the filter's
        filterset = selectors.connections_for_dashboard(workspace=self.workspace, params=params)
        if not filterset.is_valid():
            errors = {
                {v: k for k, v in RENAMED.items()}.get(name, name): messages
                for name, messages in filterset.errors.items()
            }
            raise exceptions.ValidationError(
                range_parameter_errors(errors, ("connected_on",), request.query_params)
            )
        queryset = filterset.qs.annotate(
            connected_by_name=Coalesce("created_by__username", Value(""))
        )
        return self.paged(queryset)


class ConnectionDetail(WorkspaceAPIView):
    serializer_class = ConnectionDetailSerializer

    @extend_schema(
        summary="Get a connection", responses={200: ConnectionDetailSerializer, **ERRORS}
    )
    def get(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        connection = get_in_workspace(
            Connection.objects.select_related("created_by"), self.workspace, pk=pk
        )
        return Response(self.get_serializer(connection).data)


class ConnectionTest(WorkspaceAPIView):
    """Test Connection on the saved connection, as its page does: the result is stored on it.

    The same per-user limit as the page (TEST_CONNECTION_WINDOW), answered with 429."""

    serializer_class = ConnectionTestSerializer
    scopes = {"POST": "run"}

    @extend_schema(
        summary="Run Test Connection",
        request=None,
        responses={
            200: ConnectionTestSerializer,
            **ERRORS,
            429: OpenApiResponse(ErrorSerializer, description="Too many Test Connection runs."),
        },
    )
    def post(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        connection = get_in_workspace(
            Connection.objects.select_related("created_by"), self.workspace, pk=pk
        )
        if not services.connection_test_allowed(user=request.user):
            raise TestRateLimited(user=request.user)
        result = check.run_saved_connection_test(connection)
        services.connection_record_test(connection=connection, actor=request.user, result=result)
        data = self.get_serializer({"connection": connection, "result": result}).data
        return Response(data, status=status.HTTP_200_OK)


class TestRateLimited(exceptions.Throttled):
    default_code = "connection_test_throttled"

    def __init__(self, *, user: User) -> None:
        window = services.TEST_CONNECTION_WINDOW
        super().__init__(
            detail=f"Test Connection ran more than {window.limit} times in a minute for this "
            "user. Wait a minute and try again."
        )
        self.wait = max(1, window.retry_after(str(user.pk)))
