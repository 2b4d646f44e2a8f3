import datetime as dt
import html
import re
import uuid
from urllib.parse import parse_qsl

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from audience.models import Event, Profile
from common import pagination

PROFILES = "/w/acme/audience/profiles/"
EVENTS = "/w/acme/audience/events/"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def add_profiles(workspace, count, prefix="user", start=T0, **properties):
    Profile.objects.bulk_create(
        Profile(
            workspace=workspace,
            identity=f"{prefix}-{i:03d}",
            properties={"plan": "pro", "n": i, **properties},
            first_seen=start,
            last_seen=start + dt.timedelta(minutes=i),
        )
        for i in range(count)
    )


def add_events(workspace, count, prefix="user", name="purchase"):
    Event.objects.bulk_create(
        Event(
            workspace=workspace,
            identity=f"{prefix}-{i % 3}",
            name=name,
            timestamp=T0 + dt.timedelta(seconds=i),
            properties={"amount": i},
            dedupe_key=uuid.uuid4(),
        )
        for i in range(count)
    )


def identities(response):
    return [row.identity for row in response.context["page"].object_list]


def test_profiles_newest_first_with_a_properties_summary(alice_client, workspace_a):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    add_profiles(workspace_a, 3, country="DE", email="a@example.com", city="Berlin")

    response = alice_client.get(PROFILES)

    assert identities(response) == ["user-002", "user-001", "user-000"]
    page = response.content.decode()
    assert "city=Berlin, country=DE, email=a@example.com, n=2, +1 more" in page
    assert "Mar 1, 2026 13:00" in page  # first seen in the workspace's zone
    assert "Mar 1, 2026 13:02" in page  # last seen
    assert "First seen (Europe/Berlin)" in page
    assert "3 profiles, newest first" in page
    assert f'href="{EVENTS}?identity=user-002"' in page


def test_profiles_search_by_identity_prefix(alice_client, workspace_a):
    add_profiles(workspace_a, 3)
    add_profiles(workspace_a, 2, prefix="admin")

    with CaptureQueriesContext(db_connection) as queries:
        response = alice_client.get(PROFILES, {"q": " admin "})

    assert identities(response) == ["admin-001", "admin-000"]
    # Found: no query looks for an identity that is exactly the search.
    assert not [q for q in queries.captured_queries if "\"identity\" = 'admin'" in q["sql"]]
    assert "whose identity starts with “admin”" in response.content.decode()
    nothing = alice_client.get(PROFILES, {"q": "<script>x"})
    assert identities(nothing) == []
    assert "No profiles match “&lt;script&gt;x”" in nothing.content.decode()


def test_a_search_matches_letter_case_as_stored(alice_client, workspace_a):
    add_profiles(workspace_a, 2, prefix="Admin")
    add_profiles(workspace_a, 1, prefix="admin")

    response = alice_client.get(PROFILES, {"q": "Admin"})

    assert identities(response) == ["Admin-001", "Admin-000"]


@pytest.mark.parametrize("field", ["q", "identity"])
def test_a_search_longer_than_any_identity_is_cut_to_the_longest(alice_client, workspace_a, field):
    add_profiles(workspace_a, 1)

    response = alice_client.get(PROFILES, {field: "x" * 1024 + "yz"})

    assert response.status_code == 200
    assert response.context["search" if field == "q" else "identity"] == "x" * 1024
    assert "x" * 1024 + "y" not in response.content.decode()


@pytest.mark.parametrize("field", ["q", "identity"])
@pytest.mark.parametrize("address", [PROFILES, EVENTS])
def test_a_nul_byte_in_a_search_finds_nothing_instead_of_failing(
    alice_client, workspace_a, address, field
):
    add_profiles(workspace_a, 2)
    add_events(workspace_a, 2)

    response = alice_client.get(address, {field: "user\x00"})

    assert response.status_code == 200
    assert identities(response) == []


def link(response, label: str) -> dict[str, str]:
    """The query of the page's `label` link (Older, Newer)."""
    match = re.search(rf'<a href="\?([^"]*)">(?:&larr; )?{label}', response.content.decode())
    assert match, f"no {label} link"
    return dict(parse_qsl(html.unescape(match.group(1))))


def test_profiles_are_paged_by_position_without_counting_the_table(alice_client, workspace_a):
    add_profiles(workspace_a, 120)

    first = alice_client.get(PROFILES)
    second = alice_client.get(PROFILES, link(first, "Older"))
    third = alice_client.get(PROFILES, link(second, "Older"))
    back = alice_client.get(PROFILES, link(third, "Newer"))

    assert identities(first) == [f"user-{i:03d}" for i in range(119, 69, -1)]
    assert "Profiles 1–50, newest first" in first.content.decode()
    assert "Newer" not in first.content.decode()
    assert "Profiles 101–120, newest first" in third.content.decode()
    assert identities(third) == [f"user-{i:03d}" for i in range(19, -1, -1)]
    assert "Older" not in third.content.decode()
    assert identities(back) == identities(second)
    assert "Profiles 51–100, newest first" in back.content.decode()
    assert identities(alice_client.get(PROFILES, link(back, "Newer"))) == identities(first)


def test_a_deep_page_costs_what_the_first_one_costs(alice_client, workspace_a):
    """Each page is found from the previous one's last row: the same queries, none with an
    OFFSET or a COUNT, however deep."""
    add_profiles(workspace_a, 260)
    response = alice_client.get(PROFILES)
    pages = []
    for _ in range(5):
        query = link(response, "Older")
        with CaptureQueriesContext(db_connection) as queries:
            response = alice_client.get(PROFILES, query)
        pages.append([q["sql"] for q in queries.captured_queries])

    assert identities(response)[-1] == "user-000"
    assert all(pages) and len({len(sqls) for sqls in pages}) == 1
    for sqls in pages:
        assert not any(re.search(r"\b(OFFSET|COUNT)\b", sql.upper()) for sql in sqls)


def test_a_search_reads_a_bounded_stretch_of_the_list_per_page(
    alice_client, workspace_a, monkeypatch
):
    monkeypatch.setattr(pagination, "SEARCH_SCAN_ROWS", 40)
    add_profiles(workspace_a, 100)  # user-000 … user-099, the newest last
    add_profiles(workspace_a, 2, prefix="rare", start=T0 - dt.timedelta(days=1))  # the oldest

    first = alice_client.get(PROFILES, {"q": "rare"})
    with CaptureQueriesContext(db_connection) as queries:
        second = alice_client.get(PROFILES, link(first, "search older profiles"))
    # (read before the next request: Django empties the query log when one starts)
    sqls = [q["sql"] for q in queries.captured_queries]
    third = alice_client.get(PROFILES, link(second, "search older profiles"))

    assert identities(first) == [] and identities(second) == []
    assert "None of the 40 profiles looked through has an identity that starts with it" in (
        first.content.decode()
    )
    assert "No profiles match “rare”</h2>" not in first.content.decode()  # not all read yet
    assert 'id="exact-identity"' not in first.content.decode()  # no identity is just "rare"
    assert identities(third) == ["rare-001", "rare-000"]
    assert "search older" not in third.content.decode()
    # A page reads at most 40 rows of the list (its scan is LIMITed) and looks up the 40th.
    assert any("LIMIT 40" in sql for sql in sqls)
    assert [int(n) for sql in sqls for n in re.findall(r"OFFSET (\d+)", sql)] == [39]


@pytest.mark.parametrize(
    "position",
    ["abc", "-4", "0", "99999999999999999999999.1.0", "1.99999999999999999999.0", "1.2", "1.2.3.4"],
)
def test_odd_positions_are_harmless(alice_client, workspace_a, position):
    add_profiles(workspace_a, 2)

    for direction in ("older", "newer"):
        response = alice_client.get(PROFILES, {direction: position})
        assert response.status_code == 200
        assert identities(response) == ["user-001", "user-000"]


def test_events_newest_first_and_search(alice_client, workspace_a):
    add_events(workspace_a, 6)
    add_events(workspace_a, 2, prefix="guest", name="signup")

    everything = alice_client.get(EVENTS)
    users = alice_client.get(EVENTS, {"q": "user-1"})

    rows = everything.context["page"].object_list
    assert [e.timestamp for e in rows] == sorted((e.timestamp for e in rows), reverse=True)
    assert len(rows) == 8
    assert [(e.identity, e.properties["amount"]) for e in users.context["page"].object_list] == [
        ("user-1", 4),
        ("user-1", 1),
    ]
    page = everything.content.decode()
    assert "signup" in page
    assert "amount=5" in page
    assert "Mar 1, 2026 12:00:05" in page


def test_audience_pages_are_workspace_scoped(alice_client, workspace_a, workspace_b, charlie):
    add_profiles(workspace_a, 2, prefix="acme")
    add_profiles(workspace_b, 2, prefix="globex")
    add_events(workspace_a, 2, prefix="acme")
    add_events(workspace_b, 2, prefix="globex")

    assert all(i.startswith("acme") for i in identities(alice_client.get(PROFILES)))
    assert all(i.startswith("acme") for i in identities(alice_client.get(EVENTS)))
    assert identities(alice_client.get(PROFILES, {"q": "globex"})) == []
    assert "globex" not in alice_client.get(EVENTS).content.decode()


def test_another_workspace_is_404(charlie_client, workspace_a):
    add_profiles(workspace_a, 1)

    for url in (PROFILES, EVENTS, "/w/acme/audience/"):
        assert charlie_client.get(url).status_code == 404, url


def test_members_may_browse(bob_client, workspace_a):
    add_profiles(workspace_a, 1)

    assert bob_client.get(PROFILES).status_code == 200
    assert bob_client.get(EVENTS).status_code == 200
    assert bob_client.get("/w/acme/audience/")["Location"] == PROFILES


def test_empty_states(alice_client, workspace_a):
    assert "No profiles yet" in alice_client.get(PROFILES).content.decode()
    assert "No events yet" in alice_client.get(EVENTS).content.decode()
    past_the_end = {"older": "1772366400000000.1.50"}
    assert "No more profiles" in alice_client.get(PROFILES, past_the_end).content.decode()


def test_the_side_navigation_marks_the_page(alice_client, workspace_a):
    page = alice_client.get(EVENTS).content.decode()

    assert f'href="{EVENTS}" class="active">Events' in page
    assert f'href="{PROFILES}" class="">Profiles' in page


def test_a_profiles_events_are_found_however_old_they_are(alice_client, workspace_a, monkeypatch):
    """A profile's Events link lists that identity's events through the identity index, not
    a stretch of the newest rows (a customer's oldest profile was 9 pages away); a prefix
    search that finds nothing in its stretch offers the identity that is exactly it."""
    monkeypatch.setattr(pagination, "SEARCH_SCAN_ROWS", 40)
    add_profiles(workspace_a, 2, prefix="rare", start=T0 - dt.timedelta(days=1))  # the oldest
    add_profiles(workspace_a, 100)
    Event.objects.bulk_create(
        Event(
            workspace=workspace_a, identity="rare-000", name="signup",
            timestamp=T0 - dt.timedelta(days=1, seconds=i), properties={}, dedupe_key=uuid.uuid4(),
        )
        for i in range(3)
    )  # fmt: skip
    add_events(workspace_a, 100)

    searched = alice_client.get(PROFILES, {"q": "rare-000"})
    offered = re.search(r'id="exact-identity"><a href="\?([^"]*)"', searched.content.decode())
    profile = alice_client.get(PROFILES, dict(parse_qsl(html.unescape(offered.group(1)))))
    link = re.search(r'href="/w/acme/audience/events/\?([^"]*)"', profile.content.decode())
    events = alice_client.get(EVENTS, dict(parse_qsl(html.unescape(link.group(1)))))
    nobody = alice_client.get(EVENTS, {"identity": "rare-00"})

    assert identities(searched) == []
    assert "No profiles match “rare-000” among these" in searched.content.decode()
    assert identities(profile) == ["rare-000"]
    assert "1 profile of identity “rare-000”" in profile.content.decode()
    assert identities(events) == ["rare-000"] * 3
    assert "3 events of identity “rare-000”" in events.content.decode()
    assert identities(nobody) == []
    assert "No events of identity “rare-00”" in nobody.content.decode()


def test_a_prefix_search_stays_a_prefix_search_when_an_identity_is_exactly_it(
    alice_client, workspace_a
):
    add_profiles(workspace_a, 3, prefix="u1")  # u1-000, u1-001, u1-002
    Profile.objects.create(workspace=workspace_a, identity="u1", first_seen=T0, last_seen=T0)

    response = alice_client.get(PROFILES, {"q": "u1"})

    assert sorted(identities(response)) == ["u1", "u1-000", "u1-001", "u1-002"]
