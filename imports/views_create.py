"""Create Import: source → target → sync → schedule → review, then Save.

Each step's POST is validated and kept in the user's session under a random draft id (the
id is in the URL, so several drafts can be open in several tabs). The source's schema is
fetched by the server and kept with the draft, so the browser never supplies it. Save
validates every step again from what the draft holds, then calls imports.services.

Every page works without JavaScript; htmx only swaps fragments in (table search and
paging, table preview, the query's dry run, the next run times).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

import connections.selectors
from audience import selectors as audience_selectors
from config.pagination import page_by_keys
from connections.models import Connection
from imports import browse, property_casts, schedules, services
from imports.forms import (
    ReviewForm,
    ScheduleForm,
    SourceForm,
    SyncForm,
    TargetForm,
    definition,
)
from imports.models import Import
from imports.sql import validate_select_query
from workspaces.access import get_in_workspace, workspace_view

SESSION_KEY = "import_drafts"
MAX_DRAFTS = 10
STEPS = (
    ("source", "Source"),
    ("target", "Target"),
    ("sync", "Sync"),
    ("schedule", "Schedule"),
    ("review", "Review"),
)
STEP_NAMES = [name for name, _ in STEPS]
PREVIEW_RUNS = 5
GET = ["GET", "HEAD"]


# -- drafts ------------------------------------------------------------------------------------


def _connection(request: HttpRequest, connection_pk: uuid.UUID) -> Connection:
    return get_in_workspace(Connection, request.workspace, pk=connection_pk)


def _drafts(request: HttpRequest) -> dict[str, Any]:
    drafts = request.session.get(SESSION_KEY)
    return drafts if isinstance(drafts, dict) else {}


def _draft(
    request: HttpRequest, connection: Connection, draft_id: uuid.UUID
) -> dict[str, Any] | None:
    """The user's draft for this connection; None when it was saved or the session ended."""
    draft = _drafts(request).get(str(draft_id))
    if draft is None:
        return None
    if draft.get("connection") != str(connection.pk):
        raise Http404
    return draft


def _start_again(request: HttpRequest, connection: Connection) -> HttpResponse:
    messages.info(
        request,
        "That import draft is no longer open: it was saved, or your session ended. "
        "Start again here.",
    )
    return redirect("imports:create", ws=request.workspace.slug, connection_pk=connection.pk)


def _save_draft(request: HttpRequest, draft_id: str, draft: dict[str, Any]) -> None:
    drafts = _drafts(request)
    draft["touched"] = timezone.now().isoformat()
    drafts[draft_id] = draft
    if len(drafts) > MAX_DRAFTS:
        oldest = sorted(drafts, key=lambda key: drafts[key].get("touched", ""))
        for key in oldest[: len(drafts) - MAX_DRAFTS]:
            del drafts[key]
    request.session[SESSION_KEY] = drafts
    request.session.modified = True


def _drop_draft(request: HttpRequest, draft_id: str) -> None:
    drafts = _drafts(request)
    drafts.pop(draft_id, None)
    request.session[SESSION_KEY] = drafts


def _data(stored: dict[str, Any] | None) -> QueryDict | None:
    """A stored step as form data (None when the step was never submitted)."""
    if not stored:
        return None
    data = QueryDict(mutable=True)
    for key, value in stored["data"].items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return data


def _raw(post: QueryDict, fields: list[str] | None = None) -> dict[str, Any]:
    """What the user typed for a step, to re-validate later (no CSRF token, no buttons)."""
    skip = {"csrfmiddlewaretoken", "action"}
    return {
        key: post.get(key) for key in post if key not in skip and (fields is None or key in fields)
    }


def _url(request: HttpRequest, connection: Connection, step: str, draft_id: str) -> str:
    return reverse(
        f"imports:create_{step}",
        kwargs={"ws": request.workspace.slug, "connection_pk": connection.pk, "draft": draft_id},
    )


def _forms(draft: dict[str, Any], tz: str) -> dict[str, Any]:
    """Every stored step bound to its form (None for steps not yet submitted)."""
    schema = draft["source"]["schema"] if draft.get("source") else []
    return {
        "target": TargetForm(_data(draft.get("target")), schema=schema, tz=tz)
        if draft.get("target") else None,
        "sync": SyncForm(_data(draft.get("sync")), schema=schema) if draft.get("sync") else None,
        "schedule": ScheduleForm(_data(draft.get("schedule")), tz=tz)
        if draft.get("schedule") else None,
    }  # fmt: skip


def _first_incomplete(draft: dict[str, Any], tz: str, upto: str) -> str | None:
    """The first step before `upto` that is missing or no longer valid."""
    if not draft.get("source"):
        return "source"
    forms = _forms(draft, tz)
    for step in STEP_NAMES[1 : STEP_NAMES.index(upto)]:
        form = forms[step]
        if form is None or not form.is_valid():
            return step
    return None


def _gate(request: HttpRequest, connection: Connection, draft_id: uuid.UUID, step: str):
    """(draft, None) when the steps before `step` are done, else (draft, redirect)."""
    draft = _draft(request, connection, draft_id)
    if draft is None:
        return None, _start_again(request, connection)
    missing = _first_incomplete(draft, request.workspace.time_zone, step)
    if missing:
        return draft, redirect(_url(request, connection, missing, str(draft_id)))
    return draft, None


def _context(request: HttpRequest, connection: Connection, step: str, draft_id: Any,
             draft: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    done = set()
    if draft:
        done = {name for name in STEP_NAMES if draft.get(name)}
    steps = [
        {
            "name": name, "label": label, "number": number, "current": name == step,
            "url": _url(request, connection, name, str(draft_id))
            if draft_id and (name in done or name == step) else "",
        }
        for number, (name, label) in enumerate(STEPS, start=1)
    ]  # fmt: skip
    return {
        "connection": connection,
        "draft_id": draft_id,
        "draft": draft,
        "steps": steps,
        "step": step,
        "time_zone": request.workspace.time_zone,
        **extra,
    }


def _back(request: HttpRequest, connection: Connection, step: str, draft_id: Any) -> str:
    previous = STEP_NAMES[STEP_NAMES.index(step) - 1]
    return _url(request, connection, previous, str(draft_id))


# -- step 0: which connection -----------------------------------------------------------------

PICK_PAGE_SIZE = 25


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_pick(request: HttpRequest) -> HttpResponse:
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


def _browse_context(request: HttpRequest, connection: Connection, chosen: str) -> dict[str, Any]:
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


def _preview_context(request: HttpRequest, connection: Connection, table: str) -> dict[str, Any]:
    form = SourceForm({"source_kind": "table", "table": table})
    if not form.is_valid():
        return {"preview_error": browse.BrowseError(form.errors["table"][0]), "chosen": ""}
    try:
        preview = browse.table_preview(connection, table, user=request.user)
        return {"preview": preview, "chosen": table}
    except browse.BrowseError as error:
        return {"preview_error": error, "chosen": ""}


def _check_query(
    request: HttpRequest, connection: Connection, form: SourceForm
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
    request: HttpRequest, connection: Connection, form: SourceForm
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
def create_source(request: HttpRequest, connection_pk: uuid.UUID, draft: uuid.UUID | None = None):
    """Step 1. Without a draft id this is the start of Create Import; the first POST makes one."""
    connection = _connection(request, connection_pk)
    stored = _draft(request, connection, draft) if draft else None
    if draft and stored is None:
        return _start_again(request, connection)
    draft_id = str(draft) if draft else None
    check = None
    if request.method == "POST":
        form = SourceForm(request.POST)
        if form.is_valid():
            if request.POST.get("action") == "check":
                if form.cleaned_data["source_kind"] == "query":
                    check = _check_query(request, connection, form)
            else:
                source = _source_result(request, connection, form)
                if source is not None:
                    draft_id = draft_id or str(uuid.uuid4())
                    new = stored or {"connection": str(connection.pk)}
                    if new.get("source", {}).get("schema") != source["schema"]:
                        # Another schema: the mapping and cursor chosen for the old one go.
                        new.pop("target", None)
                        new.pop("sync", None)
                    new["source"] = {
                        **source,
                        "data": _raw(request.POST, ["source_kind", "table", "query"]),
                    }
                    _save_draft(request, draft_id, new)
                    return redirect(_url(request, connection, "target", draft_id))
    else:
        initial = stored["source"]["data"] if stored and stored.get("source") else {}
        form = SourceForm(initial={"source_kind": "table", **initial})
    if request.method == "POST" and form.data.get("source_kind") == "query":
        chosen = ""  # no preview of a table while the admin works on a query
    elif form.errors.get("table"):
        chosen = request.GET.get("table", "")
    else:
        chosen = request.GET.get("table") or form["table"].value() or ""
    context = _browse_context(request, connection, chosen)
    if check is not None:
        context["check"] = check
    return render(
        request,
        "imports/create_source.html",
        _context(request, connection, "source", draft_id, stored, form=form, **context),
    )


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_tables(request: HttpRequest, connection_pk: uuid.UUID) -> HttpResponse:
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
def create_preview(request: HttpRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: a table's details, schema and first ten rows."""
    connection = _connection(request, connection_pk)
    context = _preview_context(request, connection, request.GET.get("table", ""))
    return render(request, "imports/_create_preview.html", {"connection": connection, **context})


@workspace_view(admin_only=True)
@require_POST
def create_check_query(request: HttpRequest, connection_pk: uuid.UUID) -> HttpResponse:
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
            error = " ".join(form.errors.get("query", []))
    return render(
        request, "imports/_create_query_check.html", {"check": check, "check_error": error}
    )


# -- steps 2 and 3: target, sync ---------------------------------------------------------------


def _schema_step(request, connection_pk, draft, *, step: str, form_class, next_step: str,
                 **form_kwargs: Any):  # fmt: skip
    """Target and Sync: a form over the source's columns, kept in the draft."""
    connection = _connection(request, connection_pk)
    stored, gate = _gate(request, connection, draft, step)
    if gate:
        return gate
    schema = stored["source"]["schema"]
    if request.method == "POST":
        form = form_class(request.POST, schema=schema, **form_kwargs)
        if form.is_valid():
            stored[step] = {"data": _raw(request.POST, list(form.fields))}
            _save_draft(request, str(draft), stored)
            return redirect(_url(request, connection, next_step, str(draft)))
    else:
        form = form_class(_data(stored.get(step)), schema=schema, **form_kwargs)
    return render(
        request,
        f"imports/create_{step}.html",
        _context(request, connection, step, draft, stored, form=form,
                 back=_back(request, connection, step, draft)),
    )  # fmt: skip


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_target(request: HttpRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    return _schema_step(
        request, connection_pk, draft, step="target", form_class=TargetForm, next_step="sync",
        tz=request.workspace.time_zone,
    )  # fmt: skip


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_sync(request: HttpRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    return _schema_step(
        request, connection_pk, draft, step="sync", form_class=SyncForm, next_step="schedule"
    )


# -- step 4: schedule --------------------------------------------------------------------------


def _runs(form: ScheduleForm, tz: str) -> list[dt.datetime]:
    """The next run times in the workspace's zone, for a valid form."""
    zone = zoneinfo.ZoneInfo(tz)
    runs = schedules.preview(form.schedule(), timezone.now(), count=PREVIEW_RUNS)
    return [run.astimezone(zone) for run in runs]


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_schedule(request: HttpRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    connection = _connection(request, connection_pk)
    stored, gate = _gate(request, connection, draft, "schedule")
    if gate:
        return gate
    tz = request.workspace.time_zone
    runs = None
    if request.method == "POST":
        form = ScheduleForm(request.POST, tz=tz)
        if form.is_valid():
            if request.POST.get("action") == "preview":
                runs = _runs(form, tz)
            else:
                stored["schedule"] = {"data": _raw(request.POST, list(form.fields))}
                _save_draft(request, str(draft), stored)
                return redirect(_url(request, connection, "review", str(draft)))
    else:
        form = ScheduleForm(_data(stored.get("schedule")), tz=tz)
        if form.is_bound and form.is_valid():
            runs = _runs(form, tz)
    return render(
        request,
        "imports/create_schedule.html",
        _context(request, connection, "schedule", draft, stored, form=form, runs=runs,
                 describe=schedules.describe(form.schedule()) if runs is not None else "",
                 back=_back(request, connection, "schedule", draft)),
    )  # fmt: skip


@workspace_view(admin_only=True)
@require_http_methods(GET)
def create_schedule_preview(request: HttpRequest, connection_pk: uuid.UUID) -> HttpResponse:
    """Fragment: the schedule in words and its next five run times (or what is wrong)."""
    _connection(request, connection_pk)
    tz = request.workspace.time_zone
    form = ScheduleForm(request.GET, tz=tz)
    context: dict[str, Any] = {"form": form, "time_zone": tz, "runs": None}
    if form.is_valid():
        context["runs"] = _runs(form, tz)
        context["describe"] = schedules.describe(form.schedule())
    return render(request, "imports/_create_schedule_preview.html", context)


# -- step 5: review and Save -------------------------------------------------------------------


def _default_name(draft: dict[str, Any], target: TargetForm) -> str:
    source = draft["source"]
    what = source["table"] if source["kind"] == "table" else "Query"
    label = Import.Target(target.cleaned_data["target"]).label
    return f"{what} → {label}"[:100]


@workspace_view(admin_only=True)
@require_http_methods(["GET", "HEAD", "POST"])
def create_review(request: HttpRequest, connection_pk: uuid.UUID, draft: uuid.UUID):
    connection = _connection(request, connection_pk)
    stored, gate = _gate(request, connection, draft, "review")
    if gate:
        if request.method == "POST" and stored is not None:
            messages.error(request, "Something in this step changed or is no longer valid; "
                           "check it and continue.")  # fmt: skip
        return gate
    tz = request.workspace.time_zone
    forms = _forms(stored, tz)
    for form in forms.values():
        form.is_valid()
    target, sync, schedule = forms["target"], forms["sync"], forms["schedule"]
    if request.method == "POST":
        review = ReviewForm(request.POST)
        if review.is_valid():
            import_obj = services.import_create(
                workspace=request.workspace,
                connection=connection,
                created_by=request.user,
                definition=definition(
                    source=stored["source"], target=target, sync=sync, schedule=schedule,
                    review=review,
                ),
            )  # fmt: skip
            _drop_draft(request, str(draft))
            messages.success(
                request, f"Import “{import_obj.name}” saved. {_saved_note(import_obj, tz)}"
            )
            return redirect(
                reverse(
                    "imports:detail", kwargs={"ws": request.workspace.slug, "pk": import_obj.pk}
                )
            )
    else:
        review = ReviewForm(initial={"name": _default_name(stored, target)})
    return render(
        request,
        "imports/create_review.html",
        _context(
            request, connection, "review", draft, stored, review=review, target=target,
            sync=sync, schedule=schedule,
            summary=_summary(stored, target, sync, request.workspace),
            runs=_runs(schedule, tz), describe=schedules.describe(schedule.schedule()),
            back=_back(request, connection, "review", draft),
        ),
    )  # fmt: skip


def _saved_note(import_obj: Import, tz: str) -> str:
    if import_obj.next_run_at is None:
        return "It has no run scheduled."
    local = timezone.localtime(import_obj.next_run_at, timezone=zoneinfo.ZoneInfo(tz))
    return f"First run: {local:%b} {local.day}, {local:%Y %H:%M} ({tz})."


def _summary(
    draft: dict[str, Any], target: TargetForm, sync: SyncForm, workspace: Any
) -> dict[str, Any]:
    """The definition in words for the review page."""
    t, s = target.cleaned_data, sync.cleaned_data
    included = [m for m in t["column_mapping"] if m["include"]]
    left_out = [m["column"] for m in t["column_mapping"] if not m["include"]]
    types = {column.name: column.type_label for column in target.columns}
    properties = [
        {**m, "type": types.get(m["column"], ""), "renamed": m["property"] != m["column"]}
        for m in included
    ]
    return {
        "source": draft["source"],
        "target_label": Import.Target(t["target"]).label,
        "target": t,
        "timestamp_type": types.get(t["timestamp_column"], ""),
        "properties": properties,
        "type_conflicts": _type_conflicts(workspace, properties),
        "left_out": left_out,
        "sync": s,
        "cursor_type": s.get("cursor_type", ""),
    }


def _type_conflicts(workspace: Any, properties: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The properties this import would give another type than the workspace keeps."""
    kept = audience_selectors.property_types_of(
        workspace_id=workspace.pk, names=[p["property"] for p in properties]
    )
    conflicts = []
    for prop in properties:
        existing = kept.get(prop["property"])
        if existing is None or not prop["type"] or existing.type == prop["type"]:
            continue
        conflicts.append(
            {
                "property": prop["property"],
                "column": prop["column"],
                "type": prop["type"],
                "kept": existing.type,
                "defined_by": existing.defined_by_import_name,
                "castable": property_casts.castable(prop["type"], existing.type),
            }
        )
    return conflicts
