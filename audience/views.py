"""Browse what imports wrote: profiles and events of the current workspace."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audience import selectors
from common import pagination
from common.pagination import KeysetPage, page_by_keys, page_by_position
from workspaces.access import WorkspaceRequest, workspace_view

PAGE_SIZE = 50
PROPERTIES_PAGE_SIZE = 100
MAX_SEARCH = 1024  # the longest identity


def _search(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:MAX_SEARCH]


def _identity(request: HttpRequest) -> str:
    return request.GET.get("identity", "")[:MAX_SEARCH]


def _page(
    request: HttpRequest, queryset: QuerySet, order: str, search: str, identity: str
) -> tuple[KeysetPage, bool]:
    """The page the Newer/Older links point at: found from a row's position, never by
    OFFSET, and without COUNT(*): these tables grow to millions of rows.

    `identity` (a profile's Events link) lists one identity's rows through the identity
    index, however old they are. A search (`q`) is a prefix, looked for in a bounded stretch
    of the list at a time (see page_by_position); when that stretch has none, the second
    value says whether an identity is exactly the search, to offer it."""
    match = None
    if "\x00" in search or "\x00" in identity:  # PostgreSQL text holds no NUL
        queryset = queryset.none()
    elif identity:
        queryset = queryset.filter(identity=identity)
    elif search:
        match = Q(identity__startswith=search)
    page = page_by_position(
        queryset,
        order=order,
        older_than=request.GET.get("older"),
        newer_than=request.GET.get("newer"),
        size=PAGE_SIZE,
        match=match,
    )
    exact_exists = (
        match is not None
        and not page.object_list
        and page.scanned_out
        and queryset.filter(identity=search).exists()
    )
    return page, exact_exists


# The Profiles and Events pages are one template (audience/browse.html) over two tables.
BROWSE = {
    "profiles": {"noun": "profiles", "singular": "profile", "target": "User Profiles"},
    "events": {"noun": "events", "singular": "event", "target": "Events"},
}


def _browse(request: HttpRequest, queryset: QuerySet, order: str, kind: str) -> HttpResponse:
    """A page of profiles or events, each with a summary of its properties."""
    search, identity = _search(request), _identity(request)
    page, exact_exists = _page(request, queryset, order, search, identity)
    for row in page.object_list:
        row.summary = selectors.properties_summary(row.properties)
    context = {
        **BROWSE[kind],
        "page": page,
        "identity": identity,
        "exact_exists": exact_exists,
        "search": search,
        "scan_rows": pagination.SEARCH_SCAN_ROWS,
    }
    return render(request, "audience/browse.html", context)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def audience_home(request: WorkspaceRequest) -> HttpResponse:
    return redirect("audience:profiles", ws=request.workspace.slug)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def profile_list(request: WorkspaceRequest) -> HttpResponse:
    profiles = selectors.profiles_for_browse(workspace=request.workspace)
    return _browse(request, profiles, "last_seen", "profiles")


@workspace_view
@require_http_methods(["GET", "HEAD"])
def event_list(request: WorkspaceRequest) -> HttpResponse:
    events = selectors.events_for_browse(workspace=request.workspace)
    return _browse(request, events, "timestamp", "events")


@workspace_view
@require_http_methods(["GET", "HEAD"])
def property_list(request: WorkspaceRequest) -> HttpResponse:
    """Each property name of the workspace with the type it keeps and the import that set it."""
    search = _search(request).replace("\x00", "")
    page = page_by_keys(
        selectors.property_types_for_browse(workspace=request.workspace, name=search),
        request.GET.get("page"),
        PROPERTIES_PAGE_SIZE,
    )
    return render(request, "audience/properties.html", {"page": page, "search": search})
