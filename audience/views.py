"""Browse what imports wrote: profiles and events of the current workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audience import selectors
from config.pagination import page_by_keys
from workspaces.access import workspace_view
from workspaces.models import Workspace

PAGE_SIZE = 50
PROPERTIES_PAGE_SIZE = 100
MAX_PAGE = 100_000
MAX_SEARCH = 255


class Window:
    """One page of a newest-first list, without COUNT(*): these tables grow to millions."""

    def __init__(self, queryset: QuerySet, number: Any, size: int = PAGE_SIZE) -> None:
        try:
            self.number = min(MAX_PAGE, max(1, int(number)))
        except (TypeError, ValueError):
            self.number = 1
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        self.has_next = len(rows) > size
        self.object_list = rows[:size]
        self.has_previous = self.number > 1
        self.start_index = start + 1 if self.object_list else 0
        self.end_index = start + len(self.object_list)

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def _search(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:MAX_SEARCH]


def _matching(select: Callable[..., QuerySet], workspace: Workspace, search: str) -> QuerySet:
    # PostgreSQL text cannot hold a NUL, so no identity starts with one (and asking fails).
    if "\x00" in search:
        return select(workspace=workspace).none()
    return select(workspace=workspace, identity=search)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def audience_home(request: HttpRequest) -> HttpResponse:
    return redirect("audience:profiles", ws=request.workspace.slug)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def profile_list(request: HttpRequest) -> HttpResponse:
    search = _search(request)
    page = Window(
        _matching(selectors.profiles_for_browse, request.workspace, search),
        request.GET.get("page"),
    )
    for profile in page.object_list:
        profile.summary = selectors.properties_summary(profile.properties)
    return render(request, "audience/profiles.html", {"page": page, "search": search})


@workspace_view
@require_http_methods(["GET", "HEAD"])
def event_list(request: HttpRequest) -> HttpResponse:
    search = _search(request)
    page = Window(
        _matching(selectors.events_for_browse, request.workspace, search),
        request.GET.get("page"),
    )
    for event in page.object_list:
        event.summary = selectors.properties_summary(event.properties)
    return render(request, "audience/events.html", {"page": page, "search": search})


@workspace_view
@require_http_methods(["GET", "HEAD"])
def property_list(request: HttpRequest) -> HttpResponse:
    """Each property name of the workspace with the type it keeps and the import that set it."""
    search = _search(request).replace("\x00", "")
    page = page_by_keys(
        selectors.property_types_for_browse(workspace=request.workspace, name=search),
        request.GET.get("page"),
        PROPERTIES_PAGE_SIZE,
    )
    return render(request, "audience/properties.html", {"page": page, "search": search})
