from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from django import forms
from django.utils import timezone

from api.models import ApiToken
from common.validators import has_control_characters

SCOPE_HELP = {
    ApiToken.Scope.READ: "Read connections, imports, runs and rejected rows (and, for admins, "
    "the audit log).",
    ApiToken.Scope.RUN: "Read, trigger runs and run Test Connection: for a pipeline step that "
    "starts an import after a dbt job.",
    ApiToken.Scope.ADMIN: "Run, and also pause, resume and stop imports.",
}
DEFAULT_LIFETIME = dt.timedelta(days=90)
# A later expiry is no expiry in practice (leave the field empty for that), and the end of
# 9999-12-31 is past the last date Python can hold.
LONGEST_LIFETIME_YEARS = 100


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="What uses it, e.g. “dbt Cloud nightly job”.",
        error_messages={"required": "Give the token a name."},
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

    # Sent back unchanged by the page; a form sent twice creates one token (see services).
    nonce = forms.CharField(widget=forms.HiddenInput, initial=uuid.uuid4, required=False)

    def __init__(self, *args, time_zone: str, **kwargs) -> None:
        self.zone = zoneinfo.ZoneInfo(time_zone)
        super().__init__(*args, **kwargs)
        today = timezone.now().astimezone(self.zone).date()
        self.fields["expires_on"].initial = today + DEFAULT_LIFETIME

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.", code="blank")
        if has_control_characters(name):
            raise forms.ValidationError(
                "Token name must not contain control characters.", code="control"
            )
        return name

    def clean_nonce(self) -> uuid.UUID | None:
        """The form's id, or None when it was tampered with: the token is then created
        without the guard against a second send, rather than refused with an error on a
        field nobody sees."""
        try:
            return uuid.UUID(self.cleaned_data["nonce"])
        except ValueError:
            return None

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data["expires_on"]
        today = timezone.now().astimezone(self.zone).date()
        if day is not None and day < today:
            raise forms.ValidationError(
                "The expiry date is in the past. Choose today or a later date, or leave it "
                "empty for no expiry.",
                code="past",
            )
        if day is not None and day > _years_later(today, LONGEST_LIFETIME_YEARS):
            raise forms.ValidationError(
                f"Choose a date within {LONGEST_LIFETIME_YEARS} years, or leave it empty for "
                "no expiry.",
                code="too_far",
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


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
