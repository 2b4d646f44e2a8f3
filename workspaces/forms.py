"""The workspace settings form: its name and the time zone schedules and pages use."""

from typing import Any

from django import forms

from common.validators import has_control_characters
from common.widgets import QuickSelect
from workspaces.timezones import time_zone_names


def time_zone_choices() -> list[tuple[str, Any]]:
    """UTC first, then every IANA zone grouped by its region ("America" › "New York")."""
    groups: dict[str, list[tuple[str, str]]] = {}
    single: list[tuple[str, str]] = [("UTC", "UTC")]
    for name in time_zone_names():
        region, _, place = name.partition("/")
        if not place:
            if name != "UTC":
                single.append((name, name))
            continue
        groups.setdefault(region, []).append((name, place.replace("_", " ").replace("/", " / ")))
    return [*single, *groups.items()]


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(
        label="Workspace name",
        max_length=100,
        error_messages={
            "required": "Workspace name is required.",
            "max_length": "Workspace name must be at most %(limit_value)d characters.",
            "null_characters_not_allowed": "Workspace name must not contain control characters.",
        },
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        widget=QuickSelect,
        help_text="Pages show times in this zone, and daily, weekly, hourly and cron schedules "
        "run by its clock.",
        error_messages={
            "required": "Time zone is required.",
            "invalid_choice": "Choose a time zone from the list.",
        },
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if has_control_characters(name):
            raise forms.ValidationError(
                "Workspace name must not contain control characters.", code="control"
            )
        return name
