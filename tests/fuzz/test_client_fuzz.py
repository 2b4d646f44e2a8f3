"""A sample of generated hostile values through the test client as alice (admin of workspace
A): every answer is below 500 and escapes what it shows; a refusal saves nothing, and what is
saved keeps the rules. Bytes that are not UTF-8 (a browser's lone surrogates) go in raw."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from common.ratelimit import SlidingWindow
from connections.models import Connection
from imports.forms import TargetForm
from imports.models import Import
from tests.fuzz.conftest import BASE, SCHEMA, draft_step, seed_draft, step_url, target_data
from tests.fuzz.hostile import (
    SMALL_KEY_INFO,
    any_text,
    assert_escaped,
    fuzz,
    hostile_text,
    is_control,
)

TEXT = any_text()  # the test client sends UTF-8: no lone surrogates here (see the last test)
NON_BLANK = TEXT.filter(lambda text: text.strip())


def assert_clean_name(value: str, limit: int = 100) -> None:
    assert value.strip() and len(value) <= limit
    assert not any(is_control(char) for char in value)


@fuzz(25)
@given(name=TEXT, project_id=TEXT, dataset_id=TEXT, key_text=NON_BLANK, htmx=st.booleans())
def test_add_database(alice_client, monkeypatch, name, project_id, dataset_id, key_text, htmx):
    from connections import services

    monkeypatch.setattr(
        services,
        "TEST_CONNECTION_WINDOW",
        SlidingWindow("unlimited-tests", limit=10_000, seconds=60),
    )
    data = {"name": name, "project_id": project_id, "dataset_id": dataset_id, "key_text": key_text}
    response = alice_client.post(f"{BASE}/add/", data)
    assert response.status_code == 200
    assert_escaped(response)
    assert "key_text" in response.context["form"].errors
    tested = alice_client.post(
        f"{BASE}/add/test/", data, headers={"HX-Request": "true"} if htmx else {}
    )
    assert tested.status_code == 200
    assert_escaped(tested)
    assert not tested.context["result"]["ok"]
    assert not Connection.objects.exists()


@fuzz(25)
@given(name=TEXT, project_id=TEXT, dataset_id=TEXT, key_text=TEXT)
def test_edit_connection(alice_client, connection, name, project_id, dataset_id, key_text):
    before = Connection.objects.values().get(pk=connection.pk)
    data = {"name": name, "project_id": project_id, "dataset_id": dataset_id, "key_text": key_text}

    response = alice_client.post(f"{BASE}/{connection.pk}/edit/", data)

    assert response.status_code in (200, 302)
    assert_escaped(response)
    if response.status_code == 200:
        assert response.context["form"].errors
        assert Connection.objects.values().get(pk=connection.pk) == before
    else:
        saved = Connection.objects.get(pk=connection.pk)
        assert_clean_name(saved.name)
        assert (saved.project_id, saved.dataset_id) == (project_id.strip(), dataset_id.strip())


def params(keys: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(keys), hostile_text(max_size=6)), TEXT, max_size=5
    )


@fuzz(25)
@given(
    params(
        ["q", "connected_on_after", "connected_on_before", "connected_by", "status", "sort", "page"]
    )
)
def test_connection_list(alice_client, connection, query):
    response = alice_client.get(f"{BASE}/", query)
    assert response.status_code == 200
    assert_escaped(response)
    shown = list(response.context["page"].object_list)
    assert shown in ([], [connection])
    if shown and query.get("q", "").strip():
        needle = query["q"].strip().casefold()
        assert any(
            needle in value.casefold()
            for value in (connection.name, connection.project_id, connection.dataset_id)
        )


@fuzz(25)
@given(params(["q", "status", "connection", "target", "page"]))
def test_import_list(alice_client, import_obj, query):
    response = alice_client.get(f"{BASE}/imports/", query)
    assert response.status_code == 200
    assert_escaped(response)
    shown = list(response.context["page"].object_list)
    assert shown in ([], [import_obj])
    if shown and query.get("q", "").strip():
        assert query["q"].strip().casefold() in import_obj.name.casefold()


@fuzz(25)
@given(q=TEXT, page=TEXT, kind=st.sampled_from(["profiles", "events"]))
def test_audience_search(alice_client, q, page, kind):
    response = alice_client.get(f"/w/acme/audience/{kind}/", {"q": q, "page": page})
    assert response.status_code == 200
    assert_escaped(response)
    assert list(response.context["page"].object_list) == []


SCHEDULE = st.fixed_dictionaries(
    {
        "schedule_kind": st.one_of(
            st.sampled_from(["none", "now", "once", "hourly", "daily", "weekly", "cron"]), TEXT
        ),
        "schedule_at": st.one_of(st.just("2031-02-03T04:05"), TEXT),
        "schedule_minute": st.one_of(st.just("7"), TEXT),
        "schedule_time": st.one_of(st.just("09:30"), TEXT),
        "schedule_weekday": st.one_of(st.just("3"), TEXT),
        "schedule_cron": st.one_of(st.just("0 9 * * 1-5"), TEXT),
    }
)


@fuzz(25)
@given(name=TEXT, schedule=SCHEDULE)
def test_edit_import(alice_client, import_obj, name, schedule):
    before = Import.objects.values().get(pk=import_obj.pk)

    response = alice_client.post(
        f"{BASE}/imports/{import_obj.pk}/edit/", {"name": name, **schedule}
    )

    assert response.status_code in (200, 302)
    assert_escaped(response)
    if response.status_code == 200:
        assert response.context["name_form"].errors or response.context["form"].errors
        assert Import.objects.values().get(pk=import_obj.pk) == before
    else:
        saved = Import.objects.get(pk=import_obj.pk)
        assert_clean_name(saved.name)
        assert saved.schedule_kind in {"none", "now", "once", "hourly", "daily", "weekly", "cron"}
        detail = alice_client.get(response["Location"])
        assert detail.status_code == 200
        assert_escaped(detail)


@fuzz(25)
@given(SCHEDULE)
def test_schedule_preview(alice_client, connection, schedule):
    response = alice_client.get(
        f"{BASE}/{connection.pk}/imports/new/schedule-preview/",
        schedule,
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert_escaped(response)
    assert (response.context["runs"] is None) == bool(response.context["form"].errors)


TARGET_FIELDS = [
    "target",
    "identity_column",
    "event_name_source",
    "event_name_column",
    "event_name_fixed",
    "timestamp_column",
    "property_0",
    "property_1",
    "include_1",
    "property_2",
]


@fuzz(25)
@given(st.dictionaries(st.sampled_from(TARGET_FIELDS), TEXT, min_size=1, max_size=4))
def test_create_import_target(alice_client, connection, changes):
    draft = seed_draft(alice_client, connection, upto="target")

    response = alice_client.post(step_url(connection, draft, "target"), target_data(**changes))

    assert response.status_code in (200, 302)
    assert_escaped(response)
    stored = draft_step(alice_client, draft, "target")
    if response.status_code == 200:
        assert response.context["form"].errors and stored is None
    else:
        # What the draft keeps validates again at Save, into clean property names.
        form = TargetForm(stored["data"], schema=SCHEMA)
        assert form.is_valid(), form.errors
        for entry in form.cleaned_data["column_mapping"]:
            if entry["include"]:
                assert_clean_name(entry["property"], limit=255)


@fuzz(25)
@given(sync_mode=st.one_of(st.just("incremental"), TEXT), cursor_column=TEXT)
def test_create_import_sync(alice_client, connection, sync_mode, cursor_column):
    draft = seed_draft(alice_client, connection, upto="sync")
    response = alice_client.post(
        step_url(connection, draft, "sync"),
        {"sync_mode": sync_mode, "cursor_column": cursor_column},
    )
    assert response.status_code == 200  # no generated column is in the source
    assert_escaped(response)
    assert draft_step(alice_client, draft, "sync") is None


@fuzz(25)
@given(schedule=SCHEDULE, action=st.sampled_from(["next", "preview", ""]))
def test_create_import_schedule(alice_client, connection, schedule, action):
    draft = seed_draft(alice_client, connection, upto="schedule")
    response = alice_client.post(
        step_url(connection, draft, "schedule"), {"action": action, **schedule}
    )
    assert response.status_code in (200, 302)
    assert_escaped(response)
    if response.status_code == 200:
        stored = draft_step(alice_client, draft, "schedule")
        assert stored is None
        assert response.context["form"].errors or action == "preview"


@fuzz(25)
@given(TEXT)
def test_create_import_review(alice_client, connection, name):
    draft = seed_draft(alice_client, connection, upto="review")

    response = alice_client.post(step_url(connection, draft, "review"), {"name": name})

    assert response.status_code in (200, 302)
    assert_escaped(response)
    if response.status_code == 200:
        assert response.context["review"].errors
        assert not Import.objects.exists()
    else:
        saved = Import.objects.get()
        assert_clean_name(saved.name)
        for url in (response["Location"], f"{BASE}/imports/"):
            page = alice_client.get(url)
            assert page.status_code == 200
            assert_escaped(page)
        saved.delete()


# Bytes that do not decode as UTF-8, as a hostile client (not a browser) can send them:
# CESU-8 surrogates, an overlong "/", a lone continuation byte, a truncated sequence.
RAW = ["%ED%A0%80", "%ED%BF%BF%ED%A0%80", "%C0%AF", "%80", "%E2%82", "%FF%FE", "%00%ED%A0%80"]
RAW_GETS = [
    f"{BASE}/?q={{}}",
    f"{BASE}/?connected_by={{}}&sort={{}}&status={{}}&connected_on_after={{}}",
    f"{BASE}/imports/?q={{}}&connection={{}}&status={{}}",
    "/w/acme/audience/profiles/?q={}",
    "/w/acme/audience/events/?q={}&page={}",
    "/w/acme/audience/events/?identity={}&older={}",
]
MARK = "RAWMARK"
KEY_WITH_RAW = quote(
    json.dumps({**SMALL_KEY_INFO, "client_email": f"{MARK}@x.iam.gserviceaccount.com"})
)


@pytest.mark.parametrize("raw", RAW)
def test_bytes_that_are_not_utf8(alice_client, connection, import_obj, raw):
    for url in RAW_GETS:
        response = alice_client.get(url.replace("{}", raw))
        assert response.status_code == 200, url
        assert_escaped(response)
    signin = Client().get(f"/signin/?next={raw}")
    assert signin.status_code == 200
    posts = [
        (f"{BASE}/add/", f"name={raw}&project_id={raw}&dataset_id={raw}&key_text={raw}"),
        (
            f"{BASE}/{connection.pk}/edit/",
            f"name=x{raw}&project_id={raw}&dataset_id=events_v2&key_text=",
        ),
        (
            f"{BASE}/imports/{import_obj.pk}/edit/",
            f"name={raw}&schedule_kind=cron&schedule_cron={raw}",
        ),
        (
            f"{BASE}/add/",
            "name=W&project_id=analytics-prod&dataset_id=d&key_text="
            + KEY_WITH_RAW.replace(MARK, raw),
        ),
    ]
    before = (
        Connection.objects.values().get(pk=connection.pk),
        Import.objects.values().get(pk=import_obj.pk),
    )
    for url, body in posts:
        response = alice_client.post(url, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200, url
        assert_escaped(response)
        assert response.context["form"].errors
    after = (
        Connection.objects.values().get(pk=connection.pk),
        Import.objects.values().get(pk=import_obj.pk),
    )
    assert after == before
    assert Connection.objects.count() == 1
