"""A Create Import draft: what the admin chose in each step, kept in the user's session.

The session holds several drafts (one per open wizard, up to MAX_DRAFTS, the least recently
touched go first), each under a random id that is in the wizard's URLs. A step is stored as
the form data the admin submitted, so every later step (and Save) validates it again; the
source also keeps the schema the server read from BigQuery, so the browser never supplies it.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404, QueryDict
from django.utils import timezone

from audience import selectors as audience_selectors
from imports import property_casts
from imports.forms import ScheduleForm, SyncForm, TargetForm
from imports.models import Import
from workspaces.models import Workspace

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
FORM_STEPS = ("target", "sync", "schedule")
StepForm = TargetForm | SyncForm | ScheduleForm


def _drafts(session: SessionBase) -> dict[str, Any]:
    drafts = session.get(SESSION_KEY)
    return drafts if isinstance(drafts, dict) else {}


def form_data(post: QueryDict, fields: list[str] | None = None) -> dict[str, Any]:
    """What the user typed for a step, to re-validate later (no CSRF token, no buttons)."""
    skip = {"csrfmiddlewaretoken", "action"}
    return {
        key: post.get(key) for key in post if key not in skip and (fields is None or key in fields)
    }


def _query_dict(data: dict[str, Any] | None) -> QueryDict | None:
    """Stored form data as a form's data (None when the step was never submitted)."""
    if data is None:
        return None
    bound = QueryDict(mutable=True)
    for key, value in data.items():
        bound.setlist(key, value if isinstance(value, list) else [value])
    return bound


@dataclasses.dataclass
class Draft:
    """One open Create Import. `source` is what the draft keeps about the chosen table or
    query (kind, table or query, schema, info or bytes, and the submitted `data`); the other
    steps are their submitted form data, None until submitted."""

    id: str
    connection_id: str
    source: dict[str, Any] | None = None
    target: dict[str, Any] | None = None
    sync: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    touched: str = ""
    # A duplicated import's source (form data and schema), until a source is checked, and
    # the name and maximum bytes billed the review step offers (see imports.duplicate).
    copy_of: dict[str, Any] | None = None
    name: str = ""
    maximum_bytes_billed: str = ""

    # -- the session -----------------------------------------------------------------------

    @classmethod
    def new(cls, connection_id: Any) -> Draft:
        return cls(id=str(uuid.uuid4()), connection_id=str(connection_id))

    @classmethod
    def load(cls, session: SessionBase, connection_id: Any, draft_id: Any) -> Draft | None:
        """The user's draft for this connection; None when it was saved or the session ended.
        A draft of another connection is not found (404)."""
        stored = _drafts(session).get(str(draft_id))
        if stored is None:
            return None
        if stored.get("connection") != str(connection_id):
            raise Http404
        steps = {step: stored[step]["data"] if stored.get(step) else None for step in FORM_STEPS}
        return cls(
            id=str(draft_id),
            connection_id=str(connection_id),
            source=stored.get("source") or None,
            touched=stored.get("touched", ""),
            copy_of=stored.get("copy_of") or None,
            name=stored.get("name", ""),
            maximum_bytes_billed=stored.get("maximum_bytes_billed", ""),
            **steps,
        )

    def save(self, session: SessionBase) -> None:
        drafts = _drafts(session)
        self.touched = timezone.now().isoformat()
        drafts[self.id] = self._stored()
        if len(drafts) > MAX_DRAFTS:
            oldest = sorted(drafts, key=lambda key: drafts[key].get("touched", ""))
            for key in oldest[: len(drafts) - MAX_DRAFTS]:
                del drafts[key]
        session[SESSION_KEY] = drafts
        session.modified = True

    def drop(self, session: SessionBase) -> None:
        drafts = _drafts(session)
        drafts.pop(self.id, None)
        session[SESSION_KEY] = drafts

    def _stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"connection": self.connection_id, "touched": self.touched}
        if self.source:
            stored["source"] = self.source
        if self.copy_of:
            stored["copy_of"] = self.copy_of
        if self.name:
            stored["name"] = self.name
        if self.maximum_bytes_billed:
            stored["maximum_bytes_billed"] = self.maximum_bytes_billed
        for step in FORM_STEPS:
            data = getattr(self, step)
            if data is not None:
                stored[step] = {"data": data}
        return stored

    # -- the steps -------------------------------------------------------------------------

    @property
    def schema(self) -> list[dict[str, Any]]:
        return self.source["schema"] if self.source else []

    def set_source(self, source: dict[str, Any], data: dict[str, Any]) -> None:
        """Keep a checked source; another schema drops the mapping and cursor chosen for
        the old one (or copied with a duplicated import's)."""
        if (self.source or self.copy_of or {}).get("schema") != source["schema"]:
            self.target = None
            self.sync = None
        self.source = {**source, "data": data}
        self.copy_of = None

    @property
    def source_data(self) -> dict[str, Any]:
        """What the source step's form shows: the checked source's, or a copied one's."""
        return (self.source or self.copy_of or {}).get("data") or {}

    def keep(self, step: str, data: dict[str, Any]) -> None:
        """Keep a valid step's form data."""
        if step not in FORM_STEPS:
            raise ValueError(step)
        setattr(self, step, data)

    def done(self) -> set[str]:
        """The steps submitted so far (valid or not)."""
        steps = {step for step in FORM_STEPS if getattr(self, step) is not None}
        return steps | {"source"} if self.source else steps

    def form(self, step: str, tz: str, data: QueryDict | None = None) -> StepForm:
        """The step's form bound to `data`, else to what the draft keeps (unbound if nothing)."""
        bound = data if data is not None else _query_dict(getattr(self, step))
        if step == "target":
            return TargetForm(bound, schema=self.schema, tz=tz)
        if step == "sync":
            return SyncForm(bound, schema=self.schema)
        return ScheduleForm(bound, tz=tz)

    def forms(self, tz: str) -> dict[str, Any]:
        """Every stored step bound to its form (None for steps not yet submitted)."""
        return {
            step: self.form(step, tz) if getattr(self, step) is not None else None
            for step in FORM_STEPS
        }

    def first_incomplete(self, tz: str, upto: str) -> str | None:
        """The first step before `upto` that is missing or no longer valid."""
        if not self.source:
            return "source"
        forms = self.forms(tz)
        for step in STEP_NAMES[1 : STEP_NAMES.index(upto)]:
            form = forms[step]
            if form is None or not form.is_valid():
                return step
        return None

    # -- what the review needs -------------------------------------------------------------

    def default_name(self, target: TargetForm) -> str:
        source = self.source or {}
        what = source["table"] if source.get("kind") == "table" else "Query"
        label = Import.Target(target.cleaned_data["target"]).label
        return f"{what} → {label}"[:100]

    def summary(self, target: TargetForm, sync: SyncForm, workspace: Workspace) -> dict[str, Any]:
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
            "source": self.source,
            "target_label": Import.Target(t["target"]).label,
            "target": t,
            "timestamp_type": types.get(t["timestamp_column"], ""),
            "properties": properties,
            "type_conflicts": _type_conflicts(workspace, properties),
            "left_out": left_out,
            "sync": s,
            "cursor_type": s.get("cursor_type", ""),
            "lookback_label": Import.Lookback(s.get("lookback_seconds") or 0).label.lower(),
        }


def _type_conflicts(workspace: Workspace, properties: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
