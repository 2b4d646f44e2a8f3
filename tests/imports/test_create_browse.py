"""Browsing a dataset with many tables: search, paging 50 at a time, one cached listing, details
only for the visible page, and Google's failures in our words."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache

from connections import bigquery
from connections.google_errors import GoogleErrorKind
from imports import browse
from standins.emulator import EmulatorError
from tests.connections.conftest import make_connection
from tests.fixtures.google import kept_in_emulator
from tests.fixtures.standin_world import PROJECT
from tests.imports.test_create_flow import FLOW, HTMX, make_flow_tables, new_url

MANY = "create_import_many"
TABLES = [f"events_{i:03d}" for i in range(120)] + [f"Users_{i}" for i in range(5)]


@pytest.fixture(scope="module")
def many_tables(standin_stack):
    """A dataset of our own with 125 tables (created once, kept for the session)."""
    return kept_in_emulator(MANY, make_many_tables, standin_stack)


def make_many_tables(standin_stack):
    try:
        standin_stack.create_dataset(PROJECT, MANY, location="EU")
    except EmulatorError as error:
        if "409" not in str(error):
            raise
        return TABLES

    def create(name):
        rows = [{"id": i, "name": f"row {i}"} for i in range(12)] if name == "events_007" else []
        standin_stack.create_table(PROJECT, MANY, name, [("id", "INT64"), ("name", "STRING")], rows)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(create, TABLES))
    return TABLES


@pytest.fixture(autouse=True)
def own_cache(settings):
    """A cache of this test's own: other test runs share (and flush) the Redis database."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "create",
        }
    }


@pytest.fixture
def many(google, workspace_a, alice, many_tables):
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=MANY)
    return make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=MANY
    )


def names(response):
    return [info.name for info in response.context["tables"].page.object_list]


def ops(google, name):
    return google.stack.gate.operations().count(name)


def test_the_first_page_lists_50_tables_with_details_for_those_only(
    alice_client, many, google, monkeypatch
):
    # The emulator answers tables.get one at a time, slower than Google answers 8 at once.
    monkeypatch.setattr(browse, "PAGE_DETAILS_DEADLINE", 120.0)
    google.stack.gate.clear_requests()
    response = alice_client.get(new_url(many))

    assert response.status_code == 200
    assert names(response) == sorted(TABLES, key=str.casefold)[:50]
    tables = response.context["tables"]
    assert (tables.total, tables.page.paginator.num_pages) == (125, 3)
    assert ops(google, "tables.list") == 1
    assert ops(google, "tables.get") == 50  # the visible page only, not all 125
    first = {info.name: info for info in tables.page.object_list}["events_007"]
    assert (first.num_rows, first.loaded) == (12, True)
    assert first.modified is not None
    html = response.content.decode()
    assert "125 tables in create_import_many · page 1 of 3" in html
    assert "Next &rarr;" in html


def test_paging_and_search_use_the_cached_listing(alice_client, many, google):
    found = alice_client.get(new_url(many), {"q": "USERS"})
    assert names(found) == [f"Users_{i}" for i in range(5)]
    assert "5 of 125 tables match “USERS”" in found.content.decode()
    assert (ops(google, "tables.list"), ops(google, "tables.get")) == (1, 5)
    google.stack.gate.clear_requests()

    again = alice_client.get(new_url(many), {"q": "users"})
    assert names(again) == names(found)
    last = alice_client.get(new_url(many), {"page": 3})
    assert names(last) == sorted(TABLES, key=str.casefold)[100:]
    assert len(names(last)) == 25
    assert last.context["tables"].page.number == 3
    out_of_range = alice_client.get(new_url(many), {"page": 99})
    assert names(out_of_range) == names(last)
    none = alice_client.get(new_url(many), {"q": "zzz"})
    assert names(none) == []
    assert "No table name contains “zzz”." in none.content.decode()

    assert ops(google, "tables.list") == 0  # one listing per connection for five minutes
    # Page 3 is events_100..119 and Users_0..4, whose details the search already cached.
    assert ops(google, "tables.get") == 20


def test_a_search_finds_the_text_anywhere_in_a_name_and_ignores_surrounding_spaces(
    alice_client, many, google
):
    response = alice_client.get(new_url(many), {"q": "  _007 "})

    assert names(response) == ["events_007"]
    assert response.context["tables"].query == "_007"
    assert "1 of 125 tables match “_007”" in response.content.decode()


def test_a_dataset_with_more_tables_than_are_listed_says_so(
    alice_client, many, google, monkeypatch
):
    monkeypatch.setattr(browse, "MAX_TABLES", 125)
    every = alice_client.get(new_url(many), {"q": "Users"})
    assert (every.context["tables"].total, every.context["tables"].truncated) == (125, False)
    assert "Only the first" not in every.content.decode()

    cache.clear()
    monkeypatch.setattr(browse, "MAX_TABLES", 124)
    cut = alice_client.get(new_url(many), {"q": "Users"})
    assert (cut.context["tables"].total, cut.context["tables"].truncated) == (124, True)
    assert "Only the first 124 tables are listed; search to find others." in cut.content.decode()


def test_details_served_from_the_cache_are_shown_as_loaded(alice_client, many, google):
    [fresh] = alice_client.get(new_url(many), {"q": "events_007"}).context["tables"].page
    google.stack.gate.clear_requests()

    again = alice_client.get(new_url(many), {"q": "events_007"})

    assert ops(google, "tables.get") == 0
    [cached] = again.context["tables"].page
    assert (cached.name, cached.num_rows, cached.loaded) == ("events_007", 12, True)
    assert cached.modified == fresh.modified is not None
    assert again.context["tables"].missing_details == 0
    assert "could not be loaded" not in again.content.decode()


def test_search_as_you_type_fragment(alice_client, many, google):
    response = alice_client.get(
        f"{new_url(many)}tables/", {"q": "events_11", "table": "events_110"}, headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert names(response) == [f"events_11{i}" for i in range(10)]
    assert 'class="is-chosen" data-table-row="events_110"' in html
    # Links work with and without htmx: a normal href and an hx-get to the preview fragment.
    assert 'href="?q=events_11&amp;table=events_113"' in html
    assert "/imports/new/preview/?table=events_113" in html


def test_paging_fragment_links_keep_the_search(alice_client, many, google, monkeypatch):
    monkeypatch.setattr(browse, "PAGE_SIZE", 10)  # fewer tables.get calls on the slow emulator
    response = alice_client.get(f"{new_url(many)}tables/", {"q": "events", "page": 2}, headers=HTMX)
    html = response.content.decode()
    assert names(response) == [f"events_01{i}" for i in range(10)]
    assert "120 of 125 tables match “events” · page 2 of 12" in html
    assert f'hx-get="{new_url(many)}tables/?q=events&amp;page=3"' in html
    assert 'href="?q=events&amp;page=1"' in html


def test_the_listing_pages_through_tables_list(alice_client, many, google, monkeypatch):
    # Google returns at most 1,000 tables per call; with pages of 50 the 125 take three calls.
    monkeypatch.setattr(bigquery.DatasetBrowser, "LIST_PAGE_SIZE", 50)
    google.stack.gate.clear_requests()
    response = alice_client.get(new_url(many), {"q": "Users"})
    assert ops(google, "tables.list") == 3
    assert response.context["tables"].total == 125


def test_a_changed_connection_is_listed_afresh(alice_client, many, google, standin_stack):
    make_flow_tables(standin_stack)
    google.stack.grant(google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=FLOW)
    alice_client.get(new_url(many), {"q": "users"})
    many.dataset_id = FLOW
    many.save()
    response = alice_client.get(new_url(many))
    assert names(response) == ["create_customers", "create_orders"]


def test_preview_fragment_shows_the_schema_and_first_rows(alice_client, many, google):
    google.stack.gate.clear_requests()
    response = alice_client.get(f"{new_url(many)}preview/", {"table": "events_007"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    preview = response.context["preview"]
    assert preview.table.schema == [
        {"name": "id", "type": "INT64", "mode": "NULLABLE"},
        {"name": "name", "type": "STRING", "mode": "NULLABLE"},
    ]
    assert len(preview.rows) == 10  # list_rows(max_results=10)
    assert preview.rows[0] == ["0", "row 0"]
    assert '<input type="hidden" name="table" value="events_007">' in html
    assert google.stack.gate.operations() == ["tables.get", "tabledata.list"]


def test_tables_whose_details_cannot_be_read_are_still_listed(alice_client, many, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=MANY)
    google.stack.grant(google.key.email, ["bigquery.tables.list"], project=PROJECT)
    response = alice_client.get(new_url(many), {"q": "Users"})
    assert names(response) == [f"Users_{i}" for i in range(5)]
    assert response.context["tables"].missing_details == 5
    assert "Details of 5 tables could not be loaded (shown as ?)." in response.content.decode()


def test_an_empty_dataset_suggests_a_query(alice_client, google, workspace_a, alice):
    try:
        google.stack.create_dataset(PROJECT, "create_import_empty", location="EU")
    except EmulatorError:
        pass
    google.stack.grant(
        google.key.email,
        "roles/bigquery.dataViewer",
        project=PROJECT,
        dataset="create_import_empty",
    )
    connection = make_connection(
        workspace_a,
        alice,
        name="Empty",
        info=google.key.info,
        project_id=PROJECT,
        dataset_id="create_import_empty",
    )
    html = alice_client.get(new_url(connection)).content.decode()
    assert "has no tables. Write a SQL query instead" in html


def test_google_errors_are_shown_in_our_words(alice_client, many, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=MANY)
    response = alice_client.get(new_url(many))
    assert response.status_code == 200
    error = response.context["tables_error"]
    assert error.kind is GoogleErrorKind.ACCESS_DENIED
    html = response.content.decode()
    assert "The tables of dataset create_import_many could not be listed." in html
    assert f"{google.key.email} has no access to dataset {PROJECT}:{MANY}" in html
    assert "Fix:" in html and "BigQuery Data Editor" in html
    assert "Access Denied" not in html and "Permission bigquery" not in html  # Google's text


def test_a_google_outage_while_listing(alice_client, many, google):
    google.stack.gate.inject("backend_error", times=None, match="tables.list")
    started = time.monotonic()
    response = alice_client.get(new_url(many))
    assert time.monotonic() - started < 15  # the seam's short retry deadline, not 600 s
    error = response.context["tables_error"]
    assert error.kind is GoogleErrorKind.BACKEND_ERROR
    assert "Google did not answer in time, or answered with a temporary error." in error.detail


def test_a_deleted_key(alice_client, many, google):
    google.stack.token_server.delete_key(google.key.key_id)
    response = alice_client.get(new_url(many))
    error = response.context["tables_error"]
    assert error.detail == "Google rejected the key: it was deleted or replaced in Google Cloud."
    preview = alice_client.get(f"{new_url(many)}preview/", {"table": "events_001"}, headers=HTMX)
    assert "Google rejected the key" in preview.content.decode()


def test_display_of_preview_values():
    import datetime as dt

    assert browse.display(None) is None
    assert browse.display(b"\x00\x01") == "AAE="
    assert (
        browse.display(dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)) == "2026-01-02T03:04:00+00:00"
    )
    assert browse.display({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert browse.display("x" * 500).endswith("…") and len(browse.display("x" * 500)) == 120
    assert browse.display("x" * 120) == "x" * 120  # as long as a cell shows: kept whole
    assert browse.display(["Zürich", "東京"]) == '["Zürich", "東京"]'


def test_the_schema_a_draft_keeps_has_each_columns_type_mode_fields_and_range():
    api_schema = [
        {"name": "s", "type": "RECORD", "mode": "repeated", "fields": [
            {"name": "id", "type": "INTEGER"},
            {"name": "span", "type": "RANGE", "rangeElementType": {"type": "DATE"}}]},
        {"name": "n", "type": "INTEGER"},
    ]  # fmt: skip

    assert browse._schema(api_schema) == [
        {"name": "s", "type": "STRUCT", "mode": "REPEATED", "fields": [
            {"name": "id", "type": "INT64", "mode": "NULLABLE"},
            {"name": "span", "type": "RANGE", "mode": "NULLABLE",
             "rangeElementType": {"type": "DATE"}}]},
        {"name": "n", "type": "INT64", "mode": "NULLABLE"},
    ]  # fmt: skip
