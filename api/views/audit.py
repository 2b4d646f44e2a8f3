from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from api.authentication import TokenRequest
from api.pagination import NewestFirst
from api.serializers import AuditEntrySerializer, ErrorSerializer
from api.views.base import ERRORS, WorkspaceAPIView
from common.filters import range_parameter_errors
from workspaces import audit_selectors


class AuditEntryList(WorkspaceAPIView):
    """The workspace's audit log, newest first, with the Audit log page's filters."""

    serializer_class = AuditEntrySerializer
    pagination_class = NewestFirst
    admin_only = True
    admin_only_message = (
        "Only admins of the workspace can read its audit log; this token's owner is a member."
    )

    @extend_schema(
        summary="List audit entries",
        parameters=[
            OpenApiParameter("actor", int, description="The id of the user who acted."),
            OpenApiParameter(
                "action",
                str,
                description="e.g. import.run_now, connection.created, api_token.revoked.",
            ),
            OpenApiParameter(
                "date_after",
                OpenApiTypes.DATE,
                description="On or after this date (the workspace's time zone).",
            ),
            OpenApiParameter(
                "date_before",
                OpenApiTypes.DATE,
                description="On or before this date (the workspace's time zone).",
            ),
            OpenApiParameter("page_size", int, description="1 to 200; default 50."),
        ],
        responses={200: AuditEntrySerializer(many=True), 400: ErrorSerializer, **ERRORS},
    )
    def get(self, request: TokenRequest, ws: str) -> Response:
        filterset = audit_selectors.audit_entries_filtered(
            workspace=self.workspace, params=request.query_params
        )
        if not filterset.is_valid():
            raise exceptions.ValidationError(
                range_parameter_errors(filterset.errors, ("date",), request.query_params)
            )
        return self.paged(filterset.qs, decorate=audit_selectors.with_action_labels)
