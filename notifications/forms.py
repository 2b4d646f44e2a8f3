from urllib.parse import urlsplit

from django import forms

from common.validators import has_control_characters
from notifications import addresses
from notifications.events import TOGGLED_KINDS
from notifications.models import Webhook


class EventsForm(forms.Form):
    events = forms.MultipleChoiceField(
        label="Send alerts for",
        choices=[(str(kind), kind.label) for kind in TOGGLED_KINDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class RecipientForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)


class WebhookForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        required=False,
        help_text="Optional: where it goes, e.g. “Slack #data-alerts”.",
    )
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="HTTPS recommended. Public addresses only, unless the server allows others.",
    )
    payload_format = forms.ChoiceField(
        label="Payload", choices=Webhook.Format.choices, initial=Webhook.Format.JSON
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if has_control_characters(name):
            raise forms.ValidationError("Name must not contain control characters.", code="control")
        return name

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError("The URL must start with https:// or http://.", "scheme")
        if parts.fragment:
            raise forms.ValidationError("Remove the #fragment: it is never sent.", "fragment")
        try:
            addresses.check_url(url)
        except addresses.AddressRefused as refused:
            raise forms.ValidationError(str(refused), "address") from None
        return url
