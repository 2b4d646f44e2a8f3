import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from imports import services
from imports.models import Import, ImportRun
from imports.services import IllegalTransition
from tests.imports.conftest import make_import
from workspaces.models import AuditEntry


@pytest.fixture
def hourly(connection_a, alice):
    return make_import(connection_a, alice, table="users", schedule_kind="hourly")


def test_a_new_import_without_schedule_is_ready_and_with_one_is_scheduled(
    connection_a, alice, hourly
):
    ready = make_import(connection_a, alice, table="users", name="manual")

    assert (ready.status, ready.next_run_at) == (Import.Status.READY, None)
    assert hourly.status == Import.Status.SCHEDULED
    assert hourly.next_run_at > timezone.now()


def test_pause_resume_and_stop(hourly, alice):
    paused = services.import_pause(import_obj=hourly, actor=alice)
    assert paused.status == Import.Status.PAUSED
    assert services.imports_dispatch_due(now=paused.next_run_at + dt.timedelta(minutes=1)) == 0

    resumed = services.import_resume(import_obj=paused, actor=alice)
    assert resumed.status == Import.Status.SCHEDULED

    stopped = services.import_stop(import_obj=resumed, actor=alice)
    assert (stopped.status, stopped.next_run_at) == (Import.Status.STOPPED, None)


@pytest.mark.parametrize(
    "action, message",
    [
        ("import_resume", "Only a paused or stopped import can be resumed; this one is running."),
        ("import_pause", "Only a scheduled import can be paused; this one is running."),
        ("import_run_now", "The import is already running."),
    ],
)
def test_illegal_transitions_on_a_running_import_are_refused(connection_a, alice, action, message):
    manual = make_import(connection_a, alice, table="users", name="manual")
    services.import_run_now(import_obj=manual, actor=alice)

    with pytest.raises(IllegalTransition, match=message):
        getattr(services, action)(import_obj=manual, actor=alice)
    assert ImportRun.objects.filter(import_obj=manual).count() == 1
    manual.refresh_from_db()
    assert manual.status == Import.Status.RUNNING


def test_stop_on_a_stopped_import_is_refused(hourly, alice):
    services.import_stop(import_obj=hourly, actor=alice)

    with pytest.raises(IllegalTransition, match="already stopped"):
        services.import_stop(import_obj=hourly, actor=alice)


def test_stop_cancels_a_queued_run_and_asks_a_running_one_to_stop(hourly, connection_a, alice):
    run = services.import_run_now(import_obj=hourly, actor=alice)
    before = timezone.now()
    services.import_stop(import_obj=hourly, actor=alice)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.CANCELLED
    assert run.error_message == "Stopped before it started."
    assert before <= run.finished_at <= timezone.now()  # the history shows when it ended

    other = make_import(connection_a, alice, table="users", name="other")
    running = services.import_run_now(import_obj=other, actor=alice)
    ImportRun.objects.filter(pk=running.pk).update(status=ImportRun.Status.RUNNING)
    services.import_stop(import_obj=other, actor=alice)
    running.refresh_from_db()
    assert (running.status, running.cancel_requested) == (ImportRun.Status.RUNNING, True)


def test_the_database_allows_one_active_run_per_import(hourly):
    from django.db import IntegrityError, transaction

    ImportRun.objects.create(
        import_obj=hourly, workspace=hourly.workspace, scheduled_for=timezone.now()
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ImportRun.objects.create(
            import_obj=hourly,
            workspace=hourly.workspace,
            scheduled_for=timezone.now() + dt.timedelta(1),
        )


def test_the_dispatcher_catches_up_missed_ticks_with_one_run(hourly):
    Import.objects.filter(pk=hourly.pk).update(next_run_at=timezone.now() - dt.timedelta(hours=5))

    assert services.imports_dispatch_due() == 1

    hourly.refresh_from_db()
    assert hourly.status == Import.Status.RUNNING
    assert hourly.next_run_at > timezone.now()
    assert hourly.runs.count() == 1


def test_the_dispatcher_runs_an_import_due_at_this_very_instant(hourly):
    due = hourly.next_run_at

    assert services.imports_dispatch_due(now=due) == 1

    hourly.refresh_from_db()
    assert list(hourly.runs.values_list("scheduled_for", flat=True)) == [due]
    assert hourly.next_run_at == due + dt.timedelta(hours=1)


def test_the_reaper_resends_a_queued_run_only_once_its_message_may_be_lost(
    hourly, alice, settings, clean_broker
):
    run = services.import_run_now(import_obj=hourly, actor=alice)
    wait = dt.timedelta(seconds=settings.IMPORT_REQUEUE_AFTER_SECONDS)

    assert services.runs_resend_lost(now=run.enqueued_at + wait) == 0  # not late yet
    late = run.enqueued_at + wait + dt.timedelta(seconds=1)
    assert services.runs_resend_lost(now=late) == 1

    run.refresh_from_db()
    assert run.enqueued_at == late  # sent again now: it waits its time again
    assert services.runs_resend_lost(now=late + dt.timedelta(seconds=1)) == 0


def test_the_reaper_resends_a_running_run_only_once_its_lease_ran_out(hourly, alice, clean_broker):
    from imports.run import leases

    run = services.import_run_now(import_obj=hourly, actor=alice)
    claimed = leases.run_claim(run_id=str(run.pk), owner="worker-a")
    assert claimed is not None

    assert services.runs_resend_lost(now=claimed.lease_until - dt.timedelta(seconds=1)) == 0
    assert services.runs_resend_lost(now=claimed.lease_until) == 0  # its last instant
    assert services.runs_resend_lost(now=claimed.lease_until + dt.timedelta(seconds=1)) == 1


def test_a_bad_stored_schedule_fails_that_import_only(hourly, connection_a, alice):
    other = make_import(connection_a, alice, table="users", name="fine", schedule_kind="hourly")
    past = timezone.now() - dt.timedelta(minutes=1)
    Import.objects.filter(pk=hourly.pk).update(
        schedule_kind="cron", schedule_cron="bad", next_run_at=past
    )
    Import.objects.filter(pk=other.pk).update(next_run_at=past)

    assert services.imports_dispatch_due() == 1

    hourly.refresh_from_db()
    assert hourly.status == Import.Status.FAILED
    assert hourly.next_run_at is None  # its page promises no next run
    assert hourly.last_error.startswith("The schedule is not valid:")


def test_the_dispatcher_takes_every_due_import_batch_after_batch(
    hourly, connection_a, alice, monkeypatch
):
    monkeypatch.setattr(services, "DISPATCH_BATCH", 2)
    others = [
        make_import(connection_a, alice, table="users", name=f"due {n}", schedule_kind="hourly")
        for n in range(2)
    ]
    Import.objects.update(next_run_at=timezone.now() - dt.timedelta(minutes=1))

    assert services.imports_dispatch_due() == 3  # two batches of two, the second not full

    for import_obj in [hourly, *others]:
        import_obj.refresh_from_db()
        assert import_obj.runs.count() == 1
        assert import_obj.next_run_at > timezone.now()


@pytest.mark.parametrize("status", [Import.Status.FAILED, Import.Status.COMPLETED])
def test_an_import_that_failed_or_completed_cannot_be_paused_resumed_or_stopped(
    hourly, alice, status
):
    Import.objects.filter(pk=hourly.pk).update(status=status, next_run_at=None)
    hourly.refresh_from_db()
    label = status.label.lower()

    for action, message in [
        ("import_pause", f"Only a scheduled import can be paused; this one is {label}."),
        ("import_resume", f"Only a paused or stopped import can be resumed; this one is {label}."),
        ("import_stop", f"The import is already {label}; nothing to stop."),
    ]:
        with pytest.raises(IllegalTransition, match=message):
            getattr(services, action)(import_obj=hourly, actor=alice)
    hourly.refresh_from_db()
    assert (hourly.status, hourly.next_run_at) == (status, None)
    assert not AuditEntry.objects.filter(
        action__in=["import.paused", "import.resumed", "import.stopped"]
    ).exists()


@contextlib.contextmanager
def row_locked_elsewhere(import_obj: Import, lock: str) -> Iterator[None]:
    """While inside, a second database connection (in another thread) holds `lock` on the
    import's row: FOR UPDATE as a second dispatcher or an admin's Pause would, FOR KEY SHARE
    as inserting a row that refers to it does (the alert state a worker writes when a run
    ends)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                table = connection.ops.quote_name(Import._meta.db_table)
                cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s {lock}", [import_obj.pk])  # noqa: S608
                locked.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30), "the other transaction did not take the lock"
        yield
    finally:
        release.set()
        holder.join(30)


# Transactional: the lock is held by a second database connection, in another thread.
@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_passes_over_an_import_locked_by_another_transaction(
    hourly, connection_a, alice
):
    others = [
        make_import(connection_a, alice, table="users", name=f"due {n}", schedule_kind="hourly")
        for n in range(2)
    ]
    due_at = timezone.now() - dt.timedelta(minutes=1)
    Import.objects.update(next_run_at=due_at)
    celery_app.control.purge()
    with row_locked_elsewhere(hourly, "FOR UPDATE"):
        with connection.cursor() as cursor:
            # A dispatcher that waits for the lock fails here instead of hanging the test.
            cursor.execute("SET lock_timeout = '10s'")
        try:
            created = services.imports_dispatch_due()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")

    assert created == 2
    for import_obj in others:
        import_obj.refresh_from_db()
        assert import_obj.runs.get().status == ImportRun.Status.QUEUED
        assert import_obj.next_run_at > timezone.now()
    hourly.refresh_from_db()
    assert not hourly.runs.exists()
    assert (hourly.status, hourly.next_run_at) == (Import.Status.SCHEDULED, due_at)
    assert celery_app.control.purge() == 2  # both runs were sent


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_takes_an_import_that_another_transaction_only_refers_to(hourly):
    """The dispatcher locks the rows it updates FOR NO KEY UPDATE, as the runner does: FOR
    UPDATE would pass over an import while an alert for its last run was being recorded."""
    Import.objects.update(next_run_at=timezone.now() - dt.timedelta(minutes=1))
    celery_app.control.purge()
    with row_locked_elsewhere(hourly, "FOR KEY SHARE"):
        created = services.imports_dispatch_due()

    assert created == 1
    assert hourly.runs.get().status == ImportRun.Status.QUEUED
    assert celery_app.control.purge() == 1


WATERMARK = "2026-03-01T00:00:00+00:00"
INCREMENTAL = {
    "sync_mode": "incremental",
    "cursor_column": "updated_at",
    "cursor_type": "TIMESTAMP",
}


def incremental_import_with_a_watermark(connection, user, **fields) -> Import:
    import_obj = make_import(connection, user, table="users", **{**INCREMENTAL, **fields})
    Import.objects.filter(pk=import_obj.pk).update(watermark=WATERMARK)  # as after a run
    import_obj.refresh_from_db()
    return import_obj


@pytest.mark.parametrize(
    ("before", "change"),
    [
        ({}, {"source_table": "accounts"}),
        ({}, {"source_kind": "query", "source_query": "SELECT * FROM users_v2"}),
        (
            {"source_kind": "query", "source_query": "SELECT * FROM users"},
            {"source_query": "SELECT * FROM users WHERE plan = 'pro'"},
        ),
        ({}, {"cursor_column": "created_at"}),
        ({}, {"cursor_type": "DATETIME"}),
        ({}, {"sync_mode": "full"}),
        ({"source_time_zone": "Europe/Berlin"}, {"source_time_zone": "Asia/Tokyo"}),
        ({"timestamp_unit": "seconds"}, {"timestamp_unit": "milliseconds"}),
    ],
    ids=["table", "table-to-query", "query", "cursor-column", "cursor-type", "sync-mode",
         "time-zone", "timestamp-unit"],
)  # fmt: skip
def test_changing_the_source_resets_the_watermark(connection_a, alice, before, change):
    import_obj = incremental_import_with_a_watermark(connection_a, alice, **before)

    services.import_update(import_obj=import_obj, actor=alice, definition=change)

    import_obj.refresh_from_db()
    assert import_obj.watermark == ""
    assert import_obj.watermark_reset_at is not None
    assert import_obj.watermark_reset_reason == services.WATERMARK_RESETS[next(iter(change))]
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    assert run.watermark_from == ""  # the next run reads the new source from its start


def test_a_reset_names_the_first_change_of_the_definition(connection_a, alice):
    """The source and the cursor changed at once: the reason given is the source's, the
    first of the definition's fields (the order the edit form shows them)."""
    import_obj = incremental_import_with_a_watermark(connection_a, alice)

    services.import_update(
        import_obj=import_obj,
        actor=alice,
        definition={"cursor_column": "created_at", "source_table": "accounts"},
    )

    import_obj.refresh_from_db()
    assert import_obj.watermark_reset_reason == "the source changed"


def test_an_edit_audits_every_field_it_changed_and_an_unchanged_save_nothing(connection_a, alice):
    import_obj = incremental_import_with_a_watermark(connection_a, alice)

    services.import_update(
        import_obj=import_obj,
        actor=alice,
        definition={"name": import_obj.name, "source_table": import_obj.source_table},
    )
    assert not AuditEntry.objects.filter(action="import.updated").exists()

    services.import_update(
        import_obj=import_obj,
        actor=alice,
        definition={"name": "Renamed", "rejection_threshold": 7, "source_table": "users"},
    )
    [entry] = AuditEntry.objects.filter(action="import.updated")
    assert entry.details == {"fields": ["name", "rejection_threshold"]}
    assert entry.actor == alice


def test_changing_the_name_and_the_schedule_keeps_the_watermark(connection_a, alice):
    import_obj = incremental_import_with_a_watermark(connection_a, alice)

    services.import_update(
        import_obj=import_obj,
        actor=alice,
        definition={
            "name": "Renamed",
            "schedule_kind": "daily",
            "schedule_time": dt.time(4),
            "lookback_seconds": Import.Lookback.DAY,
        },
    )

    import_obj.refresh_from_db()
    assert (import_obj.name, import_obj.watermark) == ("Renamed", WATERMARK)
    assert import_obj.watermark_reset_at is None
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    assert run.watermark_from == WATERMARK


def finish(run, *, failed=False):
    """End a run the way the worker does (claim, then succeed or fail)."""
    from imports.run import finish, leases

    claimed = leases.run_claim(run_id=str(run.pk), owner="worker-a")
    if failed:
        finish.finish(claimed, "worker-a", ImportRun.Status.FAILED, "Broken.")
    else:
        finish.succeed(claimed, "worker-a")
    return Import.objects.get(pk=run.import_obj_id)


def test_run_now_of_a_paused_import_runs_once_and_leaves_it_paused(hourly, alice):
    paused = services.import_pause(import_obj=hourly, actor=alice)
    next_run_at = paused.next_run_at

    run = services.import_run_now(import_obj=paused, actor=alice)
    paused.refresh_from_db()
    assert paused.status == Import.Status.PAUSED
    with pytest.raises(IllegalTransition, match="already running"):
        services.import_run_now(import_obj=paused, actor=alice)

    after = finish(run)
    assert (after.status, after.next_run_at) == (Import.Status.PAUSED, next_run_at)
    assert services.imports_dispatch_due(now=next_run_at + dt.timedelta(hours=2)) == 0


def test_editing_a_paused_import_keeps_it_paused(hourly, alice):
    paused = services.import_pause(import_obj=hourly, actor=alice)
    next_run_at = paused.next_run_at

    services.import_update(
        import_obj=paused,
        actor=alice,
        definition={"name": "Renamed", "schedule_kind": "daily", "schedule_time": dt.time(4)},
    )

    paused.refresh_from_db()
    assert (paused.name, paused.status, paused.next_run_at) == (
        "Renamed",
        Import.Status.PAUSED,
        next_run_at,
    )
    assert services.imports_dispatch_due(now=next_run_at + dt.timedelta(days=2)) == 0


def test_resuming_a_paused_import_whose_run_now_is_active_shows_it_running(hourly, alice):
    paused = services.import_pause(import_obj=hourly, actor=alice)
    run = services.import_run_now(import_obj=paused, actor=alice)

    resumed = services.import_resume(import_obj=paused, actor=alice)

    assert Import.objects.get(pk=hourly.pk).status == resumed.status == Import.Status.RUNNING
    after = finish(run)
    assert (after.status, after.next_run_at) == (Import.Status.SCHEDULED, resumed.next_run_at)


def test_pausing_a_running_scheduled_import_keeps_the_pause_after_the_run(hourly, alice):
    run = services.import_run_now(import_obj=hourly, actor=alice)
    services.import_pause(import_obj=hourly, actor=alice)

    assert finish(run, failed=True).status == Import.Status.PAUSED


def test_a_scheduled_run_that_outlasts_its_hour_is_followed_at_once_by_the_hour_it_overran(
    hourly,
):
    slot = hourly.next_run_at
    assert services.imports_dispatch_due(now=slot) == 1
    run = hourly.runs.get()

    # The 10:00 run ends at 11:30: the 11:00 run is due and runs at the next tick.
    with time_machine.travel(slot + dt.timedelta(minutes=90), tick=False):
        after = finish(run)
        assert (after.status, after.next_run_at) == (
            Import.Status.SCHEDULED,
            slot + dt.timedelta(hours=1),
        )
        assert services.imports_dispatch_due() == 1


def test_a_manual_run_before_a_one_time_schedule_keeps_it_scheduled(connection_a, alice):
    at = timezone.now() + dt.timedelta(days=2)
    once = make_import(connection_a, alice, table="users", schedule_kind="once", schedule_at=at)

    run = services.import_run_now(import_obj=once, actor=alice)

    assert (finish(run).status, once.next_run_at) == (Import.Status.SCHEDULED, at)


def test_a_manual_run_that_ends_at_the_one_time_schedules_instant_was_that_run(connection_a, alice):
    at = timezone.now() + dt.timedelta(days=2)
    once = make_import(connection_a, alice, table="users", schedule_kind="once", schedule_at=at)
    run = services.import_run_now(import_obj=once, actor=alice)

    with time_machine.travel(at, tick=False):
        after = finish(run)
        assert (after.status, after.next_run_at) == (Import.Status.COMPLETED, None)
        assert services.imports_dispatch_due() == 0


def test_a_once_now_import_starts_its_run_when_saved_and_never_again(connection_a, alice):
    before = timezone.now()
    now_import = make_import(connection_a, alice, table="users", schedule_kind="now")

    run = ImportRun.objects.get(import_obj=now_import)
    assert (run.status, run.trigger) == (ImportRun.Status.QUEUED, ImportRun.Trigger.SCHEDULE)
    assert before <= run.scheduled_for <= timezone.now()
    assert (now_import.status, now_import.next_run_at) == (Import.Status.RUNNING, None)
    assert services.imports_dispatch_due() == 0  # the dispatcher has nothing left to start

    after = finish(run)

    assert (after.status, after.next_run_at) == (Import.Status.COMPLETED, None)
    assert services.imports_dispatch_due(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_resuming_an_import_paused_with_once_now_starts_its_run_at_once(hourly, alice):
    services.import_pause(import_obj=hourly, actor=alice)
    edited = services.import_update(
        import_obj=hourly, actor=alice, definition={"schedule_kind": "now"}
    )
    assert edited.status == Import.Status.PAUSED and not hourly.runs.exists()

    resumed = services.import_resume(import_obj=edited, actor=alice)

    assert (resumed.status, resumed.next_run_at) == (Import.Status.RUNNING, None)
    assert hourly.runs.get().status == ImportRun.Status.QUEUED


def test_a_schedule_that_is_not_due_yet_waits_for_the_dispatcher(connection_a, alice):
    later = make_import(
        connection_a,
        alice,
        table="users",
        schedule_kind="once",
        schedule_at=timezone.now() + dt.timedelta(hours=1),
    )

    assert later.status == Import.Status.SCHEDULED
    assert not ImportRun.objects.filter(import_obj=later).exists()


def test_renaming_a_once_now_import_that_ran_does_not_run_it_again(connection_a, alice):
    now_import = make_import(connection_a, alice, table="users", schedule_kind="now")
    finished = finish(ImportRun.objects.get(import_obj=now_import))

    renamed = services.import_update(
        import_obj=finished, actor=alice, definition={"name": "Users, renamed"}
    )

    assert (renamed.name, renamed.status, renamed.next_run_at) == (
        "Users, renamed",
        Import.Status.COMPLETED,
        None,
    )
    assert ImportRun.objects.filter(import_obj=now_import).count() == 1
    assert services.imports_dispatch_due(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_renaming_a_stopped_import_leaves_it_stopped(hourly, alice):
    stopped = services.import_stop(import_obj=hourly, actor=alice)

    renamed = services.import_update(
        import_obj=stopped, actor=alice, definition={"name": "Hourly, renamed"}
    )

    assert (renamed.status, renamed.next_run_at) == (Import.Status.STOPPED, None)


def test_a_new_schedule_on_edit_is_planned(connection_a, alice, hourly):
    manual = make_import(connection_a, alice, table="users", name="manual")
    before = timezone.now()

    now_import = services.import_update(
        import_obj=manual, actor=alice, definition={"schedule_kind": "now"}
    )
    daily = services.import_update(
        import_obj=hourly,
        actor=alice,
        definition={"schedule_kind": "daily", "schedule_time": dt.time(4, 30)},
    )

    # "Once, now" on Edit starts the run with the save.
    assert (now_import.status, now_import.next_run_at) == (Import.Status.RUNNING, None)
    assert before <= ImportRun.objects.get(import_obj=manual).scheduled_for <= timezone.now()
    assert daily.status == Import.Status.SCHEDULED
    assert (daily.next_run_at.hour, daily.next_run_at.minute) == (4, 30)  # the workspace is UTC


def test_resume_schedule_of_a_stopped_import_plans_it_again_and_is_audited(hourly, alice):
    stopped = services.import_stop(import_obj=hourly, actor=alice)

    resumed = services.import_resume(import_obj=stopped, actor=alice)

    assert resumed.status == Import.Status.SCHEDULED
    assert resumed.next_run_at > timezone.now()
    entry = AuditEntry.objects.get(action="import.resumed")
    assert entry.details["from"] == "stopped"


def test_a_stopped_import_without_a_schedule_to_come_cannot_resume(connection_a, alice):
    manual = make_import(connection_a, alice, table="users", name="manual")
    services.import_stop(import_obj=manual, actor=alice)

    with pytest.raises(IllegalTransition, match="its schedule has no run to come"):
        services.import_resume(import_obj=manual, actor=alice)
    manual.refresh_from_db()
    assert manual.status == Import.Status.STOPPED
