"""The connection pages that show its imports: the list with import counts, a connection's
page with its imports, and delete with review (which stops the active imports first).

They live here, above both apps, so that connections never imports imports; their routes
stay in the "connections" namespace (imports/connection_urls.py).
"""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods

from common.pagination import page_by_keys
from connections import selectors as connection_selectors
from connections.models import Connection
from imports import selectors, services
from imports.models import Import
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view

PAGE_SIZE = 25


@workspace_view
@require_http_methods(["GET", "HEAD"])
def connection_list(request: WorkspaceRequest) -> HttpResponse:
    filterset = connection_selectors.connections_for_dashboard(
        workspace=request.workspace, params=request.GET
    )
    queryset = filterset.qs if filterset.is_valid() else Connection.objects.none()
    page = page_by_keys(queryset, request.GET.get("page"), PAGE_SIZE)
    page.object_list = selectors.with_import_counts(page.object_list)
    return render(
        request,
        "connections/list.html",
        {"filterset": filterset, "page": page, "filtered": bool(filterset.form.changed_data)},
    )


@workspace_view
@require_http_methods(["GET", "HEAD"])
def connection_detail(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = get_in_workspace(
        Connection.objects.select_related("created_by"), request.workspace, pk=pk
    )
    return render(
        request,
        "connections/detail.html",
        {
            "connection": connection,
            "result": connection.last_test_result,
            "audit_entries": connection_selectors.connection_audit_entries(connection=connection),
            "imports": selectors.imports_for_connection(connection=connection),
        },
    )


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def connection_delete(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = get_in_workspace(Connection, request.workspace, pk=pk)
    if request.method == "POST":
        name = connection.name
        stopped = services.connection_delete_with_imports(connection=connection, actor=request.user)
        count = len(stopped)
        note = (
            f" {count} active import{pluralize(count)} {'was' if count == 1 else 'were'} "
            "stopped and deleted."
            if stopped
            else ""
        )
        messages.success(request, f"Connection “{name}” deleted.{note}")
        return redirect("connections:list", ws=request.workspace.slug)
    connection_imports = selectors.imports_for_connection(connection=connection)
    return render(
        request,
        "connections/delete.html",
        {
            "connection": connection,
            # the imports that deleting stops: ready, scheduled, paused or running
            "active_imports": [i for i in connection_imports if i.status in Import.ACTIVE_STATUSES],
            "import_total": len(connection_imports),
        },
    )
