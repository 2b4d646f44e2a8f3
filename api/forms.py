from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from django import forms
from django.utils import timezone

from api.models import ApiToken

SCOPE_HELP = {
    ApiToken.Scope.READ: "Read connections, imports, runs and rejected rows (and, for admins, "
    "the audit log).",
    ApiToken.Scope.RUN: "Read, trigger runs and run Test Connection: for a pipeline step that "
    "starts an import after a dbt job.",
    ApiToken.Scope.ADMIN: "Run, and also pause, resume and stop imports.",
}
DEFAULT_LIFETIME = dt.timedelta(days=90)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="What uses it, e.g. “dbt Cloud nightly job”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scope = forms.ChoiceField(
        label="Scope", choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        help_text="The token works until the end of this day. Leave empty for no expiry.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    nonce = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    def __init__(self, *args, time_zone: str, **kwargs) -> None:
        self.zone = zoneinfo.ZoneInfo(time_zone)
        super().__init__(*args, **kwargs)
        today = timezone.now().astimezone(self.zone).date()
        self.fields["expires_on"].initial = today + DEFAULT_LIFETIME

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.", code="blank")
        return name

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data["expires_on"]
        today = timezone.now().astimezone(self.zone).date()
        if day is not None and day < today:
            raise forms.ValidationError(
                "The expiry date is in the past. Choose today or a later date, or leave it "
                "empty for no expiry.",
                code="past",
            )
        return day

    @property
    def expires_at(self) -> dt.datetime | None:
        """The end of the chosen day, in the workspace's time zone."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        next_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.zone)
        return next_day.astimezone(dt.UTC)
