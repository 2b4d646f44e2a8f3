"""Import monitoring pages: list, detail with live progress, actions, runs, rejected rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from common.csv_stream import cell_text
from common.pagination import page_by_keys
from imports import cost, exports, reimport, selectors, services
from imports.forms import ReimportForm
from imports.models import Import, ImportRun
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view
from workspaces.timezones import local_or_utc

PAGE_SIZE = 25
RUNS_PAGE_SIZE = 20
REJECTED_SHOWN = 100
POLL_SECONDS = 2

ACTIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "run-now": (services.import_run_now, "“{name}” is queued to run now."),
    "pause": (services.import_pause, "“{name}” paused. Resume it to continue its schedule."),
    "resume": (services.import_resume, "“{name}” resumed."),
}
REIMPORTED = "“{name}”: the next run reads from {day}. Run now starts it now."
REIMPORTED_ALL = "“{name}”: the next run reads every row again. Run now starts it now."
SCHEDULE_RESUMED = "“{name}”: schedule resumed."
STOPPED = "“{name}” stopped. A running run ends after the page it is writing."
STOPPED_SCHEDULE = " Resume schedule brings the schedule back."


def duration_text(value: dt.timedelta | float | None) -> str:
    """'2 h 5 min', '3 min 20 s', '45 s', '<1 s', with no-break spaces so cells do not wrap."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    seconds = max(0, round(seconds))
    if seconds < 1:
        text = "<1 s"
    else:
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        if hours:
            text = f"{hours} h {minutes} min" if minutes else f"{hours} h"
        elif minutes:
            text = f"{minutes} min {secs} s" if secs else f"{minutes} min"
        else:
            text = f"{secs} s"
    return text.replace(" ", "\u00a0")


def rate_text(rows_per_second: float | None) -> str:
    if rows_per_second is None:
        return ""
    if rows_per_second >= 10:
        return f"{round(rows_per_second):,}"
    return f"{rows_per_second:.1f}".removesuffix(".0")


def _decorate_runs(runs: Iterable[ImportRun]) -> None:
    for run in runs:
        run.duration_text = duration_text(run.duration)


def _decorate_imports(imports: list[Import], time_zone: str) -> None:
    selectors.attach_latest_runs(imports)
    for import_obj in imports:
        import_obj.schedule_text = selectors.import_schedule_text(
            import_obj=import_obj, time_zone=time_zone
        )


@workspace_view
@require_http_methods(["GET", "HEAD"])
def import_list(request: WorkspaceRequest) -> HttpResponse:
    filterset = selectors.imports_for_list(workspace=request.workspace, params=request.GET)
    valid = filterset.is_valid()
    queryset = filterset.qs if valid else Import.objects.none()
    page = page_by_keys(queryset, request.GET.get("page"), PAGE_SIZE)
    _decorate_imports(page.object_list, request.workspace.time_zone)
    return render(
        request,
        "imports/list.html",
        {
            "filterset": filterset,
            "page": page,
            "filtered": bool(filterset.form.changed_data),
            # Imports are created from their connection: offer it when the list shows one.
            "for_connection": filterset.form.cleaned_data.get("connection") if valid else None,
        },
    )


def _get_import(request: WorkspaceRequest, pk: Any) -> Import:
    return get_in_workspace(
        Import.objects.select_related("connection", "created_by"), request.workspace, pk=pk
    )


def _progress_context(run: ImportRun | None) -> dict[str, Any]:
    if run is None:
        return {"progress": None}
    progress = selectors.run_progress(run=run)
    return {
        "progress": progress,
        "elapsed_text": duration_text(progress.elapsed),
        "time_left_text": duration_text(progress.seconds_left)
        if progress.seconds_left is not None
        else "",
        "rate_text": rate_text(progress.rows_per_second),
        "poll_seconds": POLL_SECONDS,
    }


def _runs_page(request: WorkspaceRequest, import_obj: Import) -> Any:
    runs = Paginator(selectors.import_runs(import_obj=import_obj), RUNS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    _decorate_runs(runs.object_list)
    return runs


def _actions_key(allowed: set[str]) -> str:
    return ".".join(sorted(allowed))


def _detail_context(request: WorkspaceRequest, import_obj: Import) -> dict[str, Any]:
    active_run = selectors.import_active_run(import_obj=import_obj)
    runs = _runs_page(request, import_obj)
    allowed = selectors.import_allowed_actions(import_obj=import_obj, active_run=active_run)
    return {
        "imp": import_obj,
        "schedule_text": selectors.import_schedule_text(
            import_obj=import_obj, time_zone=request.workspace.time_zone
        ),
        "mapping_rows": selectors.import_mapping_rows(import_obj=import_obj),
        "watermark_note": selectors.import_watermark_note(import_obj=import_obj),
        "projection": cost.monthly_projection(import_obj),
        "limit_text": cost.limit_text(import_obj),
        "allowed": allowed,
        "actions_key": _actions_key(allowed),
        "runs": runs,
        "active_run": active_run,
        "live": selectors.import_is_live(import_obj=import_obj, active_run=active_run),
        "due_now": import_obj.next_run_at is not None and import_obj.next_run_at <= timezone.now(),
        "poll_seconds": POLL_SECONDS,
        **_progress_context(active_run),
    }


@workspace_view
@require_http_methods(["GET", "HEAD"])
def import_detail(request: WorkspaceRequest, pk: Any) -> HttpResponse:
    import_obj = _get_import(request, pk)
    return render(request, "imports/detail.html", _detail_context(request, import_obj))


@workspace_view
@require_http_methods(["GET", "HEAD"])
def import_progress(request: WorkspaceRequest, pk: Any) -> HttpResponse:
    """The live fragment the detail page polls: the run's progress, with the status badge
    and the run history swapped in out of band.

    The fragment carries its own hx-trigger only while the import is live (a run queued or
    running, or one due), so polling stops by itself. It follows the run given in `run`
    until that run ends, then shows how it ended. The buttons sit outside the fragment: they
    are swapped (out of band) only when the set of actions changed (`actions`), and the
    definition (next run, watermark) only when the run the page was following has ended.
    """
    import_obj = _get_import(request, pk)
    context = _detail_context(request, import_obj)
    followed = request.GET.get("run")
    active_run = context["active_run"]
    if active_run is None and followed:
        run_id = _uuid_or_none(followed)  # a malformed id follows no run
        runs = selectors.import_runs(import_obj=import_obj)
        shown_run = runs.filter(pk=run_id).first() if run_id else None
        context.update(_progress_context(shown_run))
    if request.htmx:
        context["oob"] = True
        context["actions_oob"] = request.GET.get("actions") != context["actions_key"]
        ended = bool(followed) and (active_run is None or str(active_run.pk) != followed)
        context["definition_oob"] = ended or context["actions_oob"]
    return render(request, "imports/_progress.html", context)


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@workspace_view(admin_only=True)
@require_POST
def import_action(request: WorkspaceRequest, pk: Any, action: str) -> HttpResponse:
    import_obj = _get_import(request, pk)
    service, success = ACTIONS[action]
    if action == "resume" and import_obj.status == Import.Status.STOPPED:
        success = SCHEDULE_RESUMED
    try:
        service(import_obj=import_obj, actor=request.user)
    except services.IllegalTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success.format(name=import_obj.name))
    return redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def import_stop(request: WorkspaceRequest, pk: Any) -> HttpResponse:
    """Stop asks first (on the import's page, without JavaScript) and says how it differs
    from Pause."""
    import_obj = _get_import(request, pk)
    if request.method == "POST":
        try:
            services.import_stop(import_obj=import_obj, actor=request.user)
        except services.IllegalTransition as exc:
            messages.error(request, str(exc))
        else:
            stopped = STOPPED.format(name=import_obj.name)
            if selectors.import_has_schedule_to_resume(import_obj=import_obj):
                stopped += STOPPED_SCHEDULE
            messages.success(request, stopped)
        return redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)
    context = _detail_context(request, import_obj)
    if "stop" not in context["allowed"]:
        messages.error(
            request,
            f"The import is {import_obj.get_status_display().lower()} with no run and nothing "
            "scheduled: nothing to stop.",
        )
        return redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)
    context["confirm_stop"] = True
    context["can_pause"] = "pause" in context["allowed"]
    context["repeats"] = selectors.import_has_schedule_to_resume(import_obj=import_obj)
    return render(request, "imports/detail.html", context)


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def import_reimport(request: WorkspaceRequest, pk: Any) -> HttpResponse:
    """Re-import everything, or from a day: asks first (what will be read, and the bytes a
    dry run of that query estimates), then moves the watermark back on POST."""
    import_obj = _get_import(request, pk)
    form = ReimportForm(
        request.POST if request.method == "POST" else request.GET,
        time_zone=request.workspace.time_zone,
    )
    back = redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["from_day"]))
        return back
    from_day = form.cleaned_data["from_day"]
    if request.method == "POST":
        try:
            services.import_reimport(import_obj=import_obj, actor=request.user, from_day=from_day)
        except services.IllegalTransition as exc:
            messages.error(request, str(exc))
        else:
            done = REIMPORTED_ALL if from_day is None else REIMPORTED
            day = f"{from_day:%b %-d, %Y}" if from_day else ""
            messages.success(request, done.format(name=import_obj.name, day=day))
        return back
    context = _detail_context(request, import_obj)
    try:
        plan = reimport.plan(import_obj, from_day=from_day, user=request.user)
    except reimport.Refused as exc:
        messages.error(request, str(exc))
        return back
    context.update(confirm_reimport=True, reimport=plan)
    return render(request, "imports/detail.html", context)


@workspace_view(admin_only=True)
@require_http_methods(["GET", "POST"])
def import_delete(request: WorkspaceRequest, pk: Any) -> HttpResponse:
    import_obj = _get_import(request, pk)
    if request.method == "POST":
        name = import_obj.name
        try:
            services.import_delete(import_obj=import_obj, actor=request.user)
        except services.IllegalTransition as exc:
            messages.error(request, str(exc))
            return redirect("imports:detail", ws=request.workspace.slug, pk=import_obj.pk)
        messages.success(request, f"Import “{name}” deleted with its run history.")
        return redirect("imports:list", ws=request.workspace.slug)
    context = _detail_context(request, import_obj)
    context["confirm_delete"] = True
    context["run_count"] = context["runs"].paginator.count
    return render(request, "imports/detail.html", context)


def _get_run(request: WorkspaceRequest, run_pk: Any) -> ImportRun:
    return get_in_workspace(
        ImportRun.objects.select_related("import_obj__connection"), request.workspace, pk=run_pk
    )


@workspace_view
@require_http_methods(["GET", "HEAD"])
def run_detail(request: WorkspaceRequest, run_pk: Any) -> HttpResponse:
    run = _get_run(request, run_pk)
    run.duration_text = duration_text(run.duration)
    run.rate_text = rate_text(selectors.run_progress(run=run).rows_per_second)
    reasons = selectors.run_rejected_reasons(run=run) if run.rows_rejected else []
    # A reason no kept row has (a stale link, a hand-made address) shows every row.
    reason = request.GET.get("reason", "")
    reason = reason if reason in dict(reasons) else ""
    rejected_page = page_by_keys(
        selectors.run_rejected_rows(run=run, reason=reason), request.GET.get("page"), REJECTED_SHOWN
    )
    rejected = rejected_page.object_list
    schema = selectors.source_columns(run.import_obj)
    for row in rejected:
        row.data_text = _data_text(row.data, schema)
    active = run.status in ImportRun.ACTIVE_STATUSES
    response = render(
        request,
        "imports/_run_live.html" if request.htmx else "imports/run.html",
        {
            "run": run,
            "live": active,
            "oob": bool(request.htmx),
            "imp": run.import_obj,
            "rejected": rejected,
            "rejected_page": rejected_page,
            "rejected_kept": rejected_page.paginator.count,
            "reasons": reasons,
            "reason": reason,
            "read_path_text": selectors.READ_PATHS.get(run.read_path, run.read_path),
            "parts": selectors.run_parts(run=run) if run.read_path == "parts" else [],
            **_progress_context(run if active else None),
        },
    )
    patch_vary_headers(response, ["HX-Request"])  # the same address answers a fragment to htmx
    return response


def _data_text(data: Any, schema: list[str]) -> str:
    if isinstance(data, dict):
        keys = [k for k in schema if k in data] + [k for k in data if k not in schema]
        return ", ".join(
            f"{key}={cell_text(data[key]) if data[key] is not None else 'null'}" for key in keys
        )
    return cell_text(data)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def rejected_csv(request: WorkspaceRequest, run_pk: Any) -> StreamingHttpResponse:
    run = _get_run(request, run_pk)
    started = local_or_utc(run.started_at or run.created_at)
    name = slugify(run.import_obj.name)[:60] or "import"
    filename = f"rejected-rows-{name}-{started:%Y%m%d-%H%M}.csv"
    response = StreamingHttpResponse(
        exports.rejected_rows_csv(run=run, reason=request.GET.get("reason") or None),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
