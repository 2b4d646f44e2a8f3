import functools
import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.db.utils import OperationalError

from audience import writers
from audience.models import Event, Profile
from audience.rows import EventRow, ProfileRow
from imports.mapping import event_dedupe_key
from imports.models import Import, ImportRun
from tests.connections.conftest import make_connection
from tests.fixtures.waiting import wait_for

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)

# Every behaviour holds for the COPY path and for the ORM fallback used on SQLite.
PROFILE_WRITERS = pytest.mark.parametrize(
    "write_profiles",
    [writers.write_profiles, functools.partial(writers.write_profiles, direct=True),
     writers._write_profiles_orm],
    ids=["copy", "direct", "orm"],
)  # fmt: skip
# ... and for events also for the COPY straight into the table, with its fallback.
EVENT_WRITERS = pytest.mark.parametrize(
    "write_events",
    [writers.write_events, functools.partial(writers.write_events, direct=True),
     writers._write_events_orm],
    ids=["copy", "direct", "orm"],
)  # fmt: skip


def make_run(workspace, user, target: str) -> ImportRun:
    import_obj = Import.objects.create(
        workspace=workspace,
        connection=make_connection(workspace, user, name=f"Warehouse {uuid.uuid4().hex[:8]}"),
        name=f"{target} import",
        source_kind="table",
        source_table="t",
        target=target,
        identity_column="id",
        timestamp_column="ts" if target == "events" else "",
        event_name_fixed="Purchased" if target == "events" else "",
    )
    return ImportRun.objects.create(
        import_obj=import_obj, workspace=workspace, scheduled_for=T0, status="running"
    )


@pytest.fixture
def profile_run(workspace_a, alice) -> ImportRun:
    return make_run(workspace_a, alice, "profiles")


@pytest.fixture
def event_run(workspace_a, alice) -> ImportRun:
    return make_run(workspace_a, alice, "events")


def profile(identity: str, seen_at: datetime = T0, **properties) -> ProfileRow:
    return ProfileRow(identity=identity, properties=properties, seen_at=seen_at)


def event(identity: str, timestamp: datetime = T0, name: str = "Purchased", **properties):
    return EventRow(
        identity=identity,
        name=name,
        timestamp=timestamp,
        properties=properties,
        dedupe_key=event_dedupe_key(identity, name, timestamp, properties),
    )


def stored_profiles(workspace) -> dict[str, Profile]:
    return {p.identity: p for p in Profile.objects.filter(workspace=workspace)}


def row_versions() -> dict[int, tuple[str, str]]:
    """Each profile's xmin and xmax: xmin changes whenever PostgreSQL writes a new version
    of the row, xmax when a transaction deletes or locks it (a lock is a write too)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text, xmax::text FROM audience_profile")
        return {pk: (xmin, xmax) for pk, xmin, xmax in cursor.fetchall()}


# --- Profiles ------------------------------------------------------------------------


@PROFILE_WRITERS
def test_it_inserts_profiles_with_first_and_last_seen(write_profiles, profile_run, workspace_a):
    written = write_profiles(
        workspace_id=workspace_a.pk,
        run_id=profile_run.pk,
        rows=[profile("u1", plan="pro"), profile("u2", plan="free", seats=3)],
    )

    assert written == 2
    stored = stored_profiles(workspace_a)
    assert stored["u1"].properties == {"plan": "pro"}
    assert stored["u2"].properties == {"plan": "free", "seats": 3}
    assert stored["u1"].first_seen == stored["u1"].last_seen == T0
    assert stored["u1"].updated_by_run_id == profile_run.pk


@PROFILE_WRITERS
def test_an_upsert_merges_properties_and_keeps_first_seen(
    write_profiles, profile_run, workspace_a, alice
):
    write_profiles(
        workspace_id=workspace_a.pk,
        run_id=profile_run.pk,
        rows=[profile("u1", T0, plan="free", email="a@x.test")],
    )
    later_run = make_run(workspace_a, alice, "profiles")
    later_run.status = "succeeded"
    later_run.save()

    written = write_profiles(
        workspace_id=workspace_a.pk,
        run_id=later_run.pk,
        rows=[profile("u1", T1, plan="pro", seats=5)],
    )

    assert written == 1
    stored = Profile.objects.get(workspace=workspace_a, identity="u1")
    assert stored.properties == {"plan": "pro", "email": "a@x.test", "seats": 5}
    assert stored.first_seen == T0
    assert stored.last_seen == T1
    assert stored.updated_by_run_id == later_run.pk


@PROFILE_WRITERS
def test_an_older_page_does_not_move_last_seen_back(write_profiles, profile_run, workspace_a):
    write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", T2)])

    write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", T1, plan="x")]
    )

    stored = Profile.objects.get(workspace=workspace_a, identity="u1")
    assert stored.properties == {"plan": "x"}
    assert stored.last_seen == T2


@PROFILE_WRITERS
def test_the_last_row_of_an_identity_in_a_page_wins(write_profiles, profile_run, workspace_a):
    written = write_profiles(
        workspace_id=workspace_a.pk,
        run_id=profile_run.pk,
        rows=[
            profile("u1", plan="free", seats=1),
            profile("u2", plan="team"),
            profile("u1", plan="pro", seats=2),
            profile("u1", plan="enterprise", seats=3),
        ],
    )

    assert written == 2
    stored = stored_profiles(workspace_a)
    assert stored["u1"].properties == {"plan": "enterprise", "seats": 3}
    assert stored["u2"].properties == {"plan": "team"}


@PROFILE_WRITERS
def test_replaying_a_profile_page_changes_nothing(write_profiles, profile_run, workspace_a):
    rows = [profile(f"u{i}", T0, plan="pro", n=i) for i in range(50)] + [profile("u1", T0, n=-1)]
    assert write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows) == 50
    before = {p.pk: (p.properties, p.first_seen, p.last_seen) for p in Profile.objects.all()}
    xmin_before = row_versions()

    assert write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows) == 0

    after = {p.pk: (p.properties, p.first_seen, p.last_seen) for p in Profile.objects.all()}
    assert after == before
    # Not even rewritten with equal values, nor locked: an unchanged profile costs no write.
    assert row_versions() == xmin_before


def scans_in_this_transaction(relation: str) -> int:
    """Scans of a table (sequential) or an index in the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_numscans(%s::regclass)", [relation])
        return cursor.fetchone()[0]


def test_a_page_of_stored_profiles_looks_each_identity_up_not_the_whole_workspace(
    profile_run, workspace_a
):
    """The statistics of a table just filled by a first import still say it is small, and
    a planner that trusts them reads every profile of the workspace for each page of a
    re-import (a 1M re-import took 30-54 s instead of 8). Each identity is looked up in
    the unique index instead, whatever the statistics say."""
    rows = [profile(f"u{i}", T0, plan="pro") for i in range(2000)]
    writers.write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audience_profile")  # stale: taken before the next page
    rows = [profile(f"u{i}", T0, plan="pro") for i in range(2000, 4000)]
    writers.write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows)
    relations = ("audience_profile", "profile_ws_last_seen", "profile_unique_identity")
    before = {name: scans_in_this_transaction(name) for name in relations}

    written = writers.write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows[:500]
    )

    scans = {name: scans_in_this_transaction(name) - before[name] for name in relations}
    assert written == 0
    assert scans["audience_profile"] == 0  # no sequential scan
    assert scans["profile_ws_last_seen"] == 0  # nor the workspace's every profile by index
    assert scans["profile_unique_identity"] >= 500  # one lookup per identity


@PROFILE_WRITERS
def test_an_unchanged_profile_seen_again_later_is_not_rewritten(
    write_profiles, profile_run, workspace_a
):
    write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", T0, plan="pro")]
    )

    written = write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", T2, plan="pro")]
    )

    assert written == 0
    assert Profile.objects.get(identity="u1").last_seen == T0


@PROFILE_WRITERS
def test_the_same_identity_in_two_workspaces_is_two_profiles(
    write_profiles, profile_run, workspace_a, workspace_b, charlie
):
    run_b = make_run(workspace_b, charlie, "profiles")

    write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", plan="a")]
    )
    written = write_profiles(
        workspace_id=workspace_b.pk, run_id=run_b.pk, rows=[profile("u1", plan="b")]
    )

    assert written == 1
    assert Profile.objects.get(workspace=workspace_a, identity="u1").properties == {"plan": "a"}
    assert Profile.objects.get(workspace=workspace_b, identity="u1").properties == {"plan": "b"}


@PROFILE_WRITERS
def test_json_values_round_trip(write_profiles, profile_run, workspace_a):
    properties = {
        "text": "naïve ☃ 🎉",
        "quote": 'say "hi"\n\\',
        "big": 2**63 + 1,
        "price": 19.99,
        "nested": {"tags": ["a", None, True], "at": "2026-01-01T00:00:00+00:00"},
        "none": None,
    }

    write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u1", **properties)]
    )

    assert Profile.objects.get(identity="u1").properties == properties


# --- Events --------------------------------------------------------------------------


@EVENT_WRITERS
def test_it_stores_events(write_events, event_run, workspace_a):
    row = event("u1", T1, name="Signed up", plan="pro")

    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=[row]) == 1

    stored = Event.objects.get(workspace=workspace_a)
    assert (stored.identity, stored.name, stored.timestamp) == ("u1", "Signed up", T1)
    assert stored.properties == {"plan": "pro"}
    assert stored.dedupe_key == row.dedupe_key
    assert stored.imported_by_run_id == event_run.pk


@EVENT_WRITERS
def test_events_dedupe_within_a_page_across_pages_and_on_replay(
    write_events, event_run, workspace_a
):
    page_1 = [event("u1", T0, amount=1), event("u2", T0, amount=2), event("u1", T0, amount=1)]
    page_2 = [event("u2", T0, amount=2), event("u3", T1, amount=3)]

    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=page_1) == 2
    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=page_2) == 1
    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=page_1) == 0
    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=page_2) == 0

    assert sorted(Event.objects.values_list("identity", flat=True)) == ["u1", "u2", "u3"]


@EVENT_WRITERS
def test_the_same_event_in_two_workspaces_is_two_events(
    write_events, event_run, workspace_a, workspace_b, charlie
):
    run_b = make_run(workspace_b, charlie, "events")
    row = event("u1", T0, amount=1)

    assert write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=[row]) == 1
    assert write_events(workspace_id=workspace_b.pk, run_id=run_b.pk, rows=[row]) == 1

    assert Event.objects.filter(workspace=workspace_a).count() == 1
    assert Event.objects.filter(workspace=workspace_b).count() == 1


def test_empty_pages_write_nothing(profile_run, workspace_a, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert writers.write_profiles(workspace_id=workspace_a.pk, run_id=None, rows=[]) == 0
        assert writers.write_events(workspace_id=workspace_a.pk, run_id=None, rows=[]) == 0


# --- Bulk ----------------------------------------------------------------------------


def test_a_10000_row_profile_page_is_a_bounded_number_of_queries(
    profile_run, workspace_a, django_assert_max_num_queries
):
    rows = [profile(f"user-{i}", plan="pro", n=i) for i in range(10_000)]

    with django_assert_max_num_queries(5):
        written = writers.write_profiles(
            workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows
        )

    assert written == 10_000
    assert Profile.objects.filter(workspace=workspace_a).count() == 10_000


def test_a_10000_row_event_page_is_a_bounded_number_of_queries(
    event_run, workspace_a, django_assert_max_num_queries
):
    rows = [event(f"user-{i % 100}", T0 + timedelta(seconds=i), n=i) for i in range(10_000)]

    with django_assert_max_num_queries(5) as captured:
        written = writers.write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=rows)

    assert written == 10_000
    assert any(q["sql"].startswith("COPY") for q in captured.captured_queries)
    assert Event.objects.filter(workspace=workspace_a).count() == 10_000


def copied_into(captured) -> list[str]:
    """The tables the COPYs of `captured` wrote into."""
    return [q["sql"].split()[1] for q in captured.captured_queries if q["sql"].startswith("COPY")]


def test_a_page_of_new_events_is_copied_straight_into_the_table(
    event_run, workspace_a, django_assert_max_num_queries
):
    rows = [event(f"user-{i % 100}", T0 + timedelta(seconds=i), n=i) for i in range(10_000)]

    with django_assert_max_num_queries(5) as captured:
        written = writers.write_events(
            workspace_id=workspace_a.pk, run_id=event_run.pk, rows=rows, direct=True
        )

    assert written == 10_000
    assert copied_into(captured) == ['"audience_event"']
    stored = Event.objects.filter(workspace=workspace_a)
    assert stored.count() == 10_000
    assert set(stored.values_list("imported_by_run", flat=True)) == {event_run.pk}
    sample = stored.get(identity="user-7", properties__n=7)
    assert (sample.name, sample.timestamp, sample.properties) == (
        "Purchased",
        T0 + timedelta(seconds=7),
        {"n": 7},
    )
    assert sample.dedupe_key == rows[7].dedupe_key


@pytest.mark.parametrize("collision", ["stored", "twice in the page"])
def test_a_page_that_collides_falls_back_and_writes_exactly_the_new_rows(
    collision, event_run, workspace_a, django_assert_max_num_queries
):
    old = event("u0", T0, amount=0)
    writers.write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=[old])
    page = [event(f"u{i}", T1, amount=i) for i in range(1, 500)]
    page.insert(250, old if collision == "stored" else page[100])

    with django_assert_max_num_queries(9) as captured:
        written = writers.write_events(
            workspace_id=workspace_a.pk, run_id=event_run.pk, rows=page, direct=True
        )

    assert written == 499
    # The refused COPY left nothing behind: the page went through the temporary table.
    assert copied_into(captured) == ["_import_event_page"]
    assert Event.objects.filter(workspace=workspace_a).count() == 500


def test_a_page_of_new_profiles_is_copied_straight_into_the_table(
    profile_run, workspace_a, django_assert_max_num_queries
):
    rows = [profile(f"user-{i}", T0 + timedelta(seconds=i), n=i, plan=None) for i in range(5000)]

    with django_assert_max_num_queries(5) as captured:
        written = writers.write_profiles(
            workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=rows, direct=True
        )

    assert written == 5000
    assert copied_into(captured) == ['"audience_profile"']
    stored = stored_profiles(workspace_a)
    assert len(stored) == 5000
    assert {p.updated_by_run_id for p in stored.values()} == {profile_run.pk}
    sample = stored["user-7"]
    assert (sample.properties, sample.first_seen, sample.last_seen) == (
        {"n": 7, "plan": None},
        T0 + timedelta(seconds=7),
        T0 + timedelta(seconds=7),
    )


@pytest.mark.parametrize("collision", ["stored", "twice in the page"])
def test_a_profile_page_that_collides_falls_back_and_merges_as_usual(
    collision, profile_run, workspace_a, django_assert_max_num_queries
):
    writers.write_profiles(
        workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u0", T0, plan="pro")]
    )
    page = [profile(f"u{i}", T1, n=i) for i in range(1, 500)]
    if collision == "stored":
        page.insert(250, profile("u0", T2, plan=None, seats=3))
    else:
        page.insert(250, profile("u100", T2, n=-1))
        page.insert(400, profile("u100", T2, n=100, last=True))

    with django_assert_max_num_queries(9) as captured:
        written = writers.write_profiles(
            workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=page, direct=True
        )

    assert written == (500 if collision == "stored" else 499)
    # The refused COPY left nothing behind: the page went through the temporary table.
    assert copied_into(captured) == ["_import_profile_page"]
    stored = stored_profiles(workspace_a)
    assert len(stored) == 500
    if collision == "stored":
        # Merged as the upsert merges: the null keeps "pro", first_seen stays.
        u0 = stored["u0"]
        assert (u0.properties, u0.first_seen, u0.last_seen) == (
            {"plan": "pro", "seats": 3},
            T0,
            T2,
        )
    else:
        assert stored["u100"].properties == {"n": 100, "last": True}
        assert stored["u100"].first_seen == T2


@pytest.mark.django_db(transaction=True)
def test_pages_in_one_transaction_and_in_separate_transactions(workspace_a, alice):
    """The temp table must be reusable within a transaction and gone after it."""
    profile_run = make_run(workspace_a, alice, "profiles")
    event_run = make_run(workspace_a, alice, "events")
    ws = workspace_a.pk

    with transaction.atomic():
        assert writers.write_profiles(workspace_id=ws, run_id=profile_run.pk, rows=[profile("a")])
        assert writers.write_profiles(workspace_id=ws, run_id=profile_run.pk, rows=[profile("b")])
        assert writers.write_events(workspace_id=ws, run_id=event_run.pk, rows=[event("a")]) == 1
        assert writers.write_events(workspace_id=ws, run_id=event_run.pk, rows=[event("b")]) == 1
    with transaction.atomic():
        assert writers.write_profiles(workspace_id=ws, run_id=profile_run.pk, rows=[profile("c")])
        assert writers.write_events(workspace_id=ws, run_id=event_run.pk, rows=[event("a")]) == 0
    # Outside any transaction (autocommit) the writer opens its own.
    assert writers.write_profiles(workspace_id=ws, run_id=profile_run.pk, rows=[profile("d")])
    assert writers.write_events(workspace_id=ws, run_id=event_run.pk, rows=[event("d")]) == 1

    assert sorted(Profile.objects.values_list("identity", flat=True)) == ["a", "b", "c", "d"]
    assert sorted(Event.objects.values_list("identity", flat=True)) == ["a", "b", "d"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass('pg_temp._import_profile_page'),"
            " to_regclass('pg_temp._import_event_page')"
        )
        assert cursor.fetchone() == (None, None)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_page_leaves_nothing_and_can_be_written_again(workspace_a, alice):
    run = make_run(workspace_a, alice, "events")
    rows = [event("a"), event("b")]

    with pytest.raises(RuntimeError), transaction.atomic():
        writers.write_events(workspace_id=workspace_a.pk, run_id=run.pk, rows=rows)
        raise RuntimeError("the run's fenced update found the lease gone")

    assert Event.objects.count() == 0
    assert writers.write_events(workspace_id=workspace_a.pk, run_id=run.pk, rows=rows) == 2


def test_deleting_a_run_keeps_its_rows_and_clears_their_pointer_to_it(
    workspace_a, profile_run, event_run
):
    """The pointers are provenance only (a string foreign key without a database constraint):
    Django's collector clears them, whichever way the run goes."""
    writers.write_profiles(workspace_id=workspace_a.pk, run_id=profile_run.pk, rows=[profile("u")])
    writers.write_events(workspace_id=workspace_a.pk, run_id=event_run.pk, rows=[event("u")])

    profile_run.import_obj.connection.delete()  # its import and that import's runs go with it
    event_run.delete()

    assert Profile.objects.get().updated_by_run_id is None
    assert Event.objects.get().imported_by_run_id is None


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_before_the_direct_copy_is_a_django_database_error(
    event_run, workspace_a
):
    """The direct COPY talks to psycopg's own cursor; a connection PostgreSQL dropped (a
    restart, a failover) must still come out as Django's OperationalError, which the runner
    reconnects after, not as psycopg's, which failed the run as unexpected."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])

    try:
        with pytest.raises(OperationalError):
            writers.write_events(
                workspace_id=workspace_a.pk, run_id=event_run.pk, rows=[event("u1")], direct=True
            )
    finally:
        connection.close()  # Django reconnects once the broken connection is closed
    assert not Event.objects.exists()


class _PausedPage(list):
    """A page whose rows stop coming after the first `paused_after` until `resume` is set,
    as they would behind a slow reader."""

    def __init__(self, rows, paused_after, resume):
        super().__init__(rows)
        self.paused_after, self.resume = paused_after, resume

    def __iter__(self):
        rows = super().__iter__()
        for _ in range(self.paused_after):
            yield next(rows)
        assert self.resume.wait(timeout=30)
        yield from rows


def test_two_pages_copied_at_once_with_the_same_keys_in_opposite_orders_both_land(
    transactional_db, workspace_a, alice
):
    """Two runs of one workspace copying the same events straight into the table, each
    holding a key the other needs next: PostgreSQL ends the deadlock by failing one COPY,
    which must fall back to the usual write (and find the other's events stored), not fail
    its page."""
    run = make_run(workspace_a, alice, "events")
    # A binary COPY inserts its rows 1,000 at a time (and at its end); the padding pushes
    # the first thousand out of the client's buffers.
    a = [event(f"a{i}") for i in range(1000)]
    b = [event(f"b{i}") for i in range(1000)]
    padding = event("padding", pad="x" * 70_000)
    resume = threading.Event()
    pids, written, errors = {}, {}, {}

    def write(name, rows):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pids[name] = cursor.fetchone()[0]
                written[name] = writers.write_events(
                    workspace_id=workspace_a.pk, run_id=run.pk, rows=rows, direct=True
                )
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors[name] = error
        finally:
            connections.close_all()

    first_page = _PausedPage([*a, padding, b[0]], paused_after=1001, resume=resume)
    first = threading.Thread(target=write, args=("first", first_page))
    second = threading.Thread(target=write, args=("second", [*b, a[0]]))
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as other:

        def found(sql, name):
            return name in pids and other.execute(sql, [pids[name]]).fetchone() is not None

        first.start()  # inserts a0…a999, then waits for `resume`
        wait_for(lambda: found(
            "SELECT FROM pg_stat_progress_copy WHERE pid = %s AND tuples_processed >= 1000",
            "first",
        ))  # fmt: skip
        second.start()  # inserts b0…b999, then waits for the first's a0
        wait_for(lambda: found(
            "SELECT FROM pg_locks WHERE pid = %s AND locktype = 'transactionid' AND NOT granted",
            "second",
        ))  # fmt: skip
        resume.set()  # the first now copies b0, which the second holds: a deadlock
        first.join(timeout=60)
        second.join(timeout=60)

    assert errors == {}
    assert sum(written.values()) == 2001
    assert Event.objects.filter(workspace=workspace_a).count() == 2001
