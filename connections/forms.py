"""The Add Database / edit form: validates every field before any network call."""

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from common.byte_sizes import clean_limit, format_bytes
from common.validators import has_control_characters
from connections.identifiers import validate_dataset_id, validate_project_id
from connections.keyfile import (
    MAX_KEY_BYTES,
    KeyFileError,
    ServiceAccountKey,
    key_too_large,
    parse_service_account_key,
)
from connections.models import Connection
from workspaces.models import Workspace

KMS_KEY_NAME = re.compile(
    r"projects/[a-z0-9.:-]+/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]+"
    r"/cryptoKeys/[A-Za-z0-9_-]+"
)
ADVANCED_FIELDS = (
    "billing_project_id",
    "scratch_dataset_id",
    "scratch_kms_key_name",
    "maximum_bytes_billed",
)


def _renamed(error: ValidationError, old: str, new: str) -> ValidationError:
    """The identifier rules' message, about this field (they speak of "Project ID")."""
    return ValidationError(
        [message.replace(old, new) for message in error.messages], code=error.code
    )


def clean_billing_project(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_project_id(value)
    except ValidationError as error:
        raise _renamed(error, "Project ID", "Billing project") from error


def clean_scratch_dataset(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_dataset_id(value)
    except ValidationError as error:
        raise _renamed(error, "Dataset ID", "Scratch dataset") from error


def clean_kms_key_name(value: str) -> str:
    if value and not KMS_KEY_NAME.fullmatch(value):
        raise ValidationError(
            "Scratch KMS key must be a Cloud KMS key name: "
            "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY.",
            code="kms_key_name",
        )
    return value


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value back: a key must not be echoed into a page."""

    def format_value(self, value: Any) -> None:
        return None


def _required(label: str) -> dict[str, str]:
    return {
        "required": f"{label} is required.",
        "null_characters_not_allowed": f"{label} must not contain control characters.",
    }


class ConnectionForm(forms.Form):
    name = forms.CharField(
        label="Connection name",
        max_length=100,
        error_messages={
            **_required("Connection name"),
            "max_length": "Connection name must be at most %(limit_value)d characters.",
        },
    )
    project_id = forms.CharField(
        label="Project ID",
        max_length=255,
        error_messages={
            **_required("Project ID"),
            "max_length": "Project ID must be at most 30 characters (plus a domain prefix).",
        },
        help_text="For example my-project-123, or example.com:my-project for a legacy project.",
    )
    dataset_id = forms.CharField(
        label="Dataset ID",
        max_length=1024,
        error_messages={
            **_required("Dataset ID"),
            "max_length": "Dataset ID must be at most 1,024 characters.",
        },
        help_text="Letters, digits and underscores, e.g. analytics_prod.",
    )
    key_file = forms.FileField(
        label="Upload JSON file",
        required=False,
        error_messages={
            "empty": "The uploaded key file is empty.",
            "invalid": "The uploaded key file could not be read; choose the file again.",
        },
        widget=forms.ClearableFileInput(attrs={"accept": "application/json,.json"}),
    )
    key_text = forms.CharField(
        label="Custom key",
        required=False,
        strip=False,
        error_messages={
            "null_characters_not_allowed": "The custom key contains NUL characters, which a "
            "JSON key file never does. Paste the file as Google gave it."
        },
        widget=SecretTextarea(
            attrs={
                "rows": 8,
                "spellcheck": "false",
                "autocomplete": "off",
                "maxlength": MAX_KEY_BYTES,
                "placeholder": '{"type": "service_account", ...}',
            }
        ),
    )

    # Advanced: where jobs run and results go, and the cost limit (DESIGN.md "Cost").
    billing_project_id = forms.CharField(
        label="Billing project",
        max_length=255,
        required=False,
        help_text="Project that runs the query jobs and read sessions, and pays for them. "
        "Blank: the Project ID.",
    )
    scratch_dataset_id = forms.CharField(
        label="Scratch dataset",
        max_length=1024,
        required=False,
        error_messages={"max_length": "Scratch dataset must be at most 1,024 characters."},
        help_text="Dataset in the Project ID that holds each run's result until the run ends. "
        "Blank: <Dataset ID>_imports_tmp, created on first use.",
    )
    scratch_kms_key_name = forms.CharField(
        label="Scratch KMS key",
        max_length=512,
        required=False,
        help_text="Cloud KMS key for the result tables, where a policy requires CMEK: "
        "projects/…/locations/…/keyRings/…/cryptoKeys/….",
    )
    maximum_bytes_billed = forms.CharField(
        label="Maximum bytes billed",
        max_length=40,
        required=False,
        help_text="No query job of this connection may bill more, e.g. 100 GB or 1 TB (at least "
        "10 MB). Blank: the server's default.",
    )

    def __init__(
        self,
        *args: Any,
        workspace: Workspace,
        instance: Connection | None = None,
        **kwargs: Any,
    ) -> None:
        self.workspace = workspace
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "project_id": instance.project_id,
                "dataset_id": instance.dataset_id,
                "billing_project_id": instance.billing_project_id,
                "scratch_dataset_id": instance.scratch_dataset_id,
                "scratch_kms_key_name": instance.scratch_kms_key_name,
                "maximum_bytes_billed": format_bytes(instance.maximum_bytes_billed),
            }
        super().__init__(*args, **kwargs)
        self.key: ServiceAccountKey | None = None
        # Each field's errors live in a box that is always there (Test Connection replaces
        # its content in place), so screen readers find the current ones.
        for name, field in self.fields.items():
            described = [f"help-{name}"] if field.help_text else []
            field.widget.attrs["aria-describedby"] = " ".join([*described, f"errors-{name}"])

    @classmethod
    def for_refused_body(
        cls, *, workspace: Workspace, instance: Connection | None = None
    ) -> "ConnectionForm":
        """The form again after a submission refused unread for its size (a key far over
        64 KiB): only the key's own message can be given, since nothing of what was typed
        was read."""
        form = cls(workspace=workspace, instance=instance)
        form.full_clean()  # an unbound form's full_clean() only starts an empty ErrorDict
        form.cleaned_data = {}
        form.add_error("key_file", key_too_large())
        return form

    @property
    def key_required(self) -> bool:
        return self.instance is None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if has_control_characters(name):
            raise ValidationError(
                "Connection name must not contain control characters.", code="control"
            )
        taken = Connection.objects.filter(workspace=self.workspace, name__iexact=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(
                "Connection name is already used by another connection in this workspace.",
                code="name_taken",
            )
        return name

    def clean_project_id(self) -> str:
        return validate_project_id(self.cleaned_data["project_id"])

    def clean_dataset_id(self) -> str:
        return validate_dataset_id(self.cleaned_data["dataset_id"])

    def clean_billing_project_id(self) -> str:
        return clean_billing_project(self.cleaned_data["billing_project_id"].strip())

    def clean_scratch_dataset_id(self) -> str:
        return clean_scratch_dataset(self.cleaned_data["scratch_dataset_id"].strip())

    def clean_scratch_kms_key_name(self) -> str:
        return clean_kms_key_name(self.cleaned_data["scratch_kms_key_name"].strip())

    def clean_maximum_bytes_billed(self) -> int | None:
        return clean_limit(self.cleaned_data["maximum_bytes_billed"], label="Maximum bytes billed")

    @property
    def advanced(self) -> dict[str, Any]:
        """The Advanced fields as cleaned (blank: the defaults their help texts name)."""
        return {name: self.cleaned_data.get(name) for name in ADVANCED_FIELDS}

    @property
    def advanced_has_errors(self) -> bool:
        """Open the Advanced part when one of its fields needs correcting."""
        return any(name in self.errors for name in ADVANCED_FIELDS)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        upload = cleaned.get("key_file")
        pasted = cleaned.get("key_text") or ""
        has_paste = bool(pasted.strip())
        if upload and has_paste:
            raise ValidationError(
                "Google Service Account Key: give the key either as an uploaded JSON file or "
                "as a custom key, not both.",
                code="key_both",
            )
        if not upload and not has_paste:
            # An unreadable upload or paste has its own error already.
            if self.key_required and not {"key_file", "key_text"} & self.errors.keys():
                self.add_error(
                    "key_file",
                    ValidationError(
                        "Google Service Account Key is required: upload the JSON file or paste "
                        "it as a custom key.",
                        code="key_missing",
                    ),
                )
            return cleaned
        field = "key_file" if upload else "key_text"
        try:
            raw = _read_upload(upload) if upload else pasted
            self.key = parse_service_account_key(
                raw, allowed_token_uris=settings.KEY_TOKEN_URI_ALLOWLIST
            )
        except KeyFileError as exc:
            self.add_error(field, exc if upload else pasted_key_error(exc))
        return cleaned

    @property
    def key_project_note(self) -> str:
        """Shown, not refused: a key may legitimately come from another project."""
        project_id = self.cleaned_data.get("project_id") if hasattr(self, "cleaned_data") else None
        if self.key and project_id and self.key.project_id != project_id:
            return (
                f"The key belongs to project {self.key.project_id}, not {project_id}. That is fine "
                f"when the service account was granted access to {project_id}."
            )
        return ""


# The parser speaks of a file; a pasted key is refused in the words of the Custom key tab.
_PASTED_WORDS = (
    ("The key file's", "The pasted key's"),
    ("The key file", "The pasted key"),
    ("Upload the whole JSON key file", "Paste the whole JSON key file"),
    ("Upload the JSON key file", "Paste the whole JSON key file"),
    ("Upload the key file as Google gave it", "Paste the whole key file as Google gave it"),
    ("and upload the JSON", "and paste the JSON"),
)


def pasted_key_error(error: KeyFileError) -> KeyFileError:
    """`error` in the words of the Custom key tab."""
    message = str(error.message)
    for file_words, pasted_words in _PASTED_WORDS:
        message = message.replace(file_words, pasted_words)
    return KeyFileError(message, error.code or "invalid")


def _read_upload(upload: Any) -> bytes:
    """Read at most one byte past the limit: enough for the parser to refuse a huge file."""
    upload.seek(0)
    return upload.read(MAX_KEY_BYTES + 1)
