from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from common.filters import DayRangeFilter, choose_from_list
from common.widgets import QuickSelect
from workspaces.audit_actions import action_group, action_label
from workspaces.models import AuditEntry, Membership, Workspace


class AuditFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        dates = cleaned.get("date")
        if dates and dates.start and dates.stop and dates.start > dates.stop:
            self.add_error("date", "The From date is after the To date.")
        return cleaned


class AuditEntryFilter(django_filters.FilterSet):
    """The audit log's filters (page and API): who, what, and between which dates (the
    workspace's local dates, inclusive)."""

    actor = django_filters.ModelChoiceFilter(
        label="Actor",
        queryset=None,
        empty_label="Anyone",
        widget=QuickSelect,
        error_messages=choose_from_list("an actor who acted in this workspace"),
    )
    action = django_filters.ChoiceFilter(
        label="Action",
        choices=[],
        empty_label="Any action",
        widget=QuickSelect,
        error_messages=choose_from_list("an action this log holds"),
    )
    date = DayRangeFilter(
        label="Date",
        field_name="created_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []
        form = AuditFilterForm

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        entries = AuditEntry.objects.filter(workspace=workspace)
        # Members, and anyone who acted here and has left since.
        self.filters["actor"].queryset = (
            get_user_model()
            .objects.filter(
                Q(pk__in=Membership.objects.filter(workspace=workspace).values("user"))
                | Q(pk__in=entries.values("actor"))
            )
            .order_by("username")
        )
        self.filters["action"].extra["choices"] = _grouped(
            entries.order_by().values_list("action", flat=True).distinct()
        )


def _grouped(actions) -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for action in sorted(actions):
        groups.setdefault(action_group(action), []).append((action, action_label(action)))
    return sorted(groups.items())
