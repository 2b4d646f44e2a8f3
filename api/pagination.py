from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

BAD_CURSOR = "Not a cursor from this API; start again from the first page (no cursor)."


class NewestFirst(CursorPagination):
    """Cursor pages: stable while rows are added, and as fast on page 1,000 as on page 1.

    `page_size` (1–200) may be asked for; `next` and `previous` are whole URLs.
    """

    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 200:
            message = f"page_size must be a whole number from 1 to {self.max_page_size}."
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return int(value)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: [BAD_CURSOR]}) from None

    def paginate_queryset(self, queryset, request, view=None):
        """A cursor that decodes but holds a position that is not a value of the ordering's
        field (a hand-made one) is bad input, not a server error."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, OverflowError):
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise exceptions.ValidationError({self.cursor_query_param: [BAD_CURSOR]}) from None


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
