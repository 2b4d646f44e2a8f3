"""Edit an import's name, schedule, rejection threshold and lookback window (and the unit of
an INT64 event time an older import never asked for). Changing source, target or mapping means
a new import (Create Import), so a watermark never silently applies to different data."""

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from common.byte_sizes import format_bytes
from imports import services
from imports.forms import (
    LookbackForm,
    RejectionThresholdForm,
    ReviewForm,
    ScheduleForm,
    SemanticsForm,
    TimestampUnitForm,
)
from imports.models import Import
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view


def _initial(import_obj: Import) -> dict:
    initial: dict[str, Any] = {
        "schedule_kind": import_obj.schedule_kind,
        "schedule_cron": import_obj.schedule_cron,
    }
    if import_obj.schedule_at:
        # the view runs in the workspace's zone (workspace_view); an instant the zone's
        # calendar cannot show (past 9999-12-31 there) is left for the admin to pick again
        try:
            local = timezone.localtime(import_obj.schedule_at)
        except OverflowError:
            pass
        else:
            initial["schedule_at"] = local.strftime("%Y-%m-%dT%H:%M")
    if import_obj.schedule_time:
        initial["schedule_time"] = import_obj.schedule_time.strftime("%H:%M")
        initial["schedule_minute"] = import_obj.schedule_time.minute
    if import_obj.schedule_weekday is not None:
        initial["schedule_weekday"] = import_obj.schedule_weekday
    return initial


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def import_edit(request: WorkspaceRequest, pk) -> HttpResponse:
    import_obj = get_in_workspace(
        Import.objects.select_related("connection"), request.workspace, pk=pk
    )
    tz = request.workspace.time_zone
    asks_unit = import_obj.needs_timestamp_unit
    incremental = import_obj.sync_mode == Import.SyncMode.INCREMENTAL
    cursor_type = import_obj.cursor_type
    unit_form = lookback_form = None
    if request.method == "POST":
        name_form = ReviewForm(request.POST)
        schedule_form = ScheduleForm(request.POST, tz=tz, now=timezone.now())
        unit_form = TimestampUnitForm(request.POST) if asks_unit else None
        threshold_form = RejectionThresholdForm(request.POST)
        lookback_form = LookbackForm(request.POST, cursor_type=cursor_type) if incremental else None
        semantics_form = SemanticsForm(request.POST, import_obj=import_obj)
        forms_posted = (
            name_form,
            schedule_form,
            threshold_form,
            unit_form,
            lookback_form,
            semantics_form,
        )
        if all(
            [form.is_valid() for form in forms_posted if form is not None]  # every error shown
        ):
            fields = (
                "schedule_kind",
                "schedule_at",
                "schedule_time",
                "schedule_weekday",
                "schedule_cron",
            )
            definition = {name: schedule_form.cleaned_data.get(name) for name in fields}
            definition["schedule_cron"] = definition["schedule_cron"] or ""
            definition["name"] = name_form.cleaned_data["name"]
            definition["maximum_bytes_billed"] = name_form.cleaned_data["maximum_bytes_billed"]
            definition["rejection_threshold"] = threshold_form.cleaned_data["rejection_threshold"]
            if unit_form is not None:
                definition["timestamp_unit"] = unit_form.cleaned_data["timestamp_unit"]
            if lookback_form is not None:
                definition["lookback_seconds"] = lookback_form.cleaned_data["lookback_seconds"]
            definition.update(semantics_form.definition())
            try:
                updated = services.import_update(
                    import_obj=import_obj, actor=request.user, definition=definition
                )
            except services.IllegalTransition as exc:
                messages.error(request, str(exc))
            else:
                started = " Its run has started." if updated.status == Import.Status.RUNNING else ""
                messages.success(request, f"Import “{definition['name']}” updated.{started}")
                return redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)
    else:
        name_form = ReviewForm(
            initial={
                "name": import_obj.name,
                "maximum_bytes_billed": format_bytes(import_obj.maximum_bytes_billed),
            }
        )
        schedule_form = ScheduleForm(tz=tz)
        schedule_form.initial = _initial(import_obj)
        unit_form = TimestampUnitForm() if asks_unit else None
        semantics_form = SemanticsForm(
            import_obj=import_obj,
            initial={
                name: getattr(import_obj, name)
                for name in (
                    "event_id_column",
                    "null_policy",
                    "identity_trim",
                    "identity_lowercase",
                )
            },
        )
        threshold_form = RejectionThresholdForm(
            initial={"rejection_threshold": import_obj.rejection_threshold}
        )
        lookback_form = (
            LookbackForm(
                initial={"lookback_seconds": import_obj.lookback_seconds}, cursor_type=cursor_type
            )
            if incremental
            else None
        )
    return render(
        request,
        "imports/edit.html",
        {
            "import_obj": import_obj,
            "name_form": name_form,
            "form": schedule_form,
            "tz": tz,
            "unit_form": unit_form,
            "threshold_form": threshold_form,
            "lookback_form": lookback_form,
            "semantics_form": semantics_form,
        },
    )
