from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspaces.access import workspace_view


@workspace_view
def connection_list(request: HttpRequest) -> HttpResponse:
    return render(request, "connections/list.html", {"connections": []})
