"""page_by_keys gives the pages Django's Paginator gives, with the rows fetched by key;
page_by_position walks a newest-first list both ways."""

import datetime as dt

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.test.utils import CaptureQueriesContext

from audience.models import Profile
from common import pagination
from common.pagination import EPOCH, Position, page_by_keys, page_by_position
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspaces():
    # Repeated names: the order's tie-break (pk) must hold across the two queries.
    Workspace.objects.bulk_create(
        Workspace(name=f"Team {i % 7}", slug=f"team-{i:03d}") for i in range(53)
    )
    return Workspace.objects.order_by("name", "pk")


@pytest.mark.parametrize("number", [None, "1", "2", "3", "6", "99", "last", "x", "-1"])
def test_same_pages_as_djangos_paginator(workspaces, number):
    expected = Paginator(workspaces, 10).get_page(number)
    page = page_by_keys(workspaces, number, 10)

    assert page.number == expected.number
    assert page.paginator.num_pages == 6
    assert [w.slug for w in page.object_list] == [w.slug for w in expected.object_list]
    assert (page.has_previous(), page.has_next()) == (expected.has_previous(), expected.has_next())


def test_a_deep_page_reads_its_rows_by_key(workspaces):
    with CaptureQueriesContext(connection) as queries:
        page = page_by_keys(workspaces, "4", 10)
        names = [w.name for w in page.object_list]

    assert len(names) == 10
    count, keys, rows = (q["sql"] for q in queries.captured_queries)
    assert "COUNT(*)" in count
    assert "OFFSET 30" in keys and '"workspaces_workspace"."name",' not in keys.split("FROM")[0]
    assert " IN (" in rows and "OFFSET" not in rows


class DeletesOneBeforeReading(QuerySet):
    """A list whose fourth row on the page is deleted after its keys were read."""

    def in_bulk(self, id_list=None, **kwargs):
        Workspace.objects.filter(pk=id_list[3]).delete()
        return super().in_bulk(id_list, **kwargs)


def test_a_row_deleted_between_the_queries_is_left_out(workspaces):
    expected = [w.slug for w in Paginator(workspaces, 10).get_page(2).object_list]

    page = page_by_keys(DeletesOneBeforeReading(Workspace).order_by("name", "pk"), 2, 10)

    assert [w.slug for w in page.object_list] == expected[:3] + expected[4:]


def ten_profiles():
    """user-0 … user-9, last seen a minute apart (user-9 the newest)."""
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    workspace = Workspace.objects.create(name="Acme", slug="acme")
    Profile.objects.bulk_create(
        Profile(
            workspace=workspace,
            identity=f"user-{minute}",
            first_seen=start,
            last_seen=start + dt.timedelta(minutes=minute),
        )
        for minute in range(10)
    )
    return Profile.objects.all()


def test_going_back_to_the_newest_rows_ends_on_the_first_page_without_a_newer_link():
    profiles = ten_profiles()

    first = page_by_position(profiles, order="last_seen", size=5)
    second = page_by_position(profiles, order="last_seen", older_than=first.older.token(), size=5)
    back = page_by_position(profiles, order="last_seen", newer_than=second.newer.token(), size=5)

    assert [p.identity for p in first.object_list] == [f"user-{m}" for m in (9, 8, 7, 6, 5)]
    assert [p.identity for p in back.object_list] == [p.identity for p in first.object_list]
    assert (back.is_first, back.start_index) == (True, 1)
    assert second.older is None and second.start_index == 6


def test_newer_than_the_newest_row_shows_the_first_page():
    """The rows a Newer link pointed back to were deleted meanwhile."""
    profiles = ten_profiles()
    newest = Profile.objects.get(identity="user-9")
    token = Position(newest.last_seen, newest.pk, 5).token()

    page = page_by_position(profiles, order="last_seen", newer_than=token, size=5)

    assert [p.identity for p in page.object_list] == [f"user-{m}" for m in (9, 8, 7, 6, 5)]
    assert (page.is_first, page.start_index) == (True, 1)
    assert page.older is not None


def test_paging_back_a_search_whose_scan_finds_nothing_goes_on_from_where_it_stopped(
    monkeypatch,
):
    """A search reads at most SEARCH_SCAN_ROWS rows a page: going back through rows without
    a match gives an empty page whose Newer link goes on from the last row read."""
    monkeypatch.setattr(pagination, "SEARCH_SCAN_ROWS", 5)
    profiles = ten_profiles()
    oldest = Profile.objects.get(identity="user-0")
    token = Position(oldest.last_seen, oldest.pk, 1).token()
    match = Q(identity__in=["user-0", "user-9"])

    page = page_by_position(profiles, order="last_seen", newer_than=token, size=5, match=match)

    assert page.object_list == []
    assert page.scanned_out
    fifth_newer = Profile.objects.get(identity="user-5")
    assert page.newer == Position(fifth_newer.last_seen, fifth_newer.pk, 1)
    onward = page_by_position(
        profiles, order="last_seen", newer_than=page.newer.token(), size=5, match=match
    )
    assert [p.identity for p in onward.object_list] == ["user-9"]


def test_a_page_asked_for_both_ways_goes_to_the_older_rows():
    profiles = ten_profiles()
    edge = page_by_position(profiles, order="last_seen", size=5).older.token()

    both = page_by_position(profiles, order="last_seen", older_than=edge, newer_than=edge, size=5)

    assert [p.identity for p in both.object_list] == [f"user-{m}" for m in (4, 3, 2, 1, 0)]


def test_a_hand_made_newer_token_counting_too_few_rows_before_starts_at_row_1():
    profiles = ten_profiles()
    oldest = Profile.objects.get(identity="user-0")
    token = Position(oldest.last_seen, oldest.pk, 2).token()  # 2 rows before: really 9

    page = page_by_position(profiles, order="last_seen", newer_than=token, size=5)

    assert [p.identity for p in page.object_list] == [f"user-{m}" for m in (5, 4, 3, 2, 1)]
    assert (page.start_index, page.end_index) == (1, 5)


def test_a_position_token_with_an_impossible_key_is_ignored():
    assert Position.parse("1000.0.0") is None
    assert Position.parse("1000.1.0") == Position(Position.parse("1000.1.0").value, 1, 0)


@pytest.mark.parametrize(
    "token",
    [f"1000.{2**63}.0", "1000.1.-1", f"1000.1.{10**12}", f"{10**20}.1.0", f"{-(10**17)}.1.0",
     "1000.1", "1000.1.0.0", "a.1.0", ""],
)  # fmt: skip
def test_a_position_token_out_of_range_or_malformed_is_ignored(token):
    assert Position.parse(token) is None


def test_a_position_token_at_the_edges_of_its_ranges_is_read():
    position = Position.parse(f"0.{2**63 - 1}.{10**12 - 1}")

    assert position == Position(EPOCH, 2**63 - 1, 10**12 - 1)
