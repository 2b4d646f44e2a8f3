from __future__ import annotations

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Cursor pages: stable while rows are added, and as fast on page 1,000 as on page 1.

    `page_size` (1–200) may be asked for; `next` and `previous` are whole URLs.
    """

    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class SortableCursor(NewestFirst):
    """A cursor over the order named by `ordering` (one of the view's `orderings`, with `-`
    for descending). The cursor's position is that field; ties are broken by the id."""

    ordering_param = "ordering"

    def get_ordering(self, request, queryset, view):
        value = request.query_params.get(self.ordering_param, "")
        if not value:
            return view.default_ordering
        descending = value.startswith("-")
        field = view.orderings.get(value.removeprefix("-"))
        if field is None:
            names = ", ".join(sorted(view.orderings))
            raise exceptions.ValidationError(
                {self.ordering_param: [f"Order by one of {names} (a leading - reverses it)."]}
            )
        return (f"-{field}", "-pk") if descending else (field, "pk")
