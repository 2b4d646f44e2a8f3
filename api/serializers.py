"""What the API returns. Explicit fields only: a new model field never leaks by default, and
no key material is ever among them (a connection shows its service account and key ID, as
its page does, never the key)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.models import ApiToken
from connections.check import STATUSES as CHECK_STATUSES
from connections.models import Connection
from imports.models import Import, ImportRun


class Timestamp(serializers.DateTimeField):
    """ISO 8601 in UTC ("…Z"), whatever the workspace's zone."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(default_timezone=dt.UTC, **kwargs)


def absolute(request: Any, name: str, **kwargs: Any) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField(source="get_username")


@extend_schema_field(OpenApiTypes.URI)
class LinkField(serializers.Field):
    """The absolute URL of an object's endpoint."""

    def __init__(self, url_name: str, key: str = "pk", **kwargs: Any) -> None:
        self.url_name, self.key = url_name, key
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        request = self.context["request"]
        return absolute(
            request, self.url_name, ws=request.auth.workspace.slug, **{self.key: value.pk}
        )


# -- connections --------------------------------------------------------------------------


class ConnectionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = LinkField("api:connection")
    name = serializers.CharField()
    project_id = serializers.CharField()
    dataset_id = serializers.CharField()
    service_account = serializers.CharField(source="client_email")
    key_id = serializers.CharField(
        source="private_key_id", help_text="The key's ID, as Google shows it; never the key."
    )
    key_project_id = serializers.CharField()
    location = serializers.CharField(help_text="Learned from Test Connection.")
    billing_project_id = serializers.CharField(
        help_text="Runs the query jobs and read sessions and pays for them; blank: project_id."
    )
    scratch_dataset_id = serializers.CharField(
        help_text="Holds each run's result table until the run ends; "
        "blank: <dataset_id>_imports_tmp, created on first use."
    )
    scratch_kms_key_name = serializers.CharField(
        help_text="Cloud KMS key for the result tables; blank: Google-managed encryption."
    )
    maximum_bytes_billed = serializers.IntegerField(
        allow_null=True,
        help_text="No query job of this connection may bill more; null: the server's default.",
    )
    status = serializers.ChoiceField(choices=Connection.Status.choices)
    status_reason = serializers.CharField()
    last_tested_at = Timestamp(allow_null=True)
    connected_on = Timestamp(source="created_at")
    connected_by = UserRef(source="created_by", allow_null=True)
    updated_at = Timestamp()


class CheckSerializer(serializers.Serializer):
    id = serializers.CharField()
    # DRF's metaclass takes declared fields off the class; the stubs see Field.label here.
    label = serializers.CharField()  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=list(CHECK_STATUSES))
    detail = serializers.CharField()
    fix = serializers.CharField()


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    summary = serializers.CharField()
    location = serializers.CharField()
    reference = serializers.CharField()
    checks = CheckSerializer(many=True)


class ConnectionDetailSerializer(ConnectionSerializer):
    last_test = serializers.SerializerMethodField()

    @extend_schema_field(TestResultSerializer(allow_null=True))
    def get_last_test(self, connection: Connection) -> dict[str, Any] | None:
        result = connection.last_test_result
        return TestResultSerializer(result).data if result else None


class ConnectionTestSerializer(serializers.Serializer):
    connection = ConnectionSerializer()
    result = TestResultSerializer()


# -- imports and runs -----------------------------------------------------------------------


class RunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = LinkField("api:run", key="run_pk")
    import_id = serializers.UUIDField(source="import_obj_id")
    status = serializers.ChoiceField(choices=ImportRun.Status.choices)
    trigger = serializers.ChoiceField(choices=ImportRun.Trigger.choices)
    cancel_requested = serializers.BooleanField()
    scheduled_for = Timestamp()
    queued_at = Timestamp(source="created_at")
    started_at = Timestamp(allow_null=True)
    finished_at = Timestamp(allow_null=True)
    progress = serializers.FloatField(
        allow_null=True, help_text="0 to 1; null while the number of rows is not known."
    )
    rows_expected = serializers.IntegerField(allow_null=True)
    rows_read = serializers.IntegerField(
        help_text="Rows read so far: rows_written + rows_unchanged + rows_rejected."
    )
    rows_written = serializers.IntegerField(help_text="Rows that were new or changed.")
    rows_unchanged = serializers.IntegerField(
        help_text="Rows read that were already stored as they are."
    )
    rows_rejected = serializers.IntegerField()
    health = serializers.FloatField(
        source="health_percent",
        help_text="Percent of the rows read that were not rejected (100 when none were read).",
    )
    health_level = serializers.ChoiceField(
        choices=["healthy", "degraded", "unhealthy"],
        help_text="healthy: 100 %; degraded: 50 to 99.9 %; unhealthy: below 50 %.",
    )
    bytes_scanned = serializers.IntegerField(allow_null=True)
    watermark_from = serializers.CharField()
    watermark_to = serializers.CharField()
    read_path = serializers.CharField()
    job_id = serializers.CharField()
    attempts = serializers.IntegerField()
    error_message = serializers.CharField()
    rejected_rows_csv = LinkField("api:run_rejected_csv", key="run_pk")


class ConnectionRef(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ImportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = LinkField("api:import")
    name = serializers.CharField()
    connection = ConnectionRef()
    status = serializers.ChoiceField(choices=Import.Status.choices)
    source_kind = serializers.ChoiceField(choices=Import.SourceKind.choices)
    source_table = serializers.CharField()
    source_query = serializers.CharField()
    target = serializers.ChoiceField(choices=Import.Target.choices)
    identity_column = serializers.CharField()
    identity_trim = serializers.BooleanField(help_text="Spaces around identities are removed.")
    identity_lowercase = serializers.BooleanField(help_text="Identities are stored in lower case.")
    event_id_column = serializers.CharField(
        help_text="Events: the column events deduplicate by (a row read again with a stored ID "
        "replaces that event); empty: by their whole content."
    )
    null_policy = serializers.ChoiceField(
        choices=Import.NullPolicy.choices,
        help_text="Profiles: what a NULL does to a stored property (keep it, or overwrite it "
        "with null).",
    )
    rejection_threshold = serializers.IntegerField(
        help_text="Percent of the rows read a run may reject; a run above it fails."
    )
    sync_mode = serializers.ChoiceField(choices=Import.SyncMode.choices)
    cursor_column = serializers.CharField()
    watermark = serializers.CharField()
    lookback_seconds = serializers.IntegerField(
        help_text="Each incremental run reads from the watermark minus this many seconds "
        "(0, 3600, 21600, 86400, 259200 or 604800)."
    )
    schedule_kind = serializers.ChoiceField(choices=Import.ScheduleKind.choices)
    schedule = serializers.CharField(
        source="schedule_text", help_text="The schedule in words, in the workspace's time zone."
    )
    next_run_at = Timestamp(allow_null=True)
    last_error = serializers.CharField()
    created_at = Timestamp()
    created_by = UserRef(allow_null=True)
    updated_at = Timestamp()
    latest_run = RunSerializer(allow_null=True)
    runs_url = LinkField("api:import_runs")


# -- the audit log and the token itself -----------------------------------------------------


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = Timestamp(source="created_at")
    actor = UserRef(allow_null=True)
    action = serializers.CharField()
    action_label = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    details = serializers.JSONField()


class WorkspaceRef(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    time_zone = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    name = serializers.CharField()
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices)
    effective_scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        help_text="The scope it acts with: a member's token only reads, whatever its scope.",
    )
    expires_at = Timestamp(allow_null=True)
    owner = UserRef(source="user")


class WorkspaceSerializer(serializers.Serializer):
    workspace = WorkspaceRef()
    token = TokenSerializer()
    links = serializers.DictField(child=serializers.URLField())


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # DRF's metaclass takes declared fields off the class; the stubs see Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, child=serializers.ListField()
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
