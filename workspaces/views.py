from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from workspaces.selectors import workspace_default_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    workspace = workspace_default_for_user(request.user)
    if workspace is None:
        return render(request, "workspaces/no_workspace.html", status=200)
    return redirect("connections:list", ws=workspace.slug)
