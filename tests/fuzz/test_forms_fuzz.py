"""Every form and filter class, called directly with hostile data: each answer is a valid
form whose cleaned values keep the rules, or a form with errors; never an exception. Lone
surrogates go in too (a browser cannot send them, but nothing upstream promises that), except
to the filters, whose only input is a query string Django has already decoded.

Forms: connections.forms.ConnectionForm (Add Database and Edit), imports.forms.SourceForm,
TargetForm, SyncForm, ScheduleForm and ReviewForm (the Create Import steps; ReviewForm and
ScheduleForm are also the Edit import form). Filters: connections.filters.ConnectionFilter,
imports.filters.ImportFilter. (The Audience search has no form; tests/fuzz/test_client_fuzz.py
drives it.)
"""

import datetime as dt
import json
import zoneinfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from connections.filters import ConnectionFilter
from connections.forms import ConnectionForm
from connections.identifiers import (
    quote_identifier,
    validate_dataset_id,
    validate_project_id,
    validate_table_id,
)
from connections.keyfile import ServiceAccountKey
from connections.models import Connection
from imports import schedules
from imports.filters import ImportFilter
from imports.forms import (
    MAX_EVENT_NAME,
    MAX_PROPERTY_NAME,
    ReviewForm,
    ScheduleForm,
    SourceForm,
    SyncForm,
    TargetForm,
)
from imports.models import Import
from tests.fuzz.conftest import SCHEMA, target_data
from tests.fuzz.googlesql import Unparsable, assert_one_select
from tests.fuzz.hostile import (
    SMALL_KEY_INFO,
    any_text,
    assert_escaped,
    fuzz,
    hostile_text,
    huge_text,
    is_control,
    nested_json,
)

pytestmark = pytest.mark.django_db

HOSTILE = any_text(surrogates=True)


def field(*plausible: str, surrogates: bool = True) -> st.SearchStrategy[str]:
    """A hostile value, or one of the plausible ones (so valid forms are reached too)."""
    return st.one_of(st.sampled_from(plausible), any_text(surrogates=surrogates))


def assert_clean_text(value: str, limit: int) -> None:
    assert value.strip() and len(value) <= limit
    assert not any(is_control(char) for char in value), repr(value)


def render(form) -> None:
    """Rendering a bound form (values and errors) is part of the answer: it must escape."""

    class Page:
        content = form.as_div().encode("utf-8", "surrogatepass")

    assert_escaped(Page)


# -- Add Database / Edit connection ------------------------------------------------------------

KEY = st.one_of(
    st.just(json.dumps(SMALL_KEY_INFO)),
    HOSTILE,
    st.integers(1, 3000).map(lambda depth: nested_json(depth, "mixed")),
    huge_text(min_size=60_000, max_size=70_000),
    st.just(""),
)
UPLOAD = st.one_of(
    st.none(),
    st.binary(max_size=512),
    st.just(json.dumps(SMALL_KEY_INFO).encode()),
    HOSTILE.map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@fuzz(80)
@given(
    name=field("Warehouse", "Entrepôt 2", "<b>BI</b>"),
    project_id=field("analytics-prod", "example.com:my-project"),
    dataset_id=field("events_v2", "_x"),
    key_text=KEY,
    upload=UPLOAD,
    editing=st.booleans(),
)
def test_connection_form(
    workspace_a, alice, name, project_id, dataset_id, key_text, upload, editing
):
    from tests.fixtures.connections import make_connection

    instance = None
    if editing:
        instance = Connection.objects.filter(workspace=workspace_a).first() or make_connection(
            workspace_a, alice
        )
    files = {}
    if upload is not None:
        files["key_file"] = SimpleUploadedFile("key.json", upload, "application/json")
    data = {"name": name, "project_id": project_id, "dataset_id": dataset_id, "key_text": key_text}
    form = ConnectionForm(data, files, workspace=workspace_a, instance=instance)

    if form.is_valid():
        assert_clean_text(form.cleaned_data["name"], 100)
        assert validate_project_id(form.cleaned_data["project_id"]) == project_id
        assert validate_dataset_id(form.cleaned_data["dataset_id"]) == dataset_id
        if instance is None:
            assert isinstance(form.key, ServiceAccountKey)
        assert form.key is None or isinstance(form.key, ServiceAccountKey)
    else:
        assert all(
            isinstance(str(message), str) for errors in form.errors.values() for message in errors
        )
    render(form)
    assert "PRIVATE KEY" not in form.as_div()


# -- Create Import: source ---------------------------------------------------------------------

SQLISH = st.lists(
    st.sampled_from(
        [
            "SELECT",
            "WITH",
            "1",
            "x",
            "FROM",
            "t",
            ",",
            "(",
            ")",
            ";",
            "'",
            "`",
            "--",
            "#",
            "/*",
            "*/",
            "\n",
            "\r",
            " ",
            "DROP",
            "TABLE",
            "\\",
        ]
    ),
    max_size=20,
).map(" ".join)


@fuzz(150)
@given(
    source_kind=field("table", "query"),
    table=field("users", "table 01", "\u0917\u094d\u0930\u093e\u0939\u0915"),
    query=st.one_of(SQLISH, HOSTILE, st.just("SELECT 1")),
)
def test_source_form(source_kind, table, query):
    form = SourceForm({"source_kind": source_kind, "table": table, "query": query})
    if form.is_valid():
        kind = form.cleaned_data["source_kind"]
        if kind == "table":
            assert validate_table_id(form.cleaned_data["table"]) == table
            quote_identifier("my-project", "my_dataset", table)
        else:
            try:
                assert_one_select(form.cleaned_data["query"])
            except Unparsable:
                pass  # BigQuery refuses it outright: an illegal character
    render(form)


# -- Create Import: target ---------------------------------------------------------------------

COLUMN_TYPES = ["STRING", "INT64", "INTEGER", "FLOAT64", "TIMESTAMP", "DATE", "DATETIME",
                "BOOL", "RECORD", "JSON", "BYTES", "", "<script>"]  # fmt: skip
# Column names come from BigQuery (flexible names allow much), never from the browser.
COLUMN_NAMES = st.one_of(
    st.sampled_from(["user_id", "email", "ts", "event", "Name", "name", "NAME"]),
    hostile_text(max_size=12),
)
SCHEMAS = st.lists(
    st.fixed_dictionaries(
        {
            "name": COLUMN_NAMES,
            "type": st.sampled_from(COLUMN_TYPES),
            "mode": st.sampled_from(["NULLABLE", "REQUIRED", "REPEATED", "", "weird"]),
        }
    ),
    min_size=1,
    max_size=6,
)


@fuzz(100)
@given(
    schema=SCHEMAS,
    data=st.dictionaries(
        st.sampled_from(
            [
                "target",
                "identity_column",
                "event_name_source",
                "event_name_column",
                "event_name_fixed",
                "timestamp_column",
                *(f"property_{i}" for i in range(6)),
                *(f"include_{i}" for i in range(6)),
                "property_-1",
                "include_99",
            ]
        ),
        field("profiles", "events", "column", "fixed", "user_id", "ts", "on", "event"),
    ),
)
def test_target_form(schema, data):
    form = TargetForm(data, schema=schema)
    if form.is_valid():
        cleaned = form.cleaned_data
        names = {c["name"] for c in schema}
        assert cleaned["identity_column"] in names
        used = set()
        for entry in cleaned["column_mapping"]:
            assert entry["column"] in names
            if entry["include"]:
                assert_clean_text(entry["property"], MAX_PROPERTY_NAME)
                assert entry["property"].casefold() not in used
                used.add(entry["property"].casefold())
        if cleaned["target"] == Import.Target.EVENTS:
            assert cleaned["timestamp_column"] in names
            if cleaned["event_name_fixed"]:
                assert_clean_text(cleaned["event_name_fixed"], MAX_EVENT_NAME)
            else:
                assert cleaned["event_name_column"] in names
    render(form)


@fuzz(50)
@given(field("", "user_id", "contact", "Contact"), st.integers(0, 6))
def test_target_form_property_names(name, index):
    form = TargetForm(target_data(**{f"property_{index}": name}), schema=SCHEMA)
    if form.is_valid():
        for entry in form.cleaned_data["column_mapping"]:
            if entry["include"]:
                assert_clean_text(entry["property"], MAX_PROPERTY_NAME)
    render(form)


# -- Create Import: sync -----------------------------------------------------------------------


@fuzz(80)
@given(
    schema=SCHEMAS,
    sync_mode=field("full", "incremental"),
    cursor_column=field("ts", "updated_at", "visits", "email"),
)
def test_sync_form(schema, sync_mode, cursor_column):
    form = SyncForm({"sync_mode": sync_mode, "cursor_column": cursor_column}, schema=schema)
    if form.is_valid() and form.cleaned_data["sync_mode"] == "incremental":
        column = next(c for c in schema if c["name"] == form.cleaned_data["cursor_column"])
        assert column.get("mode", "").upper() != "REPEATED"
        assert form.cleaned_data["cursor_type"] in {"TIMESTAMP", "DATETIME", "DATE", "INT64"}
    render(form)


# -- Create Import: schedule (also the Edit import form) ---------------------------------------

CRON_PARTS = st.sampled_from([
    "*", "*/5", "*/0", "0", "59", "60", "-1", "1-5", "5-1", "1,2", ",", "MON", "mon-fri",
    "SUN#2", "L", "LW", "?", "H", "H(0-5)", "R", "15W", "0/15", "*/99999999999", "31", "2",
    "JAN", "13", "1-", "@daily", "%", "\u0661", "9" * 30, "",
])  # fmt: skip
CRON = st.one_of(st.lists(CRON_PARTS, min_size=0, max_size=7).map(" ".join), HOSTILE)
WHEN = field(
    "2030-01-01T09:00",
    "2030-03-31 02:30",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2030-02-30T10:00",
    "2030-01-01T24:00",
    "2030-01-01T09:00:60",
    "09:30",
    "23:59:59",
)
ZONES_ALL = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago",
             "Asia/Kathmandu", "Antarctica/Troll", "Etc/GMT+12", "Etc/GMT-14"]  # fmt: skip
ZONES = st.sampled_from(ZONES_ALL)
NOW = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)


@fuzz(150)
@given(
    data=st.fixed_dictionaries(
        {
            "schedule_kind": field("none", "now", "once", "hourly", "daily", "weekly", "cron"),
            "schedule_at": WHEN,
            "schedule_minute": field(
                "0", "59", "60", "-1", "1e3", "٣", " 7 ", "99999999999999999999"
            ),
            "schedule_time": WHEN,
            "schedule_weekday": field("0", "6", "7", "-0", "1.0"),
            "schedule_cron": st.one_of(CRON, CRON, HOSTILE),
        }
    ),
    tz=ZONES,
)
def test_schedule_form(data, tz):
    form = ScheduleForm(data, tz=tz, now=NOW)
    if form.is_valid():
        schedule = form.schedule()
        schedules.validate(schedule, now=NOW)
        # The pages show the next runs and the schedule in words for every valid form.
        runs = schedules.preview(schedule, NOW, count=5)
        assert all(run.tzinfo is not None and run >= NOW for run in runs)
        assert schedules.describe(schedule)
    render(form)


@fuzz(100)
@given(kind=field("once"), at=WHEN, tz=ZONES)
def test_schedule_form_run_at(kind, at, tz):
    """A one-time run at any text, in any zone: a future instant, or an error on the field."""
    form = ScheduleForm({"schedule_kind": kind, "schedule_at": at}, tz=tz, now=NOW)
    if form.is_valid():
        run = schedules.first_run(form.schedule(), NOW)
        assert run is not None and run > NOW
        for zone in ZONES_ALL:
            run.astimezone(zoneinfo.ZoneInfo(zone))  # shown in any workspace's zone
    else:
        assert form.errors.get("schedule_at") or form.errors.get("schedule_kind")
    render(form)


# -- Create Import: review (the import's name, also on Edit import) ----------------------------


@fuzz(100)
@given(field("Nightly users", "users → User Profiles", " padded "))
def test_review_form(name):
    form = ReviewForm({"name": name})
    if form.is_valid():
        assert_clean_text(form.cleaned_data["name"], 100)
    render(form)


# -- filters -----------------------------------------------------------------------------------


def query_dict(pairs: list[tuple[str, str]]) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    return data


def filter_params(keys: list[str], plausible: list[str]) -> st.SearchStrategy[QueryDict]:
    value = field(*plausible, surrogates=False)
    key = st.one_of(st.sampled_from(keys), hostile_text(max_size=8))
    return st.lists(st.tuples(key, value), max_size=6).map(query_dict)


@fuzz(100)
@given(
    filter_params(
        [
            "q",
            "connected_on_after",
            "connected_on_before",
            "connected_by",
            "status",
            "sort",
            "page",
        ],
        [
            "",
            "ware",
            "2026-01-01",
            "2026-13-45",
            "9999-12-31",
            "0001-01-01",
            "1",
            "0",
            "-1",
            "ok",
            "untested",
            "failing",
            "name",
            "-connected_on",
            "connected_by",
            "-created_by__password",
            "password",
        ],
    )
)
def test_connection_filter(workspace_a, alice, params):
    filterset = ConnectionFilter(
        params, queryset=Connection.objects.filter(workspace=workspace_a), workspace=workspace_a
    )
    rows = list(filterset.qs) if filterset.is_valid() else []
    assert all(row.workspace_id == workspace_a.pk for row in rows)
    render(filterset.form)


@fuzz(100)
@given(
    filter_params(
        ["q", "status", "connection", "target", "page"],
        [
            "",
            "users",
            "ready",
            "running",
            "profiles",
            "events",
            "00000000-0000-0000-0000-000000000000",
            "1",
            "' OR 1=1 --",
        ],
    )
)
def test_import_filter(workspace_a, params):
    filterset = ImportFilter(
        params, queryset=Import.objects.filter(workspace=workspace_a), workspace=workspace_a
    )
    rows = list(filterset.qs) if filterset.is_valid() else []
    assert all(row.workspace_id == workspace_a.pk for row in rows)
    render(filterset.form)
