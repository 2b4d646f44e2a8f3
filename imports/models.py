import datetime as dt
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse


class Import(models.Model):
    """What to read from a connection's dataset, where it goes, and when."""

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"

    ACTIVE_STATUSES = (Status.READY, Status.SCHEDULED, Status.PAUSED, Status.RUNNING)

    class SourceKind(models.TextChoices):
        TABLE = "table", "Table"
        QUERY = "query", "SQL query"

    class Target(models.TextChoices):
        PROFILES = "profiles", "User Profiles"
        EVENTS = "events", "Events"

    class SyncMode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    class TimestampUnit(models.TextChoices):
        SECONDS = "seconds", "Seconds"
        MILLISECONDS = "milliseconds", "Milliseconds"
        MICROSECONDS = "microseconds", "Microseconds"

    class Lookback(models.IntegerChoices):
        NONE = 0, "None"
        HOUR = 3600, "1 hour"
        SIX_HOURS = 6 * 3600, "6 hours"
        DAY = 86400, "1 day"
        THREE_DAYS = 3 * 86400, "3 days"
        SEVEN_DAYS = 7 * 86400, "7 days"

    class NullPolicy(models.TextChoices):
        KEEP = "keep", "Keep the stored value"
        OVERWRITE = "overwrite", "Overwrite with empty"

    class ScheduleKind(models.TextChoices):
        NONE = "none", "No schedule (run manually)"
        NOW = "now", "Once, now"
        ONCE = "once", "Once, at a date and time"
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        CRON = "cron", "Cron expression"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="imports"
    )
    # Deleting a connection stops and deletes its imports (and their runs) with it.
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="imports"
    )
    name = models.CharField(max_length=100)

    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    source_table = models.CharField(max_length=1024, blank=True)
    source_query = models.TextField(blank=True)
    source_schema = models.JSONField(
        default=list,
        help_text="The source's columns: [{name, type, mode, fields?, rangeElementType?}].",
    )

    target = models.CharField(max_length=10, choices=Target.choices)
    identity_column = models.CharField(max_length=300)
    event_name_column = models.CharField(max_length=300, blank=True)
    event_name_fixed = models.CharField(max_length=255, blank=True)
    timestamp_column = models.CharField(max_length=300, blank=True)
    # An event time from a DATETIME or DATE column is a wall-clock time in this zone, and one
    # from an INT64 column counts this unit since 1970. Both are fixed with the import, not
    # read from the workspace at run time: an event's time (and so its dedupe key) must not
    # change when someone changes the workspace's zone.
    source_time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA zone of a DATETIME or DATE timestamp column."
    )
    timestamp_unit = models.CharField(
        max_length=12,
        blank=True,
        choices=TimestampUnit.choices,
        help_text="What an INT64 timestamp column counts since 1970-01-01.",
    )
    # [{"column": "plan", "property": "plan", "include": true}]
    column_mapping = models.JSONField(default=list)
    # With an event ID column, events deduplicate by (workspace, event ID) and a row read
    # again with the same ID replaces the stored event; without it, by their whole content.
    event_id_column = models.CharField(
        max_length=300,
        blank=True,
        help_text="Events deduplicate by this column's value instead of their content.",
    )
    null_policy = models.CharField(
        max_length=10,
        choices=NullPolicy.choices,
        default=NullPolicy.KEEP,
        help_text="What a NULL in the source does to a profile property already stored.",
    )
    identity_trim = models.BooleanField(
        default=False, help_text="Remove spaces before and after each identity."
    )
    identity_lowercase = models.BooleanField(
        default=False, help_text="Store identities in lower case."
    )

    sync_mode = models.CharField(max_length=12, choices=SyncMode.choices, default=SyncMode.FULL)
    cursor_column = models.CharField(max_length=300, blank=True)
    cursor_type = models.CharField(max_length=20, blank=True)
    # The highest cursor value fully imported, as text (ISO date/time or integer).
    watermark = models.CharField(max_length=64, blank=True)
    # Each incremental run reads from (watermark - lookback), so rows that arrive late with
    # an earlier cursor value are still read; the destination's keys make re-reads harmless.
    lookback_seconds = models.PositiveIntegerField(choices=Lookback.choices, default=0)
    maximum_bytes_billed = models.BigIntegerField(
        "Maximum bytes billed",
        null=True,
        blank=True,
        help_text="No query of this import may bill more. Blank: the connection's limit.",
    )
    # Why and when the watermark was last cleared or moved back (a re-import, a new source),
    # shown on the import page.
    watermark_reset_at = models.DateTimeField(null=True, blank=True)
    watermark_reset_reason = models.CharField(max_length=200, blank=True)

    schedule_kind = models.CharField(
        max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.NONE
    )
    schedule_at = models.DateTimeField(null=True, blank=True)
    schedule_time = models.TimeField(null=True, blank=True)
    schedule_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    schedule_cron = models.CharField(max_length=100, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    # A run that rejects a larger share of the rows it read than this fails (and so does not
    # move the watermark): a renamed identity column should not look like a good run.
    rejection_threshold = models.PositiveSmallIntegerField(
        default=50,
        validators=[MaxValueValidator(100, "Enter a rejection threshold from 0 to 100 %.")],
        help_text="Percent of the rows read a run may reject and still succeed.",
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Set for display by imports.selectors and the views, not stored.
    latest_run_id: uuid.UUID | None
    latest_run: "ImportRun | None"
    schedule_text: str

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source_kind="table") | ~Q(source_table=""),
                name="import_table_source_has_table",
            ),
            models.CheckConstraint(
                condition=~Q(source_kind="query") | ~Q(source_query=""),
                name="import_query_source_has_query",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_run_at"], name="import_due"),
            models.Index(fields=["workspace", "status"], name="import_ws_status"),
            models.Index(fields=["workspace", "created_at"], name="import_ws_created_at"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("imports:detail", kwargs={"ws": self.workspace.slug, "pk": self.pk})

    @property
    def timestamp_type(self) -> str:
        """The source type of an events import's timestamp column ("" when unknown)."""
        for column in self.source_schema or []:
            if isinstance(column, dict) and column.get("name") == self.timestamp_column:
                return str(column.get("type") or "").upper().replace("INTEGER", "INT64")
        return ""

    @property
    def needs_timestamp_unit(self) -> bool:
        """An INT64 event time whose unit no one has chosen yet (imports from before units
        were asked for): runs fail until an admin chooses it on Edit."""
        return (
            self.target == self.Target.EVENTS
            and self.timestamp_type == "INT64"
            and not self.timestamp_unit
        )

    @property
    def upcoming_run_at(self) -> dt.datetime | None:
        """The next scheduled run to show: none while paused (the schedule does not fire)."""
        return None if self.status == self.Status.PAUSED else self.next_run_at


class ImportRun(models.Model):
    """One execution of an import. PostgreSQL holds its truth; the broker only wakes workers."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        SUCCEEDED_WITH_REJECTIONS = "succeeded_with_rejections", "Succeeded with rejections"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    SUCCEEDED_STATUSES = (Status.SUCCEEDED, Status.SUCCEEDED_WITH_REJECTIONS)

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    import_obj = models.ForeignKey(
        Import, on_delete=models.CASCADE, related_name="runs", db_column="import_id"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="import_runs"
    )
    scheduled_for = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Fencing: only the worker holding an unexpired lease may write for this run.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    rows_expected = models.BigIntegerField(null=True, blank=True)
    # Every row read is written, unchanged (already stored as it is) or rejected:
    # rows_read = rows_written + rows_unchanged + rows_rejected.
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    bytes_scanned = models.BigIntegerField(null=True, blank=True)
    bytes_billed = models.BigIntegerField(null=True, blank=True)
    bytes_estimated = models.BigIntegerField(
        null=True, blank=True, help_text="The dry run's estimate before the run spent anything."
    )
    committed_offset = models.BigIntegerField(
        default=0, help_text="Rows of the result table already written."
    )
    watermark_from = models.CharField(max_length=64, blank=True)
    watermark_to = models.CharField(
        max_length=64, blank=True, help_text="The highest cursor value read so far."
    )
    watermark_limit = models.CharField(
        max_length=64,
        blank=True,
        help_text="The latest cursor value the run accepts: later rows are future-dated.",
    )
    job_id = models.CharField(max_length=1024, blank=True)
    result_table = models.CharField(max_length=1024, blank=True)
    read_path = models.CharField(max_length=20, blank=True)
    read_stream = models.CharField(
        max_length=1024,
        blank=True,
        help_text="The Storage Read API stream of the result table (read_path 'storage').",
    )
    error_message = models.TextField(blank=True)

    duration_text: str  # set for display by the views, not stored
    rate_text: str  # set for display by the views, not stored

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["import_obj", "scheduled_for"], name="importrun_unique_slot"
            ),
            models.UniqueConstraint(
                fields=["import_obj"],
                condition=Q(status__in=["queued", "running"]),
                name="importrun_one_active_per_import",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_until"], name="importrun_status_lease"),
            models.Index(fields=["import_obj", "-created_at"], name="importrun_import_created"),
        ]

    def __str__(self) -> str:
        return f"{self.import_obj_id} at {self.scheduled_for:%Y-%m-%d %H:%M}"

    @property
    def health_percent(self) -> float:
        """(read − rejected) / read in percent, floored to one decimal so that a run with
        any rejection never shows 100 %; 100 when nothing was read."""
        return health_percent(self.rows_read, self.rows_rejected)

    @property
    def health_text(self) -> str:
        """ "100 %", "99.9 %", "0 %"."""
        return f"{self.health_percent:g} %"

    @property
    def health_level(self) -> str:
        """CleverTap's three bands: "healthy" (100 %), "degraded" (50–99 %), "unhealthy"."""
        return health_level(self.rows_read, self.rows_rejected)

    @property
    def progress(self) -> float | None:
        if self.status in self.SUCCEEDED_STATUSES:
            return 1.0
        if not self.rows_expected:
            return None
        return min(1.0, self.committed_offset / self.rows_expected)

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class RunPart(models.Model):
    """One read stream of a run split into parts: a unit any worker can take, with its own
    lease and committed offset (see imports.run.parts). The run's counters are the sums."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    read_stream = models.CharField(max_length=1024)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    committed_offset = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    watermark_to = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="runpart_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} part {self.number}"


def health_percent(read: int, rejected: int) -> float:
    if read <= 0 or rejected <= 0:
        return 100.0
    return ((read - rejected) * 1000 // read) / 10


def health_level(read: int, rejected: int) -> str:
    if read <= 0 or rejected <= 0:
        return "healthy"
    return "degraded" if (read - rejected) * 2 >= read else "unhealthy"


class RejectedRow(models.Model):
    """The first rejected rows of a run, with why (downloadable as CSV).

    The rows of part p of a split run are numbered from p × PART_ROW_SPAN + 1, so that
    rejected rows keep distinct numbers that say which part and which row of its stream."""

    PART_ROW_SPAN = 10**12

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.BigIntegerField()
    reason = models.CharField(max_length=255)
    data = models.JSONField()

    data_text: str  # set for display by the views, not stored

    class Meta:
        ordering = ["row_number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "row_number"], name="rejectedrow_unique"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"

    @property
    def part(self) -> int:
        """The part of a split run the row was read by, counted from 1."""
        return (self.row_number - 1) // self.PART_ROW_SPAN + 1

    @property
    def row_in_part(self) -> int:
        return (self.row_number - 1) % self.PART_ROW_SPAN + 1


class WorkerHeartbeat(models.Model):
    """Last time each worker ran the heartbeat task; /healthz reports the newest."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
