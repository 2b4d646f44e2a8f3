import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from notifications.events import TOGGLED_KINDS, EventKind, Health


def every_event() -> list[str]:
    return [str(kind) for kind in TOGGLED_KINDS]


class NotificationSettings(models.Model):
    """Which events a workspace is told about (all of them until an admin says otherwise)."""

    workspace = models.OneToOneField(
        "workspaces.Workspace",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="notification_settings",
    )
    events = models.JSONField(default=every_event, help_text="The event kinds that are sent.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Notifications"


class Recipient(models.Model):
    """An email address that receives the workspace's alerts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="alert_recipients"
    )
    email = models.EmailField("Email address")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                "workspace", Lower("email"), name="recipient_unique_email_per_workspace"
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Webhook(models.Model):
    """An HTTPS endpoint that receives the workspace's alerts, signed with its own secret.

    The URL is encrypted like the signing secret: a Slack incoming-webhook URL is itself
    the credential. `url_display` (scheme, host and port) is what pages and the audit log
    show; `url_digest` (an HMAC of the URL) keeps one workspace from adding it twice.
    """

    class Format(models.TextChoices):
        JSON = "json", "JSON (signed)"
        SLACK = "slack", 'Slack-compatible ({"text": …})'

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="alert_webhooks"
    )
    name = models.CharField(
        max_length=100, blank=True, help_text="Where it goes, e.g. #data-alerts."
    )
    url_display = models.CharField("URL", max_length=300)
    url_digest = models.CharField(max_length=64, editable=False)
    encrypted_url = models.TextField(editable=False)
    encrypted_secret = models.TextField(editable=False)
    payload_format = models.CharField(
        "Payload", max_length=10, choices=Format.choices, default=Format.JSON
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret_set_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "url_digest"], name="webhook_unique_url_per_workspace"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.url_display})" if self.name else self.url_display


class Alert(models.Model):
    """One event worth telling people about; sent as one Delivery per destination."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="alerts"
    )
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    summary = models.CharField(max_length=300)
    # The event as webhooks receive it (see payloads.py); emails are written from it too.
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="alert_ws_created")]

    def __str__(self) -> str:
        return self.summary


class Delivery(models.Model):
    """One alert to one recipient or webhook: tried, retried with back-off, recorded."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="alert_deliveries"
    )
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    destination = models.CharField(max_length=300, help_text="The email or URL, as shown.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker sending it holds it until then; past it, the sweep sends it again.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="delivery_ws_created"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} to {self.destination}"

    @property
    def latency_text(self) -> str:
        """How long the last attempt took: “84 ms”, “10.0 s”, or “–” before any."""
        if self.latency_ms is None:
            return "–"
        return (
            f"{self.latency_ms} ms" if self.latency_ms < 1000 else f"{self.latency_ms / 1000:.1f} s"
        )


class ImportAlertState(models.Model):
    """The health last alerted for an import, and the newest run it was judged on.

    Kept in the database so that "one alert per change of state" holds across restarts
    and any number of workers: a conditional UPDATE claims each change (see alerts.py).
    """

    import_obj = models.OneToOneField(
        "imports.Import",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="alert_state",
        db_column="import_id",
    )
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.OK)
    last_run_id = models.UUIDField(null=True, blank=True)
    last_run_created_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.import_obj_id}: {self.health}"


class ConnectionWatch(models.Model):
    """A connection's daily check (when it last ran, the health last alerted) and the key
    age last alerted (the key_set_at it was about)."""

    connection = models.OneToOneField(
        "connections.Connection",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="alert_watch",
    )
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.OK)
    checked_at = models.DateTimeField(null=True, blank=True)
    key_alerted_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["checked_at"], name="connectionwatch_checked")]

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.health}"
