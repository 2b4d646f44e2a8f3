"""/api/: the REST API (v1), its OpenAPI document and the document's UI.

Every endpoint of v1 lives under the token's workspace and mirrors the pages' URLs.
"""

from django.urls import include, path, re_path

from api import schema
from api.errors import api_not_found
from api.views import audit, connections, imports, workspace

app_name = "api"

workspace_urls = [
    path("", workspace.WorkspaceRoot.as_view(), name="workspace"),
    path("connections/", connections.ConnectionList.as_view(), name="connections"),
    path("connections/<uuid:pk>/", connections.ConnectionDetail.as_view(), name="connection"),
    path(
        "connections/<uuid:pk>/test/",
        connections.ConnectionTest.as_view(),
        name="connection_test",
    ),
    path("imports/", imports.ImportList.as_view(), name="imports"),
    path("imports/<uuid:pk>/", imports.ImportDetail.as_view(), name="import"),
    path("imports/<uuid:pk>/runs/", imports.ImportRuns.as_view(), name="import_runs"),
    path("imports/<uuid:pk>/pause/", imports.ImportPause.as_view(), name="import_pause"),
    path("imports/<uuid:pk>/resume/", imports.ImportResume.as_view(), name="import_resume"),
    path("imports/<uuid:pk>/stop/", imports.ImportStop.as_view(), name="import_stop"),
    path("imports/runs/<uuid:run_pk>/", imports.RunDetail.as_view(), name="run"),
    path(
        "imports/runs/<uuid:run_pk>/rejected.csv",
        imports.RunRejectedRows.as_view(),
        name="run_rejected_csv",
    ),
    path("audit/", audit.AuditEntryList.as_view(), name="audit"),
]

urlpatterns = [
    path("schema/", schema.schema_view, name="schema"),
    path("schema/ui/", schema.docs_view, name="docs"),
    path("v1/workspaces/<slug:ws>/", include(workspace_urls)),
    re_path(r"^.*$", api_not_found, name="not_found"),
]
