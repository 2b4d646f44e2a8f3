"""GET connections (the dashboard's filters, ordering, cursor pages), one connection (never
its key), and Test Connection through the API against the Google stand-ins."""

import datetime as dt

from django.core.cache import cache
from django.utils import timezone

from common.ratelimit import SLOTS
from connections.models import Connection
from connections.services import TEST_CONNECTION_WINDOW
from tests.api.conftest import API, ApiClient, error_of, make_token
from tests.connections.conftest import make_connection
from tests.connections.test_list import seed
from tests.factories import key_info, pem_lines
from tests.security.needles import key_leaks

TEST_RATE_LIMIT = TEST_CONNECTION_WINDOW.limit
LIST = f"{API}/acme/connections/"


def every_page(api, url, params=None) -> list[dict]:
    """Follow `next` to the end; returns every row."""
    rows = []
    response = api.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        rows += body["results"]
        if not body["next"]:
            return rows
        response = api.get(body["next"])


def test_the_list_is_the_workspaces_connections_newest_first(
    alice_api, alice, workspace_a, workspace_b, charlie
):
    seed(workspace_a, [alice], 5)
    make_connection(workspace_b, charlie, name="Globex warehouse")

    rows = every_page(alice_api, LIST)

    assert [r["name"] for r in rows] == [f"conn-{i:05d}" for i in reversed(range(5))]
    first = rows[0]
    assert first["connected_by"] == {"id": alice.pk, "email": "alice@acme.test"}
    assert first["url"] == f"http://testserver{LIST}{first['id']}/"
    assert first["connected_on"].endswith("Z")


def test_cursor_pages_cover_every_row_once_in_order(alice_api, alice, bob, workspace_a):
    seed(workspace_a, [alice, bob], 23)

    rows = every_page(alice_api, LIST, {"page_size": 5, "ordering": "name"})

    assert [r["name"] for r in rows] == [f"conn-{i:05d}" for i in range(23)]


def test_ordering_by_a_column_with_ties_still_pages_every_row_once(alice_api, alice, workspace_a):
    seed(workspace_a, [alice], 20)  # seven projects, many ties

    rows = every_page(alice_api, LIST, {"page_size": 3, "ordering": "-project"})

    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
    projects = [r["project_id"] for r in rows]
    assert projects == sorted(projects, reverse=True)


def test_ordering_by_connected_by(alice_api, alice, bob, workspace_a):
    seed(workspace_a, [bob, alice], 4)

    rows = every_page(alice_api, LIST, {"ordering": "connected_by", "page_size": 1})

    assert [r["connected_by"]["email"] for r in rows] == [
        "alice@acme.test",
        "alice@acme.test",
        "bob@acme.test",
        "bob@acme.test",
    ]


def test_filters_connected_by_and_search_combine(alice_api, alice, bob, workspace_a):
    seed(workspace_a, [alice, bob], 30)

    rows = every_page(alice_api, LIST, {"connected_by": alice.pk, "search": "project-001"})

    expected = sorted(f"conn-{i:05d}" for i in range(30) if i % 7 == 1 and i % 2 == 0)
    assert sorted(r["name"] for r in rows) == expected


def test_connected_on_range_is_inclusive_in_the_workspace_zone(alice_api, alice, workspace_a):
    workspace_a.time_zone = "America/New_York"
    workspace_a.save()
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    seed(workspace_a, [alice], 10, start=start)

    rows = every_page(
        alice_api, LIST, {"connected_on_after": "2026-03-03", "connected_on_before": "2026-03-05"}
    )

    assert sorted(r["name"] for r in rows) == ["conn-00002", "conn-00003", "conn-00004"]


def test_filter_by_status_and_a_status_not_offered_is_refused(alice_api, alice, workspace_a):
    seed(workspace_a, [alice], 4)
    Connection.objects.filter(name__in=["conn-00001", "conn-00003"]).update(
        status=Connection.Status.FAILING
    )

    failing = every_page(alice_api, LIST, {"status": "failing"})
    unknown = alice_api.get(LIST, {"status": "broken"})

    assert sorted(r["name"] for r in failing) == ["conn-00001", "conn-00003"]
    assert {r["status"] for r in failing} == {"failing"}
    assert unknown.status_code == 400
    assert "status" in error_of(unknown)["fields"]


def test_another_workspaces_user_cannot_be_a_filter(alice_api, alice, charlie, workspace_a):
    seed(workspace_a, [alice], 2)

    response = alice_api.get(LIST, {"connected_by": charlie.pk})

    assert response.status_code == 400
    assert "connected_by" in error_of(response)["fields"]


def test_the_detail_shows_the_service_account_and_key_id_never_the_key(
    bob_api, alice, workspace_a, saved_key
):
    connection = make_connection(workspace_a, alice, info=saved_key)

    response = bob_api.get(f"{LIST}{connection.pk}/")

    body = response.json()
    assert response.status_code == 200
    assert body["service_account"] == saved_key["client_email"]
    assert body["key_id"] == saved_key["private_key_id"]
    assert body["last_test"] is None
    text = response.content.decode()
    assert key_leaks(text, saved_key) == []
    assert connection.encrypted_key not in text
    assert not any(line in text for line in pem_lines(saved_key))
    assert 'private_key"' not in text and "encrypted" not in text


def test_test_connection_runs_the_checks_and_stores_the_result(alice, workspace_a, google):
    cache.clear()
    connection = make_connection(
        workspace_a,
        alice,
        info=google.key.info,
        project_id=google.project,
        dataset_id=google.dataset,
    )
    api = ApiClient(make_token(alice, workspace_a, "run"))

    response = api.post(f"{LIST}{connection.pk}/test/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"]["ok"] is True
    assert [c["status"] for c in body["result"]["checks"]] == ["pass"] * 6 + ["warning"]
    assert body["connection"]["status"] == "ok"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.last_tested_at is not None
    assert connection.last_test_result["ok"] is True
    detail = api.get(f"{LIST}{connection.pk}/").json()
    assert detail["last_test"]["summary"].startswith(
        "Passed with a warning. BigQuery Read Session User: "
    )
    assert key_leaks(response.content, google.key.info) == []


def test_test_connection_reports_a_failure_as_the_page_does(alice, workspace_a, google):
    cache.clear()
    connection = make_connection(
        workspace_a,
        alice,
        info=google.key.info,
        project_id=google.project,
        dataset_id="no_such_dataset",
    )
    api = ApiClient(make_token(alice, workspace_a, "run"))

    body = api.post(f"{LIST}{connection.pk}/test/").json()

    assert body["result"]["ok"] is False
    dataset = next(c for c in body["result"]["checks"] if c["id"] == "dataset")
    assert dataset["status"] == "fail" and dataset["fix"]
    assert body["connection"]["status"] == "failing"


def test_test_connection_shares_the_pages_rate_limit(alice, alice_client, workspace_a, settings):
    cache.clear()
    settings.CONNECTION_TEST_DEADLINE_SECONDS = 5
    connection = make_connection(workspace_a, alice)  # Google is never reached: refused first
    api = ApiClient(make_token(alice, workspace_a, "run"))
    from connections.services import connection_test_allowed

    for _ in range(TEST_RATE_LIMIT):
        assert connection_test_allowed(user=alice)  # what the page counts, used up
    before = Connection.objects.values("status", "last_tested_at").get()

    response = api.post(f"{LIST}{connection.pk}/test/")

    assert response.status_code == 429
    # when the tests just counted leave the window: a minute and at most one slot after now
    assert 1 <= int(response["Retry-After"]) <= 60 + 60 // SLOTS
    error = error_of(response)
    assert error["code"] == "connection_test_throttled"
    assert f"more than {TEST_RATE_LIMIT} times in a minute" in error["message"]
    assert Connection.objects.values("status", "last_tested_at").get() == before


def test_test_connection_needs_the_run_scope_and_an_admin(alice, bob, workspace_a):
    connection = make_connection(workspace_a, alice)
    for api in (
        ApiClient(make_token(alice, workspace_a, "read")),
        ApiClient(make_token(bob, workspace_a, "read")),
    ):
        response = api.post(f"{LIST}{connection.pk}/test/")
        assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.last_tested_at is None


def test_the_list_answers_in_three_queries(
    alice_api, alice, bob, workspace_a, django_assert_num_queries
):
    seed(workspace_a, [alice, bob], 60)
    alice_api.get(LIST)  # the token's last use is written on the first request of the minute

    # the token with its owner's role, the Connected By user, the page
    with django_assert_num_queries(3):
        response = alice_api.get(LIST, {"page_size": 50, "connected_by": bob.pk})

    assert len(response.json()["results"]) == 30


def test_the_detail_shows_the_advanced_fields(bob_api, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    Connection.objects.filter(pk=connection.pk).update(
        billing_project_id="acme-billing",
        scratch_dataset_id="runs_tmp",
        maximum_bytes_billed=10**11,
    )

    body = bob_api.get(f"{LIST}{connection.pk}/").json()

    assert body["billing_project_id"] == "acme-billing"
    assert body["scratch_dataset_id"] == "runs_tmp"
    assert body["scratch_kms_key_name"] == ""
    assert body["maximum_bytes_billed"] == 10**11


def test_the_detail_keeps_its_dates_apart_in_utc_and_shows_the_keys_own_project(
    bob_api, alice, workspace_a
):
    workspace_a.time_zone = "America/New_York"
    workspace_a.save()
    info = key_info(project_id="key-home-project")
    connection = make_connection(workspace_a, alice, info=info, project_id="analytics-prod")
    created = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    updated = dt.datetime(2026, 3, 2, 4, 15, tzinfo=dt.UTC)
    Connection.objects.filter(pk=connection.pk).update(created_at=created, updated_at=updated)

    body = bob_api.get(f"{LIST}{connection.pk}/").json()

    assert (body["project_id"], body["key_project_id"]) == ("analytics-prod", "key-home-project")
    assert body["connected_on"] == "2026-03-01T23:30:00Z"
    assert body["updated_at"] == "2026-03-02T04:15:00Z"


def test_ordering_by_connected_on_is_by_creation_not_by_last_change(alice_api, alice, workspace_a):
    seed(workspace_a, [alice], 4)
    for n, connection in enumerate(Connection.objects.order_by("created_at")):
        changed = dt.datetime(2026, 1, 10 - n, tzinfo=dt.UTC)  # the oldest changed last
        Connection.objects.filter(pk=connection.pk).update(updated_at=changed)

    rows = every_page(alice_api, LIST, {"ordering": "connected_on", "page_size": 2})

    assert [r["name"] for r in rows] == [f"conn-{i:05d}" for i in range(4)]


def test_the_lists_errors_name_the_parameters_sent_and_the_pages_sort_is_ignored(
    alice_api, alice, workspace_a
):
    seed(workspace_a, [alice], 3)

    too_long = alice_api.get(LIST, {"search": "x" * 201})
    sorted_anyway = alice_api.get(LIST, {"sort": "no-such-column"})

    assert too_long.status_code == 400
    assert list(error_of(too_long)["fields"]) == ["search"]
    assert sorted_anyway.status_code == 200
    assert [r["name"] for r in sorted_anyway.json()["results"]] == [
        "conn-00002", "conn-00001", "conn-00000",
    ]  # fmt: skip


def test_a_refused_test_connection_says_when_the_next_one_fits(
    alice, workspace_a, settings, time_machine
):
    from connections.services import connection_test_allowed

    cache.clear()
    time_machine.move_to(dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC), tick=False)
    connection = make_connection(workspace_a, alice)
    api = ApiClient(make_token(alice, workspace_a, "run"))
    for _ in range(TEST_RATE_LIMIT):
        assert connection_test_allowed(user=alice)

    time_machine.move_to(dt.datetime(2026, 5, 1, 12, 0, 30, tzinfo=dt.UTC), tick=False)
    response = api.post(f"{LIST}{connection.pk}/test/")

    assert response.status_code == 429
    assert response["Retry-After"] == "35"  # the slot of 12:00:00-12:00:05 leaves at 12:01:05


def test_a_leading_minus_reverses_the_order_ties_included(alice_api, alice, workspace_a):
    seed(workspace_a, [alice], 12)  # seven projects: most share theirs with another

    ascending = every_page(alice_api, LIST, {"ordering": "project", "page_size": 5})
    descending = every_page(alice_api, LIST, {"ordering": "-project", "page_size": 5})

    assert [r["id"] for r in descending] == [r["id"] for r in reversed(ascending)]


def test_ordering_by_connected_by_puts_connections_without_a_creator_first(
    alice_api, alice, bob, workspace_a
):
    seed(workspace_a, [None, bob, alice], 6)  # None: the creator's account was deleted

    rows = every_page(alice_api, LIST, {"ordering": "connected_by", "page_size": 1})
    backwards = every_page(alice_api, LIST, {"ordering": "-connected_by", "page_size": 1})

    assert [r["connected_by"] and r["connected_by"]["email"] for r in rows] == [
        None, None, "alice@acme.test", "alice@acme.test", "bob@acme.test", "bob@acme.test",
    ]  # fmt: skip
    assert [r["id"] for r in backwards] == [r["id"] for r in reversed(rows)]


def test_a_request_leaves_the_workspaces_zone_behind(alice_api, workspace_a, settings):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()

    assert alice_api.get(LIST).status_code == 200
    assert alice_api.get(f"{LIST}00000000-0000-0000-0000-000000000000/").status_code == 404

    # The next request this thread serves, a page outside any workspace included, starts
    # from the server's zone.
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_the_detail_answers_in_two_queries(bob_api, alice, workspace_a, django_assert_num_queries):
    connection = make_connection(workspace_a, alice)
    bob_api.get(LIST)  # the token's last use is written on the first request of the minute

    # the token with its owner's role, the connection with who connected it
    with django_assert_num_queries(2):
        body = bob_api.get(f"{LIST}{connection.pk}/").json()

    assert body["connected_by"] == {"id": alice.pk, "email": "alice@acme.test"}


def test_connections_connected_at_the_same_moment_are_listed_by_id_newest_first(
    alice_api, alice, workspace_a
):
    seed(workspace_a, [alice], 6)
    Connection.objects.update(created_at=dt.datetime(2026, 5, 4, 22, 0, tzinfo=dt.UTC))

    rows = every_page(alice_api, LIST, {"page_size": 2})

    expected = Connection.objects.order_by("-pk").values_list("pk", flat=True)
    assert [r["id"] for r in rows] == [str(pk) for pk in expected]


def test_a_connection_answers_every_documented_field(bob_api, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    tested = dt.datetime(2026, 3, 2, 4, 15, tzinfo=dt.UTC)
    Connection.objects.filter(pk=connection.pk).update(
        location="EU",
        status=Connection.Status.FAILING,
        status_reason="The dataset was not found.",
        last_tested_at=tested,
        maximum_bytes_billed=10**12,
    )

    listed = bob_api.get(LIST).json()["results"][0]
    detail = bob_api.get(f"{LIST}{connection.pk}/")
    body = detail.json()

    fields = {
        "id", "url", "name", "project_id", "dataset_id", "service_account", "key_id",
        "key_project_id", "location", "billing_project_id", "scratch_dataset_id",
        "scratch_kms_key_name", "maximum_bytes_billed", "status", "status_reason",
        "last_tested_at", "connected_on", "connected_by", "updated_at",
    }  # fmt: skip
    assert set(listed) == fields and set(body) == fields | {"last_test"}
    assert (body["location"], body["status"]) == ("EU", "failing")
    assert body["status_reason"] == "The dataset was not found."
    assert body["last_tested_at"] == "2026-03-02T04:15:00Z"
    assert '"maximum_bytes_billed":1000000000000,' in detail.content.decode()  # a whole number
