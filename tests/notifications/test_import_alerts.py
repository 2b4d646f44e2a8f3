"""One alert per change of an import's health: judged from the runs in the database, kept
in a row so that restarts, repeats and concurrent workers send each alert once; and the
runner's run_finished hook that starts it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection as db_connection

from imports import services as import_services
from imports.models import ImportRun
from imports.run.execute import execute_run
from notifications import alerts, queue, services, tasks
from notifications.models import Alert, ImportAlertState
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.notifications.helpers import an_import, finished_run


def kinds() -> list[str]:
    return list(Alert.objects.order_by("created_at").values_list("kind", flat=True))


@pytest.fixture
def destinations(workspace_a, alice):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    services.recipient_add(workspace=workspace_a, actor=alice, email="data@acme.test")


@pytest.mark.django_db
def test_a_failing_import_sends_one_alert_over_many_failed_runs_then_one_recovered(
    workspace_a, alice, destinations
):
    import_obj = an_import(workspace_a, alice)

    for _ in range(5):
        finished_run(import_obj, "failed")
        alerts.import_alert_evaluate(import_id=import_obj.pk)
    assert kinds() == ["run.failed"]

    for _ in range(3):
        finished_run(import_obj, "succeeded")
        alerts.import_alert_evaluate(import_id=import_obj.pk)
    assert kinds() == ["run.failed", "import.recovered"]

    failed, recovered = Alert.objects.order_by("created_at")
    assert failed.summary == "Import “Nightly users” failed"
    assert recovered.summary == "Import “Nightly users” recovered: its run succeeded"
    assert recovered.payload["run"]["status"] == "succeeded"
    assert recovered.payload["error"] is None
    assert sorted(failed.deliveries.values_list("destination", flat=True)) == [
        "data@acme.test",
        "ops@acme.test",
    ]
    state = ImportAlertState.objects.get(pk=import_obj.pk)
    assert state.health == "ok"


@pytest.mark.django_db
def test_an_alert_goes_to_its_own_workspaces_destinations_only(
    workspace_a, alice, destinations, workspace_b, charlie
):
    services.recipient_add(workspace=workspace_b, actor=charlie, email="ops@globex.test")
    services.webhook_add(
        workspace=workspace_b,
        actor=charlie,
        name="Globex ops",
        url="https://hooks.globex.test/alerts",
        payload_format="json",
    )
    ours, _ = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="Acme ops",
        url="https://hooks.acme.test/alerts",
        payload_format="json",
    )
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")

    alert = alerts.import_alert_evaluate(import_id=import_obj.pk)

    assert sorted(alert.deliveries.values_list("destination", flat=True)) == sorted(
        ["data@acme.test", "ops@acme.test", str(ours)]
    )
    assert set(alert.deliveries.values_list("workspace", flat=True)) == {workspace_a.pk}


@pytest.mark.django_db
def test_judging_a_run_again_or_after_a_newer_one_sends_nothing(workspace_a, alice, destinations):
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")
    assert alerts.import_alert_evaluate(import_id=import_obj.pk) is not None
    assert alerts.import_alert_evaluate(import_id=import_obj.pk) is None  # a redelivery

    finished_run(import_obj, "cancelled")  # a Stop says nothing about health
    assert alerts.import_alert_evaluate(import_id=import_obj.pk) is None
    assert kinds() == ["run.failed"]


@pytest.mark.django_db
def test_a_failure_followed_by_a_cancelled_run_is_still_alerted(workspace_a, alice, destinations):
    """A Stop after a failed run (its message not judged yet) hides nothing: the failure is
    the newest run that says something about the import's health."""
    import_obj = an_import(workspace_a, alice)
    failed = finished_run(import_obj, "failed")
    finished_run(import_obj, "cancelled")

    alert = alerts.import_alert_evaluate(import_id=import_obj.pk)

    assert alert is not None and alert.payload["run"]["id"] == str(failed.pk)
    assert kinds() == ["run.failed"]


@pytest.mark.django_db
def test_a_first_success_sends_nothing_and_an_event_turned_off_is_not_sent(
    workspace_a, alice, destinations
):
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "succeeded")
    alerts.import_alert_evaluate(import_id=import_obj.pk)
    assert kinds() == []

    services.notification_events_update(
        workspace=workspace_a, actor=alice, events=["import.recovered"]
    )
    finished_run(import_obj, "failed")
    alerts.import_alert_evaluate(import_id=import_obj.pk)
    assert kinds() == []  # run.failed is off; the state still moved to failing
    finished_run(import_obj, "succeeded")
    alerts.import_alert_evaluate(import_id=import_obj.pk)
    assert kinds() == ["import.recovered"]


@pytest.mark.django_db
def test_the_sweep_judges_a_run_whose_message_was_lost(workspace_a, alice, destinations):
    import_obj = an_import(workspace_a, alice)
    other = an_import(workspace_a, alice, name="Purchases")
    finished_run(import_obj, "failed")
    finished_run(other, "succeeded")

    assert alerts.imports_alert_catch_up() == 2
    assert kinds() == ["run.failed"]
    assert alerts.imports_alert_catch_up() == 0  # both judged: nothing left to look at


@pytest.mark.django_db(transaction=True)
def test_two_workers_judging_the_same_failure_at_once_send_one_alert(
    workspace_a, alice, destinations
):
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")
    barrier = threading.Barrier(4)
    errors = []

    def judge():
        try:
            barrier.wait()
            alerts.import_alert_evaluate(import_id=import_obj.pk)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=judge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert kinds() == ["run.failed"]


@pytest.mark.django_db
def test_deliveries_are_handed_to_the_workers_only_once_the_alert_is_committed(
    workspace_a, alice, destinations, monkeypatch, django_capture_on_commit_callbacks
):
    """A worker given a delivery before its row is committed finds nothing to send: the
    alert would wait for the sweep, or go out although the transaction rolled back."""
    enqueued = []
    monkeypatch.setattr(
        queue,
        "send_task_or_log",
        lambda name, *args, **kw: enqueued.append((name, *args)) or True,
    )
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")

    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.import_alert_evaluate(import_id=import_obj.pk)
        assert enqueued == []

    assert sorted(enqueued) == sorted(
        (queue.DELIVER, str(pk)) for pk in alert.deliveries.values_list("pk", flat=True)
    )
    assert len(enqueued) == 2


@pytest.mark.django_db
def test_the_sweep_sends_the_recovery_whose_message_was_lost_after_a_failure_was_alerted(
    workspace_a, alice, destinations
):
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")
    alerts.import_alert_evaluate(import_id=import_obj.pk)
    finished_run(import_obj, "succeeded")  # its run_finished message was lost

    assert alerts.imports_alert_catch_up() == 1
    assert kinds() == ["run.failed", "import.recovered"]


@pytest.mark.django_db
def test_the_sweep_leaves_out_imports_without_a_finished_run(workspace_a, alice, destinations):
    never_run = an_import(workspace_a, alice, name="Never run")
    finished_run(an_import(workspace_a, alice, name="Stopped"), "cancelled")
    finished_run(an_import(workspace_a, alice, name="Purchases"), "failed")

    assert [alerts.imports_alert_catch_up(limit=1) for _ in range(2)] == [1, 0]
    assert kinds() == ["run.failed"]
    assert not ImportAlertState.objects.filter(pk=never_run.pk).exists()


@pytest.mark.django_db
def test_the_sweep_judges_an_import_whose_judge_stopped_before_recording_a_run(
    workspace_a, alice, destinations
):
    """A worker that died after making the import's state row, before judging its run,
    leaves a row with no run recorded: the sweep judges that import too."""
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")
    ImportAlertState.objects.create(import_obj=import_obj)

    assert alerts.imports_alert_catch_up() == 1
    assert kinds() == ["run.failed"]


@pytest.mark.django_db
def test_the_sweep_looks_back_a_day_and_judges_at_most_its_limit_of_imports_at_a_time(
    workspace_a, alice, destinations
):
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        stale = an_import(workspace_a, alice, name="Untouched for two days")
        finished_run(stale, "failed")
        clock.shift(dt.timedelta(hours=25))
        for name in ("Users", "Events", "Purchases"):
            finished_run(an_import(workspace_a, alice, name=name), "failed")
        clock.shift(dt.timedelta(hours=23))

        assert [alerts.imports_alert_catch_up(limit=2) for _ in range(3)] == [2, 1, 0]

    assert kinds() == ["run.failed"] * 3
    assert not ImportAlertState.objects.filter(pk=stale.pk).exists()


class PausingJudges:
    """Judges of one import in threads, each stopped after it has read the newest run and
    the health last alerted (its first reading only) until `finish`: two workers handed
    two runs' messages at once, interleaved as a test needs."""

    def __init__(self, monkeypatch) -> None:
        self.real = alerts._import_state
        self.has_read: dict[str, threading.Event] = {}
        self.go: dict[str, threading.Event] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.errors: list[Exception] = []
        monkeypatch.setattr(alerts, "_import_state", self._import_state)

    def _import_state(self, import_id):
        state = self.real(import_id)
        name = threading.current_thread().name
        if name in self.go and not self.has_read[name].is_set():
            self.has_read[name].set()
            self.go[name].wait(30)
        return state

    def start(self, name: str, import_id) -> None:
        self.has_read[name], self.go[name] = threading.Event(), threading.Event()

        def judge():
            try:
                alerts.import_alert_evaluate(import_id=import_id)
            except Exception as error:  # noqa: BLE001 - reported by finish
                self.errors.append(error)
            finally:
                db_connection.close()

        self.threads[name] = threading.Thread(target=judge, name=name)
        self.threads[name].start()
        assert self.has_read[name].wait(30)

    def finish(self, name: str) -> None:
        self.go[name].set()
        self.threads[name].join(30)
        assert not self.threads[name].is_alive() and self.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_judge_that_lost_the_race_to_an_older_failure_judges_again_and_sends_the_recovery(
    workspace_a, alice, destinations, monkeypatch
):
    import_obj = an_import(workspace_a, alice)
    judges = PausingJudges(monkeypatch)
    finished_run(import_obj, "failed")
    judges.start("failed run's judge", import_obj.pk)
    finished_run(import_obj, "succeeded")
    judges.start("success's judge", import_obj.pk)  # read the same health: ok

    judges.finish("failed run's judge")  # claims the change to failing
    judges.finish("success's judge")  # finds the health changed under it: judges again

    assert kinds() == ["run.failed", "import.recovered"]
    assert ImportAlertState.objects.get(pk=import_obj.pk).health == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_judged_after_a_newer_success_was_recorded_sends_nothing(
    workspace_a, alice, destinations, monkeypatch
):
    import_obj = an_import(workspace_a, alice)
    judges = PausingJudges(monkeypatch)
    finished_run(import_obj, "failed")
    judges.start("failed run's judge", import_obj.pk)
    success = finished_run(import_obj, "succeeded")
    judges.start("success's judge", import_obj.pk)

    judges.finish("success's judge")  # ok and still ok: records the success, sends nothing
    judges.finish("failed run's judge")  # its run is older than the one recorded

    assert kinds() == []
    state = ImportAlertState.objects.get(pk=import_obj.pk)
    assert (state.health, state.last_run_id) == ("ok", success.pk)


@pytest.mark.django_db
def test_a_judge_that_read_its_run_before_a_newer_one_was_recorded_sends_nothing(
    workspace_a, alice, destinations, monkeypatch
):
    """Between reading the newest run and reading the health last alerted, another worker
    may record a newer run: the older one is not judged against it."""
    import_obj = an_import(workspace_a, alice)
    finished_run(import_obj, "failed")
    newest_run = alerts._latest_decisive_run
    overtaking = []

    def newest_then_overtaken(import_id):
        run = newest_run(import_id)
        if not overtaking:  # another worker finishes and judges a newer success meanwhile
            overtaking.append(finished_run(import_obj, "succeeded"))
            alerts.import_alert_evaluate(import_id=import_id)
        return run

    monkeypatch.setattr(alerts, "_latest_decisive_run", newest_then_overtaken)

    assert alerts.import_alert_evaluate(import_id=import_obj.pk) is None
    assert kinds() == []
    state = ImportAlertState.objects.get(pk=import_obj.pk)
    assert (state.health, state.last_run_id) == ("ok", overtaking[0].pk)


# -- through the runner -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_runner_announces_each_finished_run_and_alerts_follow_the_changes(
    google,
    bq_connection,
    alice,
    workspace_a,
    smtp_settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """Run → commit → run_finished → judging → deliveries, in this process: the broker's
    part (enqueueing) calls the task at once instead. The mail goes to a real SMTP server."""

    def run_at_once(name, *args, countdown=None):
        return getattr(tasks, name.rpartition(".")[2])(*args) or True  # the task itself

    monkeypatch.setattr(queue, "send_task_or_log", run_at_once)
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table, schedule_kind="hourly")
    announced = []

    def listen(**kwargs):
        announced.append((kwargs["status"], kwargs["import_id"]))

    from imports.signals import run_finished

    run_finished.connect(listen)
    try:

        def run_once():
            with django_capture_on_commit_callbacks(execute=True):
                run = import_services.import_run_now(import_obj=import_obj, actor=alice)
            with django_capture_on_commit_callbacks(execute=True):
                status = execute_run(str(run.pk))
            return status

        google.stack.token_server.disable_account(google.key.email)
        assert [run_once() for _ in range(3)] == [ImportRun.Status.FAILED] * 3
        google.stack.token_server.disable_account(google.key.email, disabled=False)
        assert run_once() == ImportRun.Status.SUCCEEDED
    finally:
        run_finished.disconnect(listen)

    assert announced == [("failed", str(import_obj.pk))] * 3 + [("succeeded", str(import_obj.pk))]
    assert kinds() == ["run.failed", "import.recovered"]
    subjects = [str(message["Subject"]).strip() for message in smtp_settings.messages]
    assert subjects == [
        "[Acme] Import “Import " + table + "” failed",
        "[Acme] Import “Import " + table + "” recovered: its run succeeded",
    ]
    body = smtp_settings.messages[0].get_content()
    assert f"The service account {google.key.email} is deleted or disabled" in body
    assert "/imports/runs/" in body


@pytest.mark.django_db
def test_a_run_above_the_rejection_threshold_alerts_as_failed_once_and_one_within_it_recovers(
    google,
    bq_connection,
    alice,
    workspace_a,
    smtp_settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    def run_at_once(name, *args, countdown=None):
        return getattr(tasks, name.rpartition(".")[2])(*args) or True

    monkeypatch.setattr(queue, "send_task_or_log", run_at_once)
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    rows = user_rows(0, 10)
    for row in rows[:6]:
        row["user_id"] = None  # 60 % rejected
    import_obj = make_import(bq_connection, alice, table=new_table(google.stack, USER_SCHEMA, rows))

    def run_once():
        with django_capture_on_commit_callbacks(execute=True):
            run = import_services.import_run_now(import_obj=import_obj, actor=alice)
        with django_capture_on_commit_callbacks(execute=True):
            return execute_run(str(run.pk))

    announced = []

    def listen(**kwargs):
        announced.append(kwargs["status"])

    from imports.signals import run_finished

    run_finished.connect(listen)
    try:
        assert [run_once() for _ in range(2)] == [ImportRun.Status.FAILED] * 2
        import_obj.refresh_from_db()
        import_services.import_update(
            import_obj=import_obj, actor=alice, definition={"rejection_threshold": 60}
        )
        assert run_once() == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
        assert run_once() == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
    finally:
        run_finished.disconnect(listen)

    # Listeners hear the status the run ended in, a failure by the threshold included.
    assert announced == ["failed"] * 2 + ["succeeded_with_rejections"] * 2
    assert kinds() == ["run.failed", "import.recovered"]
    body = smtp_settings.messages[0].get_content()
    assert "Rejected 6 of 10 rows (60 %), above this import's 50 % threshold" in body
    assert "Rows unchanged: 0" in body


@pytest.mark.django_db
def test_a_failing_receiver_never_fails_the_run(
    google, bq_connection, alice, django_capture_on_commit_callbacks, monkeypatch
):
    """A receiver that raises (a broker that refuses, a bug) is logged; the run's outcome
    stands."""

    def broken(**kwargs):
        raise RuntimeError("the broker is on fire")

    from imports.signals import run_finished

    run_finished.connect(broken)
    enqueued = []
    monkeypatch.setattr(queue, "send_task_or_log", lambda name, *args, **kw: enqueued.append(args))
    try:
        table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
        import_obj = make_import(bq_connection, alice, table=table)
        run = import_services.import_run_now(import_obj=import_obj, actor=alice)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            status = execute_run(str(run.pk))
    finally:
        run_finished.disconnect(broken)

    assert status == ImportRun.Status.SUCCEEDED
    assert len(callbacks) == 1
    assert enqueued == [(str(import_obj.pk),)]  # the other receiver still ran
    run.refresh_from_db()
    assert run.status == ImportRun.Status.SUCCEEDED
