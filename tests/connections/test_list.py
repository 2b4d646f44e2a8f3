import datetime as dt

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.models import Connection
from tests.connections.conftest import make_connection
from tests.factories import key_info

LIST = "/w/acme/settings/partners/bigquery/"


def seed(workspace, users, count, start=None, prefix="conn"):
    """Bulk-insert `count` connections spread over days and users (no key work per row)."""
    start = start or timezone.now() - dt.timedelta(days=count)
    Connection.objects.bulk_create(
        Connection(
            workspace=workspace,
            name=f"{prefix}-{i:05d}",
            project_id=f"project-{i % 7:03d}",
            dataset_id=f"ds_{i}",
            encrypted_key="gAAAAA-not-used",
            client_email="sa@p.iam.gserviceaccount.com",
            private_key_id="k" * 40,
            created_at=start + dt.timedelta(days=i),
            created_by=users[i % len(users)],
        )
        for i in range(count)
    )


def names(response):
    return [c.name for c in response.context["page"].object_list]


def test_the_list_shows_the_workspaces_connections_only(alice_client, connection_a, connection_b):
    response = alice_client.get(LIST)

    page = response.content.decode()
    assert "Warehouse" in page
    assert "Globex warehouse" not in page
    assert "1 connection" in page
    for column in (
        "Name",
        "Project",
        "Dataset",
        "Service account",
        "Status",
        "Connected On",
        "Connected By",
        "Imports",
    ):
        assert f">{column}" in page


def test_filter_by_connected_by(alice_client, alice, bob, workspace_a):
    seed(workspace_a, [alice, bob], 6)

    response = alice_client.get(LIST, {"connected_by": bob.pk})

    assert sorted(names(response)) == ["conn-00001", "conn-00003", "conn-00005"]
    assert "3 connections match the filters" in response.content.decode()


def test_filter_by_connected_on_range_is_inclusive_in_the_workspace_zone(
    alice_client, alice, workspace_a
):
    workspace_a.time_zone = "America/New_York"
    workspace_a.save()
    tz = dt.timezone(dt.timedelta(hours=-5))
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=tz)
    seed(workspace_a, [alice], 10, start=start)  # Mar 1 .. Mar 10, noon New York

    response = alice_client.get(
        LIST, {"connected_on_after": "2026-03-03", "connected_on_before": "2026-03-05"}
    )

    assert sorted(names(response)) == ["conn-00002", "conn-00003", "conn-00004"]


def test_filters_and_search_combine(alice_client, alice, bob, workspace_a):
    seed(workspace_a, [alice, bob], 30)

    response = alice_client.get(LIST, {"connected_by": alice.pk, "q": "project-001"})

    # project-001 is i % 7 == 1; alice has the even i
    expected = sorted(f"conn-{i:05d}" for i in range(30) if i % 7 == 1 and i % 2 == 0)
    assert sorted(names(response)) == expected


def test_a_one_day_range_is_not_reversed(alice_client, alice, workspace_a):
    seed(workspace_a, [alice], 3, start=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))

    response = alice_client.get(
        LIST, {"connected_on_after": "2026-03-02", "connected_on_before": "2026-03-02"}
    )

    assert names(response) == ["conn-00001"]
    assert "From is after To" not in response.content.decode()


def test_a_reversed_range_says_so_instead_of_an_empty_list(alice_client, connection_a):
    page = alice_client.get(
        LIST, {"connected_on_after": "2026-03-05", "connected_on_before": "2026-03-03"}
    ).content.decode()

    assert "From is after To." in page
    assert "match the filters" not in page and "No connections match" not in page


def test_search_matches_the_service_account(alice_client, alice, workspace_a):
    make_connection(
        workspace_a, alice, name="Loader", info=key_info(email="loader@p-1.iam.gserviceaccount.com")
    )
    make_connection(workspace_a, alice, name="Other")

    response = alice_client.get(LIST, {"q": "LOADER@p-1"})

    assert names(response) == ["Loader"]


def test_sorting_by_a_column(alice_client, alice, workspace_a):
    seed(workspace_a, [alice], 5)

    ascending = names(alice_client.get(LIST, {"sort": "name"}))
    descending = names(alice_client.get(LIST, {"sort": "-name"}))

    assert ascending == sorted(ascending)
    assert descending == ascending[::-1]


def test_pagination_keeps_the_filters(alice_client, alice, bob, workspace_a):
    seed(workspace_a, [alice, bob], 120)

    first = alice_client.get(LIST, {"connected_by": alice.pk})
    assert "60 connections match" in first.content.decode()
    assert f"?connected_by={alice.pk}&amp;page=2" in first.content.decode()
    second = alice_client.get(LIST, {"connected_by": alice.pk, "page": 2})
    assert len(names(second)) == 25
    assert set(names(first)).isdisjoint(names(second))


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"connected_on_after": "not-a-date"},
            "Connected On: Enter the date as YYYY-MM-DD, e.g. 2026-03-05.",
        ),
        (
            {"connected_on_after": "2026-03-05", "connected_on_before": "2026-03-03"},
            "Connected On: From is after To. Choose a From date on or before the To date.",
        ),
        (
            {"connected_by": "999999"},
            "Connected By: Choose Connected By from the list: only this workspace&#x27;s members",
        ),
        ({"connected_by": "' OR 1=1 --"}, "Connected By: Choose Connected By from the list"),
        ({"status": "<script>"}, "Status: Choose a status from the list."),
        ({"sort": "encrypted_key"}, "Sort: Choose a column to sort by from the list."),
        ({"q": "x" * 201}, "Search: Ensure this value has at most 200 characters"),
    ],
)
def test_bad_filter_values_show_a_message_and_no_rows(alice_client, connection_a, params, message):
    response = alice_client.get(LIST, params)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert names(response) == []
    assert "<script>" not in response.content.decode()


def test_hostile_search_text_is_escaped_and_harmless(alice_client, connection_a):
    response = alice_client.get(LIST, {"q": "<img src=x onerror=alert(1)>' OR '1'='1"})

    assert response.status_code == 200
    assert "<img src=x" not in response.content.decode()
    assert names(response) == []


def test_a_user_from_another_workspace_cannot_be_used_as_a_filter(
    alice_client, charlie, connection_a
):
    response = alice_client.get(LIST, {"connected_by": charlie.pk})

    assert "Choose Connected By from the list" in response.content.decode()
    assert "charlie@globex.test" not in response.content.decode()


def test_the_query_count_does_not_grow_with_rows(alice_client, alice, bob, workspace_a):
    # Counted at once: the next request's start empties the connection's query log.
    seed(workspace_a, [alice, bob], 3)
    with CaptureQueriesContext(db_connection) as queries:
        alice_client.get(LIST, {"sort": "connected_by"})
    few = len(queries)
    seed(workspace_a, [alice, bob], 300, start=timezone.now(), prefix="more")
    with CaptureQueriesContext(db_connection) as queries:
        alice_client.get(LIST, {"sort": "connected_by"})
    many = len(queries)
    with CaptureQueriesContext(db_connection) as queries:
        deep = alice_client.get(LIST, {"sort": "connected_by", "page": 7})

    assert many == few
    # past the first page: the page's keys, then its rows by key
    assert len(queries) == few + 1
    assert len(deep.context["page"].object_list) == 25


def test_members_see_the_list_without_add_database(bob_client, connection_a):
    page = bob_client.get(LIST).content.decode()

    assert "Warehouse" in page
    assert "Add Database</a>" not in page  # Before you start may still name the button
    assert "Create Import</a>" not in page


def test_the_empty_state_offers_add_database(alice_client):
    page = alice_client.get(LIST).content.decode()

    assert "No connections yet" in page
    assert 'href="/w/acme/settings/partners/bigquery/add/"' in page


def test_make_connection_helper_sets_connected_by(alice, workspace_a):
    assert make_connection(workspace_a, alice).created_by == alice


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"connected_on_after": "2026-03-04"}, ["conn-00003", "conn-00004"]),
        ({"connected_on_before": "2026-03-02"}, ["conn-00000", "conn-00001"]),
    ],
)
def test_a_connected_on_range_may_be_open_at_either_end(
    alice_client, alice, workspace_a, params, expected
):
    seed(workspace_a, [alice], 5, start=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))

    response = alice_client.get(LIST, params)

    assert response.status_code == 200
    assert sorted(names(response)) == expected
    assert "Connected On:" not in response.content.decode()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("  conn-00003  ", ["conn-00003"]),  # the name, typed with spaces around it
        ("PROJECT-002", ["conn-00002", "conn-00009"]),
        ("ds_11", ["conn-00011"]),
        ("   ", [f"conn-{i:05d}" for i in range(12)]),  # blank: no search
    ],
)
def test_search_matches_the_name_the_project_or_the_dataset(
    alice_client, alice, workspace_a, q, expected
):
    seed(workspace_a, [alice], 12)

    assert sorted(names(alice_client.get(LIST, {"q": q}))) == expected


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("project", lambda c: c.project_id),
        ("-dataset", lambda c: c.dataset_id),
        ("status", lambda c: c.status),
        ("connected_on", lambda c: c.created_at),
        ("-connected_by", lambda c: c.created_by.username),
    ],
)
def test_each_column_sorts_the_list(alice_client, alice, bob, workspace_a, sort, value):
    seed(workspace_a, [alice, bob], 9)
    Connection.objects.filter(name__in=["conn-00002", "conn-00005"]).update(status="failing")
    Connection.objects.filter(name="conn-00007").update(status="ok")

    rows = alice_client.get(LIST, {"sort": sort}).context["page"].object_list

    every = [value(c) for c in Connection.objects.filter(workspace=workspace_a)]
    assert [value(c) for c in rows] == sorted(every, reverse=sort.startswith("-"))


def test_filter_by_status(alice_client, alice, workspace_a):
    seed(workspace_a, [alice], 4)
    Connection.objects.filter(name="conn-00001").update(status="failing")
    Connection.objects.filter(name="conn-00003").update(status="ok")

    assert names(alice_client.get(LIST, {"status": "failing"})) == ["conn-00001"]
    assert names(alice_client.get(LIST, {"status": "ok"})) == ["conn-00003"]
