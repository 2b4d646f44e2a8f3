import django_filters
from django import forms

from connections.models import Connection
from imports.models import Import


class ImportFilter(django_filters.FilterSet):
    """Imports list filters; all in the query string, combinable and bookmarkable."""

    q = django_filters.CharFilter(
        label="Search",
        field_name="name",
        lookup_expr="icontains",
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Import name"}),
    )
    status = django_filters.ChoiceFilter(
        label="Status", choices=Import.Status.choices, empty_label="Any status"
    )
    connection = django_filters.ModelChoiceFilter(
        label="Connection", queryset=None, empty_label="Any connection"
    )
    target = django_filters.ChoiceFilter(
        label="Target", choices=Import.Target.choices, empty_label="Any target"
    )

    class Meta:
        model = Import
        fields: list[str] = []

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["connection"].queryset = Connection.objects.filter(
            workspace=workspace
        ).order_by("name")
