import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class Connection(models.Model):
    """A BigQuery dataset the workspace imports from, with its encrypted service-account key."""

    class Status(models.TextChoices):
        UNTESTED = "untested", "Untested"
        OK = "ok", "OK"
        FAILING = "failing", "Failing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="connections"
    )
    name = models.CharField("Connection name", max_length=100)
    project_id = models.CharField("Project ID", max_length=255)
    dataset_id = models.CharField("Dataset ID", max_length=1024)
    # Fernet token of the key JSON; never rendered, logged or shown in the admin.
    encrypted_key = models.TextField(editable=False)
    client_email = models.CharField("Service account", max_length=255)
    private_key_id = models.CharField("Key ID", max_length=128)
    key_project_id = models.CharField("Key's project", max_length=255, blank=True)
    # When this key was saved here: Google recommends rotating keys after 90 days, and alerts
    # say when one is older. (Google's own creation time of the key is not in the key file.)
    key_set_at = models.DateTimeField("Key saved on", default=timezone.now, editable=False)
    location = models.CharField(
        "Dataset location", max_length=64, blank=True, help_text="Learned from Test Connection."
    )
    # Cost and where jobs run (DESIGN.md "Cost"). Blank/None: the defaults named in help_text.
    billing_project_id = models.CharField(
        "Billing project",
        max_length=255,
        blank=True,
        help_text="Runs query jobs and read sessions (and pays for them). Blank: the Project ID.",
    )
    scratch_dataset_id = models.CharField(
        "Scratch dataset",
        max_length=1024,
        blank=True,
        help_text="Holds each run's result table until the run ends. "
        "Blank: <Dataset ID>_imports_tmp, created on first use.",
    )
    scratch_kms_key_name = models.CharField(
        "Scratch KMS key",
        max_length=512,
        blank=True,
        help_text="Cloud KMS key for the result tables, where a policy requires CMEK.",
    )
    maximum_bytes_billed = models.BigIntegerField(
        "Maximum bytes billed",
        null=True,
        blank=True,
        help_text="No query job of this connection may bill more. Blank: the server's default.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNTESTED)
    status_reason = models.CharField(max_length=500, blank=True)
    last_test_result = models.JSONField(null=True, blank=True, editable=False)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField("Connected On", default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="Connected By",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    import_count: int  # set for display by imports.selectors.with_import_counts, not stored

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "workspace", Lower("name"), name="connection_unique_name_per_workspace"
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="connection_ws_created_at"),
            models.Index(fields=["workspace", "created_by"], name="connection_ws_created_by"),
            models.Index(fields=["workspace", "name"], name="connection_ws_name"),
            models.Index(fields=["workspace", "status"], name="connection_ws_status"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("connections:detail", kwargs={"ws": self.workspace.slug, "pk": self.pk})
