"""The workspace's Audit log page: every entry, filters by actor, action and date range, the
time with its zone, pages by key, and a streamed CSV export of the filtered entries."""

import csv
import datetime as dt
import io

import pytest

from connections.services import connection_update
from imports.services import import_pause
from tests.connections.conftest import make_connection
from tests.imports.test_pages import add_import
from workspaces.audit_views import PAGE_SIZE
from workspaces.models import AuditEntry, Membership

AUDIT = "/w/acme/audit/"
CSV = "/w/acme/audit/export.csv"


def entry(workspace, actor, action, when, label="Warehouse", **details):
    row = AuditEntry.objects.create(
        workspace=workspace,
        actor=actor,
        action=action,
        target_type=action.split(".")[0],
        target_id="1",
        target_label=label,
        details=details,
    )
    AuditEntry.objects.filter(pk=row.pk).update(created_at=when)
    return row


def labels(response) -> list[str]:
    return [e.target_label for e in response.context["page"].object_list]


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_log_shows_what_the_services_recorded(alice_client, alice, workspace_a):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    connection = make_connection(workspace_a, alice, name="Warehouse")
    connection_update(
        connection=connection,
        actor=alice,
        name="Main warehouse",
        project_id=connection.project_id,
        dataset_id="events_v3",
        key=None,
    )
    imp = add_import(workspace_a, connection, "Nightly", status="scheduled")
    import_pause(import_obj=imp, actor=alice)

    page = alice_client.get(AUDIT).content.decode()

    assert "When (Europe/Berlin)" in page
    assert "Connection added" in page and "Connection changed" in page
    assert "Import paused" in page and "Nightly" in page
    assert "name: Warehouse → Main warehouse; dataset id: events_v2 → events_v3" in page
    assert " CET<" in page or " CEST<" in page  # each time says its zone
    assert "alice@acme.test" in page


def test_the_time_is_shown_in_the_workspaces_zone(alice_client, alice, workspace_a):
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    entry(workspace_a, alice, "import.paused", dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC))

    page = alice_client.get(AUDIT).content.decode()

    assert "Mar 2, 2026 08:30:00 JST" in page


def test_times_in_the_details_read_as_the_pages_times(alice_client, alice, workspace_a):
    """A time a service recorded in the details (a token's or an invitation's end) is shown
    in the workspace's zone like the When column; text that only looks like one stays as
    written."""
    workspace_a.time_zone = "Asia/Tokyo"
    workspace_a.save()
    when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    entry(workspace_a, alice, "member.invited", when, expires_at="2026-03-04T15:30:00.5+00:00")
    entry(workspace_a, alice, "api_token.created", when, expires_at="2026-03-05T00:00:00Z")
    entry(workspace_a, alice, "import.paused", when, label="Odd", note="2026-13-45T10:00+00:00")

    page = alice_client.get(AUDIT).content.decode()

    assert "expires at: Mar 5, 2026 00:30 JST" in page
    assert "expires at: Mar 5, 2026 09:00 JST" in page
    assert "note: 2026-13-45T10:00+00:00" in page
    assert "2026-03-04T15:30" not in page


def test_filters_by_actor_action_and_date_range(alice_client, alice, bob, workspace_a):
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    entry(workspace_a, alice, "import.run_now", day, label="A")
    entry(workspace_a, bob, "import.run_now", day, label="B")
    entry(workspace_a, alice, "connection.created", day, label="C")
    entry(workspace_a, alice, "import.run_now", day - dt.timedelta(days=5), label="D")

    by_alice = alice_client.get(AUDIT, {"actor": alice.pk, "action": "import.run_now"})
    by_date = alice_client.get(AUDIT, {"date_after": "2026-03-09", "date_before": "2026-03-10"})

    assert sorted(labels(by_alice)) == ["A", "D"]
    assert sorted(labels(by_date)) == ["A", "B", "C"]
    assert "2 entries match the filters" in by_alice.content.decode()


def test_the_action_menu_offers_the_workspaces_actions_by_group(
    alice_client, alice, workspace_a, workspace_b, charlie
):
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    entry(workspace_a, alice, "import.run_now", day)
    entry(workspace_a, alice, "notification.webhook_added", day)
    entry(workspace_b, charlie, "connection.deleted", day)

    page = alice_client.get(AUDIT).content.decode()

    assert '<optgroup label="Import">' in page
    assert '<option value="import.run_now">Import run started (Run now)</option>' in page
    assert '<option value="notification.webhook_added">Notification webhook added</option>' in page
    assert "connection.deleted" not in page


def test_a_bad_filter_says_what_is_wrong_and_shows_nothing(alice_client, alice, workspace_a):
    entry(workspace_a, alice, "import.run_now", dt.datetime(2026, 3, 10, tzinfo=dt.UTC))

    reversed_range = alice_client.get(
        AUDIT, {"date_after": "2026-03-11", "date_before": "2026-03-01"}
    )
    unknown = alice_client.get(AUDIT, {"action": "import.explode"})

    assert reversed_range.status_code == 200
    assert "The From date is after the To date." in reversed_range.content.decode()
    assert labels(reversed_range) == []
    assert "Choose an action this log holds from the list." in unknown.content.decode()


def test_pages_by_key_keep_the_filters(alice_client, alice, workspace_a):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(PAGE_SIZE + 5):
        entry(workspace_a, alice, "import.run_now", start + dt.timedelta(minutes=n), label=f"e{n}")

    first = alice_client.get(AUDIT, {"action": "import.run_now"})
    second = alice_client.get(AUDIT, {"action": "import.run_now", "page": 2})

    assert len(labels(first)) == PAGE_SIZE and labels(first)[0] == f"e{PAGE_SIZE + 4}"
    assert labels(second) == ["e4", "e3", "e2", "e1", "e0"]
    assert "page=2" in first.content.decode() and "action=import.run_now" in first.content.decode()


def test_the_csv_export_has_every_filtered_entry_with_its_zone(
    alice_client, alice, bob, workspace_a
):
    workspace_a.time_zone = "America/New_York"
    workspace_a.save()
    start = dt.datetime(2026, 1, 1, 17, tzinfo=dt.UTC)
    for n in range(PAGE_SIZE + 5):  # more than a page: the export is not paged
        entry(workspace_a, alice, "import.run_now", start + dt.timedelta(minutes=n), label=f"e{n}")
    entry(workspace_a, bob, "import.run_now", start, label="by bob")
    entry(workspace_a, alice, "connection.created", start, label="=HYPERLINK(1)", project_id="-p")

    response = alice_client.get(CSV, {"actor": alice.pk, "action": "import.run_now"})
    everything = csv_rows(alice_client.get(CSV))

    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-acme-')
    assert response.streaming
    rows = csv_rows(response)
    assert len(rows) == PAGE_SIZE + 5
    assert rows[-1] == {
        "time": "2026-01-01T12:00:00-05:00",
        "time_zone": "America/New_York",
        "actor": "alice@acme.test",
        "action": "import.run_now",
        "action_label": "Import run started (Run now)",
        "target_type": "import",
        "target_id": "1",
        "target_label": "e0",
        "details": "{}",
    }
    formula = next(r for r in everything if r["action"] == "connection.created")
    assert formula["target_label"] == "'=HYPERLINK(1)"  # not run by a spreadsheet
    assert formula["details"] == '{"project_id":"-p"}'


def test_the_page_links_the_csv_with_the_same_filters(alice_client, alice):
    page = alice_client.get(AUDIT, {"actor": alice.pk, "page": 1}).content.decode()

    assert f'href="{CSV}?actor={alice.pk}"' in page


def test_a_csv_with_bad_filters_goes_back_to_the_page_that_explains(alice_client):
    response = alice_client.get(CSV, {"date_after": "soon"})

    assert response.status_code == 302
    assert response["Location"] == f"{AUDIT}?date_after=soon"


def test_members_may_not_see_the_audit_log(bob_client):
    assert bob_client.get(AUDIT).status_code == 403
    assert bob_client.get(CSV).status_code == 403


def test_the_sidebar_links_the_audit_log_for_admins_only(alice_client, bob_client):
    tokens = "/w/acme/settings/api-tokens/"
    assert f'href="{AUDIT}"' in alice_client.get(tokens).content.decode()
    member_page = bob_client.get(tokens).content.decode()
    assert f'href="{AUDIT}"' not in member_page
    assert f'href="{tokens}"' in member_page


def test_another_workspaces_entries_never_show(alice_client, charlie, workspace_b):
    entry(
        workspace_b,
        charlie,
        "connection.created",
        dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        label="Globex warehouse",
    )

    assert "Globex warehouse" not in alice_client.get(AUDIT).content.decode()
    assert "Globex warehouse" not in b"".join(alice_client.get(CSV).streaming_content).decode()


def test_the_actor_menu_names_no_one_from_another_workspace(
    alice_client, alice, workspace_a, charlie
):
    """Members of A, and whoever acted in A, only: the menu must not list another
    workspace's users (their addresses), nor take one as a filter."""
    entry(workspace_a, alice, "import.run_now", dt.datetime(2026, 3, 10, tzinfo=dt.UTC))

    page = alice_client.get(AUDIT).content.decode()
    by_charlie = alice_client.get(AUDIT, {"actor": charlie.pk})

    assert "alice@acme.test" in page
    assert "charlie@globex.test" not in page
    assert labels(by_charlie) == []
    assert "Choose an actor who acted in this workspace from the list." in (
        by_charlie.content.decode()
    )
    assert "charlie@globex.test" not in by_charlie.content.decode()


@pytest.mark.parametrize("count", [5, 120])
def test_the_page_costs_the_same_queries_however_long_the_log(
    alice_client, alice, workspace_a, count, django_assert_num_queries
):
    for n in range(count):
        entry(
            workspace_a,
            alice,
            "import.run_now",
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            label=f"e{n}",
        )
    # session, user, memberships, action menu, count, the page with its actors, actor menu
    with django_assert_num_queries(7):
        alice_client.get(AUDIT)


def test_a_deleted_accounts_entries_keep_its_name_and_the_systems_say_so(
    alice_client, alice, bob, workspace_a
):
    from workspaces.services import audit_record

    connection = make_connection(workspace_a, alice, name="Warehouse")
    audit_record(workspace=workspace_a, actor=bob, action="connection.tested", target=connection)
    audit_record(workspace=workspace_a, actor=None, action="connection.tested", target=connection)
    bob.delete()

    page = alice_client.get(AUDIT).content.decode()
    exported = csv_rows(alice_client.get(CSV))

    assert "<td>bob@acme.test (account deleted)</td>" in page
    assert "<td>The system</td>" in page
    assert "deleted user or the system" not in page
    assert {row["actor"] for row in exported} >= {"bob@acme.test", ""}


def test_entries_of_the_same_moment_are_newest_recorded_first(alice_client, alice, workspace_a):
    moment = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for name in ("first", "second", "third"):
        entry(workspace_a, alice, "import.run_now", moment, label=name)

    page = alice_client.get(AUDIT)
    exported = csv_rows(alice_client.get(CSV))

    assert labels(page) == ["third", "second", "first"]
    assert [row["target_label"] for row in exported] == ["third", "second", "first"]


def test_entries_are_ordered_by_when_they_happened_before_when_they_were_recorded(
    alice_client, alice, workspace_a
):
    # A transaction that began earlier may commit its entry after a later one.
    entry(
        workspace_a,
        alice,
        "import.run_now",
        dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC),
        label="noon",
    )
    entry(
        workspace_a,
        alice,
        "import.run_now",
        dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC),
        label="nine",
    )

    page = alice_client.get(AUDIT)
    exported = csv_rows(alice_client.get(CSV))

    assert labels(page) == ["noon", "nine"]
    assert [row["target_label"] for row in exported] == ["noon", "nine"]


def test_a_range_of_one_day_is_that_day(alice_client, alice, workspace_a):
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    entry(workspace_a, alice, "import.run_now", day, label="on the day")
    entry(workspace_a, alice, "import.run_now", day + dt.timedelta(days=1), label="after")

    response = alice_client.get(AUDIT, {"date_after": "2026-03-10", "date_before": "2026-03-10"})

    assert "The From date is after the To date." not in response.content.decode()
    assert labels(response) == ["on the day"]


def test_someone_who_acted_and_left_can_still_be_picked_as_the_actor(
    alice_client, alice, bob, workspace_a
):
    entry(workspace_a, bob, "import.paused", dt.datetime(2026, 3, 10, tzinfo=dt.UTC), label="B")
    entry(workspace_a, alice, "import.run_now", dt.datetime(2026, 3, 11, tzinfo=dt.UTC))
    Membership.objects.filter(user=bob).delete()

    response = alice_client.get(AUDIT, {"actor": bob.pk})

    assert f'<option value="{bob.pk}" selected>bob@acme.test</option>' in (
        response.content.decode()
    )
    assert labels(response) == ["B"]


def test_an_entry_keeps_a_long_label_cut_and_an_anonymous_actor_as_no_one(workspace_a):
    from django.contrib.auth.models import AnonymousUser

    from workspaces.services import audit_record

    recorded = audit_record(
        workspace=workspace_a,
        actor=AnonymousUser(),
        action="connection.created",
        target=("connection", "w" * 300),
    )

    recorded.refresh_from_db()
    assert (recorded.actor, recorded.actor_name) == (None, "")
    assert recorded.target_label == "w" * 255
