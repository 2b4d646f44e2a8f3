import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A personal token for the REST API: one user, one workspace, one scope.

    Only a public prefix (to find the row) and a SHA-256 digest of the whole token are kept;
    the token itself is shown once, when it is created.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        RUN = "run", "Run"
        ADMIN = "admin", "Admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="api_tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the whole token, hex."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The form's one-time id: sending the same form again (a reload) creates nothing.
    form_nonce = models.UUIDField(null=True, blank=True, editable=False)

    # Not stored: set by api.services when a token authenticates (`role`: its owner's role
    # in the workspace, None if no longer a member) and by the token pages (`display`).
    role: str | None
    effective_scope: str
    display: str

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "form_nonce"], name="apitoken_one_per_form"),
        ]
        indexes = [
            models.Index(fields=["workspace", "user", "created_at"], name="apitoken_ws_user"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def works_until(self):
        """The last second the token works (expires_at itself is the first it does not)."""
        return self.expires_at - dt.timedelta(seconds=1) if self.expires_at else None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"
