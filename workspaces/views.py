from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workspaces import services
from workspaces.access import AuthenticatedRequest, WorkspaceRequest, workspace_view
from workspaces.forms import WorkspaceSettingsForm
from workspaces.models import Membership
from workspaces.selectors import workspace_audit_entries, workspace_default_for_user


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    workspace = workspace_default_for_user(request.user)
    if workspace is None:
        return render(request, "workspaces/no_workspace.html", status=200)
    return redirect("connections:list", ws=workspace.slug)


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def workspace_settings(request: WorkspaceRequest) -> HttpResponse:
    workspace = request.workspace
    form = WorkspaceSettingsForm(
        request.POST or None, initial={"name": workspace.name, "time_zone": workspace.time_zone}
    )
    if request.method == "POST" and form.is_valid():
        services.workspace_update(
            workspace=workspace,
            actor=request.user,
            name=form.cleaned_data["name"],
            time_zone=form.cleaned_data["time_zone"],
        )
        messages.success(request, "Workspace settings saved.")
        return redirect("workspace_settings", ws=workspace.slug)
    return render(
        request,
        "workspaces/settings.html",
        {"form": form, "history": workspace_audit_entries(workspace=workspace)},
    )


@workspace_view
@require_http_methods(["GET", "HEAD"])
def settings_overview(request: WorkspaceRequest) -> HttpResponse:
    """Every setting of the workspace on one page, each with a link to its own page."""
    workspace = request.workspace
    return render(
        request,
        "workspaces/settings_overview.html",
        {
            "member_count": Membership.objects.filter(workspace=workspace).count(),
            "admin_count": Membership.objects.filter(
                workspace=workspace, role=Membership.Role.ADMIN
            ).count(),
        },
    )
