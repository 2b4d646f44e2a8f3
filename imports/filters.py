import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from common.filters import choose_from_list
from common.widgets import QuickSelect
from connections.models import Connection
from imports.models import Import

# Above this many, the Connection filter is not offered as a menu.
MAX_CONNECTION_CHOICES = 100


class ImportFilter(django_filters.FilterSet):
    """Imports list filters; all in the query string, combinable and bookmarkable."""

    q = django_filters.CharFilter(
        label="Search",
        method="search",
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Import or connection"}),
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=Import.Status.choices,
        empty_label="Any status",
        widget=QuickSelect,
        error_messages=choose_from_list("a status"),
    )
    connection = django_filters.ModelChoiceFilter(
        label="Connection",
        queryset=None,
        empty_label="Any connection",
        widget=QuickSelect,
        error_messages={
            "invalid_choice": "Choose a connection of this workspace that has imports."
        },
    )
    target = django_filters.ChoiceFilter(
        label="Target",
        choices=Import.Target.choices,
        empty_label="Any target",
        widget=QuickSelect,
        error_messages=choose_from_list("a target"),
    )

    class Meta:
        model = Import
        fields: list[str] = []

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        # Only connections that have imports can narrow the list.
        connections = (
            Connection.objects.filter(workspace=workspace)
            .filter(Exists(Import.objects.filter(connection=OuterRef("pk"))))
            .only("pk", "name")
            .order_by("name", "pk")
        )
        self.filters["connection"].queryset = connections
        if connections.values("pk")[: MAX_CONNECTION_CHOICES + 1].count() > MAX_CONNECTION_CHOICES:
            # A menu of thousands of connections is slow to draw and useless to read; the
            # filter then still works from a link (a connection's page links here), and
            # the search box matches connection names.
            self.filters["connection"].extra["widget"] = forms.HiddenInput

    def search(self, queryset: QuerySet[Import], name: str, value: str) -> QuerySet[Import]:
        return queryset.filter(Q(name__icontains=value) | Q(connection__name__icontains=value))
