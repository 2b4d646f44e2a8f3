from django.db import models


class Profile(models.Model):
    """A user profile, upserted by (workspace, identity)."""

    # No index of its own (every index of the table starts with the workspace) and no
    # database constraint: its deferred check at commit cost 10-15 % of a profiles import.
    # Profiles are written only by the import writer, with the run's own workspace, and
    # Django deletes them with their workspace (as for Event).
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.CASCADE,
        related_name="profiles",
        db_index=False,
        db_constraint=False,
    )
    identity = models.CharField(max_length=1024)
    properties = models.JSONField(default=dict)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    # Provenance only. No database constraint: its per-row check at commit cost a fifth of
    # an import's time, and Django still clears the pointer when a run is deleted.
    updated_by_run = models.ForeignKey(
        "imports.ImportRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "identity"], name="profile_unique_identity"
            )
        ]
        indexes = [models.Index(fields=["workspace", "-last_seen"], name="profile_ws_last_seen")]

    def __str__(self) -> str:
        return self.identity


class Event(models.Model):
    """An event; `dedupe_key` (a hash of its content, or of its ID) makes re-imports
    harmless."""

    # No index of its own (every index of the table starts with the workspace) and no
    # database constraint: its per-row check at commit was a tenth of an import's time on
    # the busiest table. Events are written only by the import writer, with the run's own
    # workspace, and Django deletes them with their workspace.
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    identity = models.CharField(max_length=1024)
    name = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict)
    dedupe_key = models.UUIDField()
    # Provenance only, without a database constraint (see Profile.updated_by_run).
    imported_by_run = models.ForeignKey(
        "imports.ImportRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "dedupe_key"], name="event_unique_dedupe")
        ]
        indexes = [
            models.Index(fields=["workspace", "-timestamp"], name="event_ws_timestamp"),
            models.Index(fields=["workspace", "identity"], name="event_ws_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.identity}"


class PropertyType(models.Model):
    """The type a workspace keeps for one property name: the first import that stores the
    property decides it, and later imports' values are cast to it where nothing is lost."""

    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.CASCADE,
        related_name="property_types",
        db_index=False,
    )
    name = models.CharField(max_length=255)
    type = models.TextField(help_text="GoogleSQL type, e.g. INT64 or ARRAY<STRING>.")
    # Plain values, not a foreign key: audience does not depend on imports, and the
    # type stays defined when that import is deleted.
    defined_by_import_id = models.UUIDField(null=True, blank=True)
    defined_by_import_name = models.CharField(max_length=100, blank=True)
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="propertytype_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.type}"
