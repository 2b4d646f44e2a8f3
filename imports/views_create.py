"""Create Import: source → target → sync → schedule → review, then Save.

Each step's POST is validated and kept in the user's session under a random draft id (the
id is in the URL, so several drafts can be open in several tabs). The source's schema is
fetched by the server and kept with the draft, so the browser never supplies it. Save
validates every step again from what the draft holds, then calls imports.services.

Every page works without JavaScript; htmx only swaps fragments in (table search and
paging, table preview, the query's dry run, the next run times).
"""

from __future__ import annotations

import uuid
import zoneinfo
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

import connections.selectors
from common.pagination import page_by_keys
from connections.models import Connection
from imports import browse, duplicate, estimate, preview, schedules, services
from imports.draft import STEP_NAMES, STEPS, Draft, form_data
from imports.forms import ReviewForm, ScheduleForm, SourceForm, definition
from imports.models import Import
from imports.sql import validate_select_query
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view

PREVIEW_RUNS = 5
GET = ["GET", "HEAD"]


def _connection(request: WorkspaceRequest, connection_pk: uuid.UUID) -> Connection:
    return get_in_workspace(Connection, request.workspace, pk=connection_pk)


def _start_again(request: WorkspaceRequest, connection: Connection) -> HttpResponse:
    messages.info(
        request,
        "That import draft is no longer open: it was saved, or your session ended. "
        "Start again here.",
    )
    return redirect("imports:create", ws=request.workspace.slug, connection_pk=connection.pk)


def _url(request: WorkspaceRequest, connection: Connection, step: str, draft: Draft) -> str:
    return reverse(
        f"imports:create_{step}",
        kwargs={"ws": request.workspace.slug, "connection_pk": connection.pk, "draft": draft.id},
    )


def _gate(
    request: WorkspaceRequest, connection: Connection, draft_id: uuid.UUID, step: str
) -> Draft | HttpResponse:
    """The draft when the steps before `step` are done, else a redirect to the first one
    that is not (or to a new draft when this one is gone)."""
    draft = Draft.load(request.session, connection.pk, draft_id)
    if draft is None:
        return _start_again(request, connection)
    missing = draft.first_incomplete(request.workspace.time_zone, step)
    if missing is None:
        return draft
    if step == "review" and request.method == "POST":
        messages.error(
            request, "Something in this step changed or is no longer valid; check it and continue."
        )
    return redirect(_url(request, connection, missing, draft))


def _context(
    request: WorkspaceRequest, connection: Connection, step: str, draft: Draft | None, **extra: Any
) -> dict[str, Any]:
    done = draft.done() if draft else set()
    steps = [
        {
            "name": name,
            "label": label,
            "number": number,
            "current": name == step,
            "url": _url(request, connection, name, draft)
            if draft and (name in done or name == step)
            else "",
        }
        for number, (name, label) in enumerate(STEPS, start=1)
    ]
    if draft and step != STEP_NAMES[0]:
        previous = STEP_NAMES[STEP_NAMES.index(step) - 1]
        extra.setdefault("back", _url(request, connection, previous, draft))
    return {
        "connection": connection,
        "draft_id": draft.id if draft else None,
        "draft": draft,
        "steps": steps,
        "step": step,
        "time_zone": request.workspace.time_zone,
        **extra,
    }


# -- step 0: which connection -----------------------------------------------------------------

PICK_PAGE_SIZE = 25


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_pick(request: WorkspaceRequest) -> HttpResponse:
    """Create Import from the dashboard or the Imports list: choose the connection first.

    A workspace with one connection goes straight to it.
    """
    filterset = connections.selectors.connections_for_dashboard(
        workspace=request.workspace, params={"q": request.GET.get("q", "")}
    )
    valid = filterset.is_valid()
    queryset = filterset.qs if valid else Connection.objects.none()
    searched = bool(request.GET.get("q", "").strip())
    if not searched and request.GET.get("page") is None:
        only = list(queryset[:2])
        if len(only) == 1:
            return redirect("imports:create", ws=request.workspace.slug, connection_pk=only[0].pk)
    page = page_by_keys(queryset, request.GET.get("page"), PICK_PAGE_SIZE)
    return render(
        request,
        "imports/create_pick.html",
        {"filterset": filterset, "page": page, "searched": searched},
    )


# -- step 1: source ----------------------------------------------------------------------------


def _browse_context(
    request: WorkspaceRequest, connection: Connection, chosen: str
) -> dict[str, Any]:
    """The table list (search, page) and the chosen table's preview."""
    context: dict[str, Any] = {"q": request.GET.get("q", "")}
    try:
        context["tables"] = browse.tables_page(
            connection, user=request.user, query=context["q"], page=request.GET.get("page", 1)
        )
    except browse.BrowseError as error:
        context["tables_error"] = error
    if chosen:
        context.update(_preview_context(request, connection, chosen))
    return context


def _preview_context(
    request: WorkspaceRequest, connection: Connection, table: str
) -> dict[str, Any]:
    form = SourceForm({"source_kind": "table", "table": table})
    if not form.is_valid():
        return {"preview_error": browse.BrowseError(str(form.errors["table"][0])), "chosen": ""}
    try:
        preview = browse.table_preview(connection, table, user=request.user)
        return {"preview": preview, "chosen": table}
    except browse.BrowseError as error:
        return {"preview_error": error, "chosen": ""}


def _check_query(
    request: WorkspaceRequest, connection: Connection, form: SourceForm
) -> browse.QueryCheck | None:
    """Dry-run the form's query; on failure the error goes on the query field."""
    try:
        check = browse.query_check(connection, form.cleaned_data["query"], user=request.user)
    except browse.BrowseError as error:
        form.add_error("query", f"{error.detail} {error.fix}".strip())
        return None
    if check.statement_type and check.statement_type != "SELECT":
        form.add_error(
            "query",
            f"BigQuery reads this as a {check.statement_type} statement. Only a single SELECT "
            "query (or WITH … SELECT) can be imported.",
        )
        return None
    if not check.schema:
        form.add_error("query", "The query returns no columns.")
        return None
    return check


def _source_result(
    request: WorkspaceRequest, connection: Connection, form: SourceForm
) -> dict[str, Any] | None:
    """What the draft keeps about a valid source, or None with errors added to the form."""
    kind = form.cleaned_data["source_kind"]
    if kind == "table":
        table = form.cleaned_data["table"]
        try:
            info = browse.table_info(connection, table, user=request.user)
        except browse.BrowseError as error:
            form.add_error("table", f"{error.detail} {error.fix}".strip())
            return None
        if not info.schema:
            form.add_error("table", f"Table “{table}” has no columns.")
            return None
        return {"kind": "table", "table": table, "schema": info.schema, "info": info.summary()}
    check = _check_query(request, connection, form)
    if check is None:
        return None
    return {
        "kind": "query",
        "query": form.cleaned_data["query"],
        "schema": check.schema,
        "bytes": check.bytes_processed,
    }


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_source(
    request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID | None = None
):
    """Step 1. Without a draft id this is the start of Create Import; the first POST makes one."""
    connection = _connection(request, connection_pk)
    stored = Draft.load(request.session, connection.pk, draft) if draft else None
    if draft and stored is None:
        return _start_again(request, connection)
    check = None
    if request.method == "POST":
        form = SourceForm(request.POST)
        if form.is_valid() and request.POST.get("action") == "check":
            if form.cleaned_data["source_kind"] == "query":
                check = _check_query(request, connection, form)
        elif form.is_valid():
            source = _source_result(request, connection, form)
            if source is not None:
                stored = stored or Draft.new(connection.pk)
                data = form_data(request.POST, ["source_kind", "table", "query"])
                stored.set_source(source, data)
                stored.save(request.session)
                return redirect(_url(request, connection, "target", stored))
    else:
        initial = stored.source_data if stored else {}
        form = SourceForm(initial={"source_kind": "table", **initial})
    context = _browse_context(request, connection, _chosen_table(request, form))
    if check is not None:
        context["check"] = check
    return render(
        request,
        "imports/create_source.html",
        _context(request, connection, "source", stored, form=form, **context),
    )


def _chosen_table(request: WorkspaceRequest, form: SourceForm) -> str:
    """The table to preview beside the source form."""
    if request.method == "POST" and form.data.get("source_kind") == "query":
        return ""  # no preview of a table while the admin works on a query
    if form.errors.get("table"):
        return request.GET.get("table", "")
    return request.GET.get("table") or form["table"].value() or ""


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_tables(request: WorkspaceRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: one page of the table list (search as you type, paging)."""
    connection = _connection(request, connection_pk)
    context = _browse_context(request, connection, "")
    return render(
        request,
        "imports/_create_tables.html",
        {"connection": connection, "chosen": request.GET.get("table", ""), **context},
    )


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_preview(request: WorkspaceRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: a table's details, schema and first ten rows."""
    connection = _connection(request, connection_pk)
    context = _preview_context(request, connection, request.GET.get("table", ""))
    return render(request, "imports/_create_preview.html", {"connection": connection, **context})


@workspace_view(admin_only=True)
@require_POST
def create_check_query(request: WorkspaceRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: the dry run of the typed query (bytes it will scan, its columns)."""
    connection = _connection(request, connection_pk)
    error = ""
    check = None
    try:
        query = validate_select_query(request.POST.get("query", ""))
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        form = SourceForm({"source_kind": "query", "query": query})
        if form.is_valid():
            check = _check_query(request, connection, form)
        if check is None:
            error = " ".join(str(message) for message in form.errors.get("query", []))
    return render(
        request, "imports/_create_query_check.html", {"check": check, "check_error": error}
    )


# -- steps 2 to 4: target, sync, schedule -------------------------------------------------------


def _next_runs(form: ScheduleForm, tz: str, saved_kind: str = "") -> dict[str, Any]:
    """A valid schedule form's words and next run times in the workspace's zone. "Once, now"
    runs when it is saved (not when an import saved with it is saved again), so it says that
    rather than show a time already past by then."""
    schedule = form.schedule()
    zone = zoneinfo.ZoneInfo(tz)
    runs = schedules.preview(schedule, timezone.now(), count=PREVIEW_RUNS)
    once_now = schedule.kind == "now"
    return {
        "runs": [run.astimezone(zone) for run in runs],
        "describe": schedules.describe(schedule),
        "runs_on_save": once_now and saved_kind != "now",
        "runs_saved": once_now and saved_kind == "now",
    }


def _form_step(
    request: WorkspaceRequest,
    connection_pk: uuid.UUID,
    draft_id: uuid.UUID,
    step: str,
    next_step: str,
) -> HttpResponse:
    """Target, Sync and Schedule: the step's form over the draft, kept when valid. Schedule
    also shows its next run times; its Preview button shows them instead of going on."""
    connection = _connection(request, connection_pk)
    draft = _gate(request, connection, draft_id, step)
    if isinstance(draft, HttpResponse):
        return draft
    tz = request.workspace.time_zone
    previewing = step == "schedule" and request.POST.get("action") == "preview"
    if request.method == "POST":
        form = draft.form(step, tz, data=request.POST)
        if form.is_valid() and not previewing:
            draft.keep(step, form_data(request.POST, list(form.fields)))
            draft.save(request.session)
            return redirect(_url(request, connection, next_step, draft))
    else:
        form = draft.form(step, tz)
    extra: dict[str, Any] = {}
    if step == "schedule" and isinstance(form, ScheduleForm):
        valid = form.is_bound and form.is_valid()
        extra = _next_runs(form, tz) if valid else {"runs": None}
    return render(
        request,
        f"imports/create_{step}.html",
        _context(request, connection, step, draft, form=form, **extra),
    )


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_target(request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    return _form_step(request, connection_pk, draft, "target", next_step="sync")


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_sync(request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    return _form_step(request, connection_pk, draft, "sync", next_step="schedule")


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_schedule(request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    return _form_step(request, connection_pk, draft, "schedule", next_step="review")


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_schedule_preview(request: WorkspaceRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: the schedule in words and its next five run times (or what is wrong)."""
    _connection(request, connection_pk)
    tz = request.workspace.time_zone
    form = ScheduleForm(request.GET, tz=tz)
    context: dict[str, Any] = {"form": form, "time_zone": tz, "runs": None}
    if form.is_valid():
        context.update(_next_runs(form, tz, saved_kind=request.GET.get("saved_kind", "")))
    return render(request, "imports/_create_schedule_preview.html", context)


# -- step 5: review and Save -------------------------------------------------------------------


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_review(request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    """Step 5: every step again from the draft, in words; Save creates the import."""
    connection = _connection(request, connection_pk)
    stored = _gate(request, connection, draft, "review")
    if isinstance(stored, HttpResponse):
        return stored
    tz = request.workspace.time_zone
    forms = stored.forms(tz)
    for form in forms.values():
        form.is_valid()
    target, sync, schedule = forms["target"], forms["sync"], forms["schedule"]
    if request.method == "POST":
        review = ReviewForm(request.POST)
        if review.is_valid():
            return _save(request, connection, stored, forms, review)
    else:
        review = ReviewForm(
            initial={
                "name": stored.name or stored.default_name(target),
                "maximum_bytes_billed": stored.maximum_bytes_billed,
            }
        )
    summary = stored.summary(target, sync, request.workspace)
    extra: dict[str, Any] = {}
    if request.GET.get("sample"):  # without JavaScript, the sample is read on request
        extra["sample"] = _sample(request, connection, stored, forms, summary)
        extra["estimates"] = _estimates(request, connection, stored, forms)
    return render(
        request,
        "imports/create_review.html",
        _context(
            request,
            connection,
            "review",
            stored,
            review=review,
            **forms,
            summary=summary,
            **_next_runs(schedule, tz),
            **extra,
        ),
    )


def _sample(
    request: WorkspaceRequest,
    connection: Connection,
    draft: Draft,
    forms: dict[str, Any],
    summary: dict[str, Any],
) -> preview.SamplePreview:
    source = draft.source or {}
    import_obj = preview.draft_import(
        workspace=request.workspace, connection=connection, source=source, forms=forms
    )
    return preview.sample_preview(
        import_obj=import_obj,
        user=request.user,
        table_kind=(source.get("info") or {}).get("kind") or "TABLE",
        type_conflicts=summary["type_conflicts"],
    )


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_review_sample(
    request: WorkspaceRequest, connection_pk: uuid.UUID, draft: uuid.UUID
) -> HttpResponse:
    """Fragment: the review step's typed preview of up to 20 sample rows."""
    connection = _connection(request, connection_pk)
    stored = Draft.load(request.session, connection.pk, draft)
    tz = request.workspace.time_zone
    context: dict[str, Any] = {"connection": connection, "draft_id": draft}
    if stored is None or stored.first_incomplete(tz, "review") is not None:
        context["sample_unavailable"] = True
    else:
        forms = stored.forms(tz)
        for form in forms.values():
            form.is_valid()
        summary = stored.summary(forms["target"], forms["sync"], request.workspace)
        context["sample"] = _sample(request, connection, stored, forms, summary)
        context["estimates"] = _estimates(request, connection, stored, forms)
    return render(request, "imports/_create_sample.html", context)


def _estimates(
    request: WorkspaceRequest, connection: Connection, draft: Draft, forms: dict[str, Any]
) -> estimate.Estimates:
    """Dry runs of the first run's query and a typical later run's (never blocking Save)."""
    import_obj = preview.draft_import(
        workspace=request.workspace, connection=connection, source=draft.source or {}, forms=forms
    )
    return estimate.review_estimates(import_obj, request.user)


def _save(
    request: WorkspaceRequest,
    connection: Connection,
    draft: Draft,
    forms: dict[str, Any],
    review: ReviewForm,
) -> HttpResponse:
    """Save: the import is created from the validated steps, and the draft is closed."""
    if draft.source is None:  # never: the review step is reached with a source only
        return redirect(_url(request, connection, "source", draft))
    import_obj = services.import_create(
        workspace=request.workspace,
        connection=connection,
        created_by=request.user,
        definition=definition(source=draft.source, review=review, **forms),
    )
    draft.drop(request.session)
    tz = request.workspace.time_zone
    messages.success(request, f"Import “{import_obj.name}” saved. {_saved_note(import_obj, tz)}")
    return redirect(
        reverse("imports:detail", kwargs={"ws": request.workspace.slug, "pk": import_obj.pk})
    )


def _saved_note(import_obj: Import, tz: str) -> str:
    if import_obj.status == Import.Status.RUNNING:
        return "Its first run has started."
    if import_obj.next_run_at is None:
        return "It has no run scheduled."
    local = timezone.localtime(import_obj.next_run_at, timezone=zoneinfo.ZoneInfo(tz))
    return f"First run: {local:%b} {local.day}, {local:%Y %H:%M} ({tz})."


@workspace_view(admin_only=True)
@require_POST
def import_duplicate(request: WorkspaceRequest, pk: uuid.UUID) -> HttpResponse:
    """Duplicate: Create Import with this import's choices, from its source step, to change
    what Edit cannot. Nothing is saved until the copy's Save."""
    import_obj = get_in_workspace(
        Import.objects.select_related("connection"), request.workspace, pk=pk
    )
    draft = duplicate.draft_from_import(import_obj, request.workspace.time_zone)
    draft.save(request.session)
    messages.info(
        request,
        f"A copy of “{import_obj.name}” with all its choices: change what you need in any "
        "step, then Save creates the new import. The original is left as it is.",
    )
    return redirect(_url(request, import_obj.connection, "source", draft))
