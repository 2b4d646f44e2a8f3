from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from api.authentication import TokenRequest
from api.serializers import WorkspaceSerializer, absolute
from api.views.base import ERRORS, WorkspaceAPIView


class WorkspaceRoot(WorkspaceAPIView):
    """The token's workspace, what the token may do there, and where to go next: a quick way
    to check that a token works."""

    serializer_class = WorkspaceSerializer

    @extend_schema(
        summary="Check a token",
        operation_id="token_check",
        tags=["token"],
        responses={200: WorkspaceSerializer, **ERRORS},
    )
    def get(self, request: TokenRequest, ws: str) -> Response:
        links = {
            name: absolute(request, f"api:{name}", ws=ws)
            for name in ("connections", "imports", "audit")
        }
        data = {"workspace": self.workspace, "token": request.auth, "links": links}
        return Response(self.get_serializer(data).data)
