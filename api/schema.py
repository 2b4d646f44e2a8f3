"""The OpenAPI document and its UI (Swagger UI from drf-spectacular-sidecar: no CDN).

Both are for people who use the API: a signed-in user or a token holder gets the document;
the UI is a page for signed-in users, whose "Try it out" sends the token they enter.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated

from api.authentication import ApiTokenAuthentication


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from the workspace's API tokens page.",
        }


schema_view = SpectacularAPIView.as_view(
    authentication_classes=[ApiTokenAuthentication, SessionAuthentication],
    permission_classes=[IsAuthenticated],
    throttle_classes=[],
)

docs_view = login_required(
    SpectacularSwaggerSplitView.as_view(
        url_name="api:schema",
        template_name="api/swagger_ui.html",
        authentication_classes=[SessionAuthentication],
        permission_classes=[AllowAny],  # login_required has let a signed-in user in
        throttle_classes=[],
    )
)
