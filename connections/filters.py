import django_filters
from django import forms
from django.db.models import Q, QuerySet

from common.filters import DayRangeFilter, choose_from_list
from common.widgets import QuickSelect
from connections.models import Connection
from workspaces.selectors import workspace_users


class ConnectionFilterForm(forms.Form):
    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        connected_on = cleaned.get("connected_on")
        if connected_on and connected_on.start and connected_on.stop:
            if connected_on.start > connected_on.stop:
                self.add_error(
                    "connected_on",
                    forms.ValidationError(
                        "From is after To. Choose a From date on or before the To date.",
                        code="range_reversed",
                    ),
                )
        return cleaned


class ConnectionFilter(django_filters.FilterSet):
    """Dashboard filters; all in the query string, so a filtered list can be bookmarked."""

    q = django_filters.CharFilter(
        label="Search",
        method="search",
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Name, project, dataset",
                "title": "Name, project, dataset or service account",
            }
        ),
    )
    connected_on = DayRangeFilter(
        label="Connected On",
        field_name="created_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    connected_by = django_filters.ModelChoiceFilter(
        label="Connected By",
        field_name="created_by",
        queryset=None,
        empty_label="Anyone",
        widget=QuickSelect,
        error_messages={
            "invalid_choice": "Choose Connected By from the list: only this workspace's "
            "members connect its databases."
        },
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=Connection.Status.choices,
        empty_label="Any status",
        widget=QuickSelect,
        error_messages=choose_from_list("a status"),
    )
    sort = django_filters.OrderingFilter(
        label="Sort",
        error_messages=choose_from_list("a column to sort by"),
        fields=(
            ("name", "name"),
            ("project_id", "project"),
            ("dataset_id", "dataset"),
            ("status", "status"),
            ("created_at", "connected_on"),
            ("created_by__username", "connected_by"),
        ),
    )

    class Meta:
        model = Connection
        fields: list[str] = []
        form = ConnectionFilterForm

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["connected_by"].queryset = workspace_users(workspace=workspace)

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(project_id__icontains=value)
            | Q(dataset_id__icontains=value)
            | Q(client_email__icontains=value)
        )
