"""Hostile values in every form field and query-string filter, through the test client as a
signed-in admin (alice, workspace A): never a 500, a specific error on the field (or a safe,
correctly filtered result), nothing saved on refusal, and every page escapes what it shows.

The values (tests/fuzz/hostile.py HOSTILE): SQL fragments, HTML/JS, path traversal, 10,000
characters, NUL, C0 and C1 controls, an RTL override, zero-width characters, Cyrillic and
fullwidth look-alikes. Free-text names (connection, import, property and event names) may
hold the printable ones; those are saved exactly as typed and shown escaped.

The forms and filters, read from the URLconf (config/urls.py and each app's urls.py):

/signin/                                  login form: username, password; ?next=
/admin/login/                             the admin's login form: username, password; ?next=
w/<ws>/settings/partners/bigquery/        connections:list, ConnectionFilter: q,
                                          connected_on_after, connected_on_before,
                                          connected_by, status, sort, page
  add/, add/test/                         ConnectionForm: name, project_id, dataset_id,
                                          key_text, key_file (Test Connection: page and htmx)
  <pk>/edit/, <pk>/edit/test/             ConnectionForm bound to the connection (same fields)
  imports/                                imports:list, ImportFilter: q, status, connection,
                                          target, page
  imports/<pk>/                           ?page= (run history)
  imports/<pk>/progress/                  ?run=, ?page=
  imports/<pk>/edit/                      ReviewForm (name) + ScheduleForm: schedule_kind,
                                          schedule_at, schedule_minute, schedule_time,
                                          schedule_weekday, schedule_cron
  <conn>/imports/new/ [<draft>/source/]   SourceForm: source_kind, table, query, action;
                                          ?table=, ?q=, ?page= (table list and preview)
  <conn>/imports/new/tables/              ?q=, ?page=, ?table=
  <conn>/imports/new/preview/             ?table=
  <conn>/imports/new/check-query/         query
  <conn>/imports/new/schedule-preview/    ScheduleForm in the query string
  <conn>/imports/new/<draft>/target/      TargetForm: target, identity_column,
                                          event_name_source, event_name_column,
                                          event_name_fixed, timestamp_column,
                                          source_time_zone, timestamp_unit,
                                          property_<n>, include_<n>
  <conn>/imports/new/<draft>/sync/        SyncForm: sync_mode, cursor_column
  <conn>/imports/new/<draft>/schedule/    ScheduleForm (+ action=preview)
  <conn>/imports/new/<draft>/review/      ReviewForm: name
w/<ws>/audience/profiles/, events/        search: ?q=, ?page=

Routes with no input beyond ids in the path (/, /healthz, signout, connection detail, test and
delete, import delete and actions, run page, rejected.csv, audience home) take no form; the
access sweep (tests/test_access_sweep.py) covers them. The rest of /admin/ is Django's own
ModelAdmin, for staff only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, encode_multipart
from django.utils.html import escape

from audience.models import Event, Profile
from common.ratelimit import SlidingWindow
from connections import services as connection_services
from connections.models import Connection
from connections.views import KEY_FORM_MAX_BYTES
from imports.models import Import
from tests.fuzz.conftest import BASE, draft_step, seed_draft, step_url, target_data
from tests.fuzz.hostile import (
    HOSTILE,
    HOSTILE_IDS,
    HOSTILE_VALUES,
    IMG,
    PRINTABLE,
    SCRIPT,
    SMALL_KEY_INFO,
    assert_escaped,
    nested_json,
)
from tests.imports.test_create_flow import flow_connection, new_url

HTMX = {"HX-Request": "true"}
values = pytest.mark.parametrize("value_id, value", HOSTILE, ids=HOSTILE_IDS)

CONTROL_NAME = "must not contain control characters."


def errors_of(form) -> dict[str, list[str]]:
    return {field: [str(m) for m in messages] for field, messages in form.errors.items()}


def name_accepted(value_id: str, limit: int = 100) -> bool:
    return value_id in PRINTABLE and len(HOSTILE_VALUES[value_id]) <= limit


def escaped_everywhere(client, *urls: str) -> None:
    for url in urls:
        page = client.get(url)
        assert page.status_code == 200, url
        assert_escaped(page)


# -- Add Database ------------------------------------------------------------------------------

ADD = f"{BASE}/add/"
CONNECTION_FIELDS = ["name", "project_id", "dataset_id", "key_text", "key_file"]


def connection_data(**fields) -> dict:
    data = {
        "name": "Warehouse",
        "project_id": "analytics-prod",
        "dataset_id": "events_v2",
        "key_text": json.dumps(SMALL_KEY_INFO),
    }
    if "key_file" in fields:
        raw = fields.pop("key_file")
        data["key_text"] = ""
        data["key_file"] = SimpleUploadedFile(
            "key.json", raw.encode("utf-8", "surrogatepass"), "application/json"
        )
    data.update(fields)
    return data


@values
@pytest.mark.parametrize("field", CONNECTION_FIELDS)
def test_add_database(alice_client, field, value_id, value):
    response = alice_client.post(ADD, connection_data(**{field: value}))

    assert_escaped(response)
    if field == "name" and name_accepted(value_id):
        assert response.status_code == 302
        saved = Connection.objects.get()
        assert saved.name == value
        escaped_everywhere(alice_client, response["Location"], f"{BASE}/", f"{BASE}/imports/")
        return
    assert response.status_code == 200
    errors = errors_of(response.context["form"])
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    if field == "name":
        expected = (
            "Connection name must be at most 100 characters."
            if value_id == "long"
            else f"Connection name {CONTROL_NAME}"
        )
        assert errors["name"] == [expected]
    assert not Connection.objects.exists()
    assert "PRIVATE KEY" not in response.content.decode()


@pytest.mark.parametrize(
    "depth, code",
    [(5_000, "too_deep"), (40_000, "too_large")],
)
@pytest.mark.parametrize("kind", ["array", "object", "mixed"])
@pytest.mark.parametrize("field", ["key_text", "key_file"])
def test_add_database_with_a_deeply_nested_key(alice_client, depth, code, kind, field):
    data = connection_data(**{field: nested_json(depth, kind)})
    body = encode_multipart(BOUNDARY, connection_data(**{field: nested_json(depth, kind)}))
    response = alice_client.post(ADD, data)

    if len(body) > KEY_FORM_MAX_BYTES:
        # Refused unread: the message goes on the key's first field, as nothing tells which
        # of the two carried the key.
        assert response.status_code == 413
        field = "key_file"
    else:
        assert response.status_code == 200
    what = "The pasted key" if field == "key_text" else "The key file"  # the tab's words
    assert (
        response.context["form"].errors[field][0]
        == {
            "too_deep": f"{what} is nested too deeply to be a service account key.",
            "too_large": f"{what} is larger than 64 KiB; a service account key is about 2.3 KB.",
        }[code]
    )
    assert not Connection.objects.exists()


# -- Test Connection on typed values -----------------------------------------------------------


@pytest.fixture
def unlimited_tests(monkeypatch):
    monkeypatch.setattr(
        connection_services,
        "TEST_CONNECTION_WINDOW",
        SlidingWindow("unlimited-tests", limit=10_000, seconds=60),
    )


@values
@pytest.mark.parametrize("field", ["project_id", "dataset_id", "key_text", "key_file"])
def test_test_connection_refuses_offline(alice_client, unlimited_tests, field, value_id, value):
    for headers in ({}, HTMX):
        response = alice_client.post(
            f"{ADD}test/", connection_data(**{field: value}), headers=headers
        )
        assert response.status_code == 200
        assert_escaped(response)
        result = response.context["result"]
        assert not result["ok"]
        assert [c["status"] for c in result["checks"]].count("fail") == 1
    assert not Connection.objects.exists()


@values
def test_test_connection_runs_whatever_the_name(
    alice_client, google, bq_connection, unlimited_tests, value_id, value
):
    """The name plays no part in Test Connection: a bad one is reported, the test still runs
    (against the stand-ins), on typed values and on a saved connection's edit form."""
    data = {
        "name": value,
        "project_id": google.project,
        "dataset_id": google.dataset,
        "key_text": json.dumps(google.key.info),
    }
    for url, headers in ((f"{ADD}test/", {}), (f"{BASE}/{bq_connection.pk}/edit/test/", HTMX)):
        response = alice_client.post(url, data, headers=headers)

        assert response.status_code == 200
        assert_escaped(response)
        assert response.context["result"]["ok"], response.context["result"]
        if not headers:
            assert ("name" in response.context["form"].errors) != name_accepted(value_id)
    assert list(Connection.objects.all()) == [bq_connection]


# -- Edit connection ---------------------------------------------------------------------------


@values
@pytest.mark.parametrize("field", CONNECTION_FIELDS)
def test_edit_connection(alice_client, connection, unlimited_tests, field, value_id, value):
    url = f"{BASE}/{connection.pk}/edit/"
    data = connection_data(**{field: value})
    if field != "key_text":
        data["key_text"] = ""  # keep the saved key
    before = Connection.objects.values().get(pk=connection.pk)

    if field != "name":  # a name does not stop Test Connection (see above)
        tested = alice_client.post(f"{BASE}/{connection.pk}/edit/test/", data, headers=HTMX)
        assert tested.status_code == 200
        assert_escaped(tested)
        assert not tested.context["result"]["ok"]
    response = alice_client.post(url, data)

    assert_escaped(response)
    if field == "name" and name_accepted(value_id):
        assert response.status_code == 302
        assert Connection.objects.get(pk=connection.pk).name == value
        escaped_everywhere(alice_client, response["Location"], f"{BASE}/")
        return
    assert response.status_code == 200
    errors = errors_of(response.context["form"])
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    assert Connection.objects.values().get(pk=connection.pk) == before


# -- the connections dashboard's filters -------------------------------------------------------

CONNECTION_FILTERS = [
    "q",
    "connected_on_after",
    "connected_on_before",
    "connected_by",
    "status",
    "sort",
    "page",
]


@values
@pytest.mark.parametrize("param", CONNECTION_FILTERS)
def test_connection_filters(alice_client, connection, param, value_id, value):
    response = alice_client.get(f"{BASE}/", {param: value})

    assert response.status_code == 200
    assert_escaped(response)
    filterset = response.context["filterset"]
    shown = list(response.context["page"].object_list)
    if param == "page":
        assert shown == [connection]
    elif param == "q" and value_id not in {"nul", "long"}:
        # A search, never SQL: nothing matches these, and `' OR 1=1 --` matches nothing too.
        assert filterset.is_valid() and shown == []
    else:
        assert not filterset.is_valid() and shown == []
        assert param.removesuffix("_after").removesuffix("_before") in str(filterset.errors) or (
            param.startswith("connected_on") and "connected_on" in filterset.errors
        )
        assert b'class="form-error"' in response.content


# -- the imports list's filters, detail and progress -------------------------------------------


@values
@pytest.mark.parametrize("param", ["q", "status", "connection", "target", "page"])
def test_import_filters(alice_client, import_obj, param, value_id, value):
    response = alice_client.get(f"{BASE}/imports/", {param: value})

    assert response.status_code == 200
    assert_escaped(response)
    filterset = response.context["filterset"]
    shown = list(response.context["page"].object_list)
    if param == "page":
        assert shown == [import_obj]
    elif param == "q" and value_id not in {"nul", "long"}:
        assert filterset.is_valid() and shown == []
    else:
        assert not filterset.is_valid() and shown == [] and param in filterset.errors


@values
def test_import_detail_and_progress_parameters(alice_client, import_obj, value_id, value):
    url = f"{BASE}/imports/{import_obj.pk}/"
    for response in (
        alice_client.get(url, {"page": value}),
        alice_client.get(f"{url}progress/", {"run": value, "page": value}),
        alice_client.get(f"{url}progress/", {"run": value, "page": value}, headers=HTMX),
    ):
        assert response.status_code == 200
        assert_escaped(response)


# -- Edit import -------------------------------------------------------------------------------

# (field, the schedule kind that uses it)
IMPORT_EDIT_FIELDS = [
    ("name", "none"),
    ("schedule_kind", None),
    ("schedule_at", "once"),
    ("schedule_minute", "hourly"),
    ("schedule_time", "daily"),
    ("schedule_weekday", "weekly"),
    ("schedule_cron", "cron"),
]
SCHEDULE_BASE = {
    "schedule_at": "2030-01-01T09:00",
    "schedule_minute": "5",
    "schedule_time": "09:30",
    "schedule_weekday": "2",
    "schedule_cron": "0 9 * * 1-5",
}


def schedule_data(field: str, kind: str | None, value: str) -> dict[str, str]:
    data = {**SCHEDULE_BASE, "schedule_kind": kind or "none"}
    data[field] = value
    return data


@values
@pytest.mark.parametrize("field, kind", IMPORT_EDIT_FIELDS, ids=[f for f, _ in IMPORT_EDIT_FIELDS])
def test_edit_import(alice_client, import_obj, field, kind, value_id, value):
    url = f"{BASE}/imports/{import_obj.pk}/edit/"
    data = {"name": "Nightly users", **schedule_data(field, kind, value)}
    before = Import.objects.values().get(pk=import_obj.pk)

    response = alice_client.post(url, data)

    assert_escaped(response)
    if field == "name" and name_accepted(value_id):
        assert response.status_code == 302
        assert Import.objects.get(pk=import_obj.pk).name == value
        escaped_everywhere(
            alice_client,
            response["Location"],
            f"{BASE}/imports/",
            f"{BASE}/{import_obj.connection_id}/",
        )
        return
    assert response.status_code == 200
    errors = {**errors_of(response.context["name_form"]), **errors_of(response.context["form"])}
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    assert Import.objects.values().get(pk=import_obj.pk) == before


@values
@pytest.mark.parametrize(
    "field, kind", IMPORT_EDIT_FIELDS[1:], ids=[f for f, _ in IMPORT_EDIT_FIELDS[1:]]
)
def test_schedule_preview(alice_client, connection, field, kind, value_id, value):
    url = f"{BASE}/{connection.pk}/imports/new/schedule-preview/"
    response = alice_client.get(url, schedule_data(field, kind, value), headers=HTMX)

    assert response.status_code == 200
    assert_escaped(response)
    errors = errors_of(response.context["form"])
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    assert response.context["runs"] is None


# -- Create Import: target, sync, schedule, review (the draft holds the source) ----------------

# (field, data the field needs around it)
TARGET_FIELDS = [
    ("target", {}),
    ("identity_column", {}),
    ("event_name_source", {"target": "events", "event_name_column": "event",
                           "timestamp_column": "ts"}),
    ("event_name_column", {"target": "events", "event_name_source": "column",
                           "timestamp_column": "ts"}),
    ("event_name_fixed", {"target": "events", "event_name_source": "fixed",
                          "timestamp_column": "ts"}),
    ("timestamp_column", {"target": "events", "event_name_column": "event"}),
    ("source_time_zone", {"target": "events", "event_name_column": "event",
                          "timestamp_column": "day"}),
    ("timestamp_unit", {"target": "events", "event_name_column": "event",
                        "timestamp_column": "visits"}),
    ("property_1", {}),
    ("include_1", {}),
]  # fmt: skip


def target_accepts(field: str, value_id: str) -> bool:
    if field == "include_1":
        return True  # a checkbox: any value ticks it
    if field == "property_1":
        return name_accepted(value_id, limit=255)
    if field == "event_name_fixed":
        return name_accepted(value_id, limit=255)
    return False


@values
@pytest.mark.parametrize("field, around", TARGET_FIELDS, ids=[f for f, _ in TARGET_FIELDS])
def test_create_import_target(alice_client, connection, field, around, value_id, value):
    draft = seed_draft(alice_client, connection, upto="target")
    data = target_data(**around)
    data[field] = value

    response = alice_client.post(step_url(connection, draft, "target"), data)

    assert_escaped(response)
    if target_accepts(field, value_id):
        assert response.status_code == 302
        assert draft_step(alice_client, draft, "target")["data"][field] == value
        return
    assert response.status_code == 200
    errors = errors_of(response.context["form"])
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    if field in {"identity_column", "event_name_column", "timestamp_column"} and value_id != "nul":
        assert errors[field] == [f"Column “{value}” is not in the source."]
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        escaped = escaped.replace('"', "&quot;").replace("'", "&#x27;")
        if "<" in value:
            assert escaped in response.content.decode()
    assert draft_step(alice_client, draft, "target") is None


@values
@pytest.mark.parametrize("field", ["sync_mode", "cursor_column"])
def test_create_import_sync(alice_client, connection, field, value_id, value):
    draft = seed_draft(alice_client, connection, upto="sync")
    data = {"sync_mode": "incremental", "cursor_column": "ts", field: value}

    response = alice_client.post(step_url(connection, draft, "sync"), data)

    assert response.status_code == 200
    assert_escaped(response)
    errors = errors_of(response.context["form"])
    assert list(errors) == [field] and len(errors[field]) == 1, errors
    assert draft_step(alice_client, draft, "sync") is None


@values
@pytest.mark.parametrize(
    "field, kind", IMPORT_EDIT_FIELDS[1:], ids=[f for f, _ in IMPORT_EDIT_FIELDS[1:]]
)
def test_create_import_schedule(alice_client, connection, field, kind, value_id, value):
    draft = seed_draft(alice_client, connection, upto="schedule")
    for action in ("preview", "next"):
        data = {"action": action, **schedule_data(field, kind, value)}

        response = alice_client.post(step_url(connection, draft, "schedule"), data)

        assert response.status_code == 200
        assert_escaped(response)
        errors = errors_of(response.context["form"])
        assert list(errors) == [field] and len(errors[field]) == 1, errors
        assert response.context["runs"] is None
    assert draft_step(alice_client, draft, "schedule") is None


@values
def test_create_import_review(alice_client, connection, value_id, value):
    draft = seed_draft(alice_client, connection, upto="review")

    response = alice_client.post(step_url(connection, draft, "review"), {"name": value})

    assert_escaped(response)
    if name_accepted(value_id):
        assert response.status_code == 302
        saved = Import.objects.get()
        assert saved.name == value
        escaped_everywhere(
            alice_client, response["Location"], f"{BASE}/imports/", f"{BASE}/{connection.pk}/"
        )
        return
    assert response.status_code == 200
    assert list(errors_of(response.context["review"])) == ["name"]
    assert not Import.objects.exists()
    assert draft in alice_client.session["import_drafts"]


# -- Create Import: source (the stand-ins answer the table list, preview and dry runs) ---------


@pytest.fixture
def source_connection(google, workspace_a, alice, flow_tables):
    return flow_connection(google, workspace_a, alice)


@values
def test_create_import_source(alice_client, source_connection, google, value_id, value):
    url = new_url(source_connection)
    for field in ("source_kind", "table", "query"):
        data = {"source_kind": "query" if field == "query" else "table", "table": "", "query": ""}
        data[field] = value
        # Check dry-runs a query and does nothing for a table; Next looks the table up.
        for action in ("next", "check") if field == "query" else ("next",):
            response = alice_client.post(url, {**data, "action": action})
            assert response.status_code == 200
            assert_escaped(response)
            errors = errors_of(response.context["form"])
            assert list(errors) == [field] and len(errors[field]) == 1, (field, errors)
    fragment = alice_client.post(f"{url}check-query/", {"query": value}, headers=HTMX)
    assert fragment.status_code == 200
    assert_escaped(fragment)
    assert fragment.context["check_error"]
    # Refused before anything reached BigQuery's jobs API, and no draft was kept.
    assert "jobs.insert" not in google.stack.gate.operations()
    assert "import_drafts" not in alice_client.session


@values
def test_create_import_browse_parameters(alice_client, source_connection, value_id, value):
    url = new_url(source_connection)
    for response in (
        alice_client.get(url, {"table": value, "q": value, "page": value}),
        alice_client.get(
            f"{url}tables/", {"table": value, "q": value, "page": value}, headers=HTMX
        ),
        alice_client.get(f"{url}preview/", {"table": value}, headers=HTMX),
    ):
        assert response.status_code == 200
        assert_escaped(response)
        if "preview_error" in response.context:
            assert response.context["preview_error"].detail


# -- Audience search ---------------------------------------------------------------------------

IDENTITIES = ["u1", "u2", SCRIPT, IMG, "' OR 1=1 --", "\u0430dmin", "admin"]


@pytest.fixture
def audience(workspace_a):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for index, identity in enumerate(IDENTITIES):
        Profile.objects.create(
            workspace=workspace_a,
            identity=identity,
            properties={"note": SCRIPT},
            first_seen=now,
            last_seen=now + dt.timedelta(minutes=index),
        )
        Event.objects.create(
            workspace=workspace_a,
            identity=identity,
            name=IMG,
            timestamp=now,
            properties={"html": IMG},
            dedupe_key=uuid.uuid4(),
        )


@values
@pytest.mark.parametrize("kind", ["profiles", "events"])
def test_audience_search(alice_client, audience, kind, value_id, value):
    response = alice_client.get(f"/w/acme/audience/{kind}/", {"q": value, "page": value})

    assert response.status_code == 200
    assert_escaped(response)
    shown = {row.identity for row in response.context["page"].object_list}
    search = value.strip()[:255]
    # A prefix search, never SQL; PostgreSQL text holds no NUL, so nothing starts with one.
    expected = set() if "\x00" in search else {i for i in IDENTITIES if i.startswith(search)}
    assert shown == expected


# -- sign-in -----------------------------------------------------------------------------------


@values
@pytest.mark.parametrize("url", ["/signin/", "/admin/login/"])
@pytest.mark.parametrize("field", ["username", "password"])
def test_sign_in(db, alice, forget_signin_failures, url, field, value_id, value):
    client = Client()
    data = {"username": "alice@acme.test", "password": "wrong", field: value}
    forget_signin_failures(data["username"])

    response = client.post(url, data)

    assert response.status_code == 200
    assert_escaped(response)
    form = response.context["form"]
    assert form.errors
    # Every reason is on the page (a NUL gets a field error, not the wrong-password one).
    page = response.content.decode()
    for message in (m for messages in form.errors.values() for m in messages):
        assert escape(message) in page
    assert "_auth_user_id" not in client.session


@values
@pytest.mark.parametrize("url", ["/signin/", "/admin/login/"])
def test_sign_in_next(db, alice, forget_signin_failures, url, value_id, value):
    client = Client()
    forget_signin_failures("alice@acme.test")
    page = client.get(url, {"next": value})
    assert page.status_code == 200
    assert_escaped(page)

    response = client.post(
        f"{url}?next=x",
        {"username": "alice@acme.test", "password": "correct horse battery", "next": value},
    )
    if url == "/admin/login/":
        # alice is not staff: the admin refuses her, whatever `next` says.
        assert response.status_code == 200 and response.context["form"].errors
        return
    assert response.status_code == 302
    # Somewhere on this site, whatever `next` said: no scheme, no other host.
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc) == ("", "")
    assert not response["Location"].startswith(("//", "/\\"))


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\\evil.example",
        "\x00//evil.example",
    ],
)
def test_sign_in_never_redirects_off_site(db, alice, forget_signin_failures, next_url):
    client = Client()
    forget_signin_failures("alice@acme.test")
    response = client.post(
        "/signin/",
        {"username": "alice@acme.test", "password": "correct horse battery", "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
