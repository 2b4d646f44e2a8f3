"""The Audit log page and its CSV export. Admins only: it shows who did what in the workspace."""

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from common.csv_stream import csv_response
from common.pagination import page_by_keys
from workspaces import audit_selectors
from workspaces.access import WorkspaceRequest, workspace_view
from workspaces.models import AuditEntry

PAGE_SIZE = 50


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD"])
def audit_log(request: WorkspaceRequest) -> HttpResponse:
    filterset = audit_selectors.audit_entries_filtered(
        workspace=request.workspace, params=request.GET
    )
    queryset = filterset.qs if filterset.is_valid() else AuditEntry.objects.none()
    page = page_by_keys(queryset, request.GET.get("page"), PAGE_SIZE)
    page.object_list = audit_selectors.with_action_labels(page.object_list)
    return render(
        request,
        "workspaces/audit.html",
        {
            "filterset": filterset,
            "page": page,
            "filtered": bool(filterset.form.changed_data),
            "csv_query": _without_page(request),
        },
    )


def _without_page(request: WorkspaceRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD"])
def audit_csv(request: WorkspaceRequest) -> HttpResponseBase:
    """Every entry that matches the filters, streamed: no page limit, no memory limit."""
    filterset = audit_selectors.audit_entries_filtered(
        workspace=request.workspace, params=request.GET
    )
    if not filterset.is_valid():
        # The page says what is wrong with the filters.
        page = reverse("audit:log", kwargs={"ws": request.workspace.slug})
        return redirect(f"{page}?{request.GET.urlencode()}")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(
        audit_selectors.audit_entries_csv(
            entries=filterset.qs, time_zone=request.workspace.time_zone
        ),
        filename=f"audit-log-{request.workspace.slug}-{stamp}.csv",
    )
