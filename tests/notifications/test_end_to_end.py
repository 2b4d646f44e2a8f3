"""Alerts end to end with a real Celery worker on the real Redis: imports run against the
Google stand-ins, mail goes to a real SMTP server on loopback, webhooks to a real HTTP
receiver on loopback that checks every signature."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from connections.models import Connection
from imports import services as import_services
from imports.models import ImportRun
from notifications import services, tasks
from notifications.models import Alert, Delivery
from tests.fixtures.waiting import wait_for
from tests.imports.conftest import USER_SCHEMA, make_import, new_table, user_rows
from tests.notifications.conftest import alerts_worker_env
from tests.security.capture import RedisMonitor
from tests.security.needles import key_needles, leaks

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(google_worker_env, smtp_server):
    return {**google_worker_env, **alerts_worker_env(smtp_server)}


def finished(run_pk):
    run = ImportRun.objects.get(pk=run_pk)
    return run if run.status not in ImportRun.ACTIVE_STATUSES else None


def run_now_and_wait(import_obj, user) -> ImportRun:
    run = import_services.import_run_now(import_obj=import_obj, actor=user)
    return wait_for(lambda: finished(run.pk))


def delivered(count: int):
    def check():
        rows = list(Delivery.objects.filter(status=Delivery.Status.DELIVERED))
        return rows if len(rows) >= count else None

    return check


def subjects(smtp_server) -> list[str]:
    return [str(message["Subject"]).strip() for message in smtp_server.messages]


def test_an_hourly_import_failing_three_times_sends_one_alert_then_one_recovered(
    celery_worker,
    google,
    bq_connection,
    workspace_a,
    alice,
    smtp_server,
    webhook_receiver,
    private_webhooks,
):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    _, secret = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="Ops",
        url=webhook_receiver.url,
        payload_format="json",
    )
    webhook_receiver.secret = secret
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 20))
    import_obj = make_import(
        bq_connection, alice, table=table, name="Hourly users", schedule_kind="hourly"
    )

    google.stack.token_server.disable_account(google.key.email)
    first = run_now_and_wait(import_obj, alice)
    # Alerted (mail and webhook) before the next runs: the evaluation judges the newest
    # finished run, which would be a later one if it ran after them.
    wait_for(delivered(2))
    runs = [first, *(run_now_and_wait(import_obj, alice) for _ in range(2))]
    assert [run.status for run in runs] == ["failed"] * 3
    google.stack.token_server.disable_account(google.key.email, disabled=False)
    assert run_now_and_wait(import_obj, alice).status == "succeeded"
    wait_for(delivered(4))

    assert list(Alert.objects.order_by("created_at").values_list("kind", flat=True)) == [
        "run.failed",
        "import.recovered",
    ]
    assert subjects(smtp_server) == [
        "[Acme] Import “Hourly users” failed",
        "[Acme] Import “Hourly users” recovered: its run succeeded",
    ]
    assert smtp_server.inbox.envelopes[0].rcpt_tos == ["ops@acme.test"]
    failed_mail = smtp_server.messages[0].get_content()
    assert "is deleted or disabled" in failed_mail
    assert (
        f"https://imports.example.test/w/acme/settings/partners/bigquery/imports/runs/{runs[0].pk}/"
        in failed_mail
    )

    assert [r.signature_ok for r in webhook_receiver.received] == [True, True]
    bodies = [r.json() for r in webhook_receiver.received]
    assert [b["event"] for b in bodies] == ["run.failed", "import.recovered"]
    assert bodies[0]["run"]["id"] == str(runs[0].pk)  # the run that changed the state
    assert bodies[0]["import"]["name"] == "Hourly users"


def test_a_hanging_webhook_does_not_hold_up_the_run_and_is_retried_and_recorded(
    google,
    bq_connection,
    workspace_a,
    alice,
    webhook_receiver,
    private_webhooks,
    worker_env,
    clean_broker,
    tmp_path,
):
    from tests.fixtures.processes import start_worker, stop_worker

    _, secret = services.webhook_add(
        workspace=workspace_a, actor=alice, name="", url=webhook_receiver.url, payload_format="json"
    )
    webhook_receiver.secret = secret
    webhook_receiver.plan = ["hang"]  # then 200
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 5))
    import_obj = make_import(bq_connection, alice, table=table)
    google.stack.token_server.disable_account(google.key.email)
    worker = start_worker(
        {**worker_env, "NOTIFICATIONS_WEBHOOK_READ_TIMEOUT": "2"}, tmp_path / "worker.log"
    )
    try:
        run = import_services.import_run_now(import_obj=import_obj, actor=alice)
        assert webhook_receiver.hanging.wait(60), "the webhook was never called"
        # The receiver holds the delivery: the run ended before it was even called.
        run.refresh_from_db()
        assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
        assert run.finished_at.timestamp() <= webhook_receiver.received[0].at

        sent = wait_for(lambda: Delivery.objects.filter(status="delivered").first())
    finally:
        webhook_receiver.release()
        google.stack.token_server.disable_account(google.key.email, disabled=False)
        stop_worker(worker)

    assert sent.attempts == 2
    assert len(webhook_receiver.received) == 2
    assert all(r.signature_ok for r in webhook_receiver.received)
    log = worker.log_path.read_text()
    assert f"delivery {sent.pk} attempt 1: 127.0.0.1 did not answer within 2 s." in log


def test_send_test_from_the_page_reaches_the_inbox_and_the_webhook(
    celery_worker,
    workspace_a,
    alice,
    alice_client,
    smtp_server,
    webhook_receiver,
    private_webhooks,
):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    webhook, secret = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="Ops",
        url=webhook_receiver.url,
        payload_format="json",
    )
    webhook_receiver.secret = secret
    base = "/w/acme/settings/notifications"

    assert alice_client.post(f"{base}/recipients/{recipient.pk}/test/").status_code == 302
    assert alice_client.post(f"{base}/webhooks/{webhook.pk}/test/").status_code == 302
    wait_for(delivered(2))

    assert subjects(smtp_server) == [
        "[Acme] Test alert sent by alice@acme.test: alerts reach this destination"
    ]
    [request] = webhook_receiver.received
    assert request.signature_ok and request.json()["event"] == "test"
    page = alice_client.get(f"{base}/").content.decode()
    assert page.count(">Delivered</span>") == 2


def test_the_daily_check_runs_in_a_worker_with_only_ids_in_the_broker_and_alerts_by_email(
    celery_worker, google, bq_connection, workspace_a, alice, smtp_server
):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    google.stack.token_server.disable_account(google.key.email)
    try:
        with RedisMonitor(settings.REDIS_URL) as monitor:
            assert tasks.check_connections() == 1  # the beat's tick: claims, then enqueues
            wait_for(lambda: smtp_server.messages)
    finally:
        google.stack.token_server.disable_account(google.key.email, disabled=False)

    assert subjects(smtp_server) == ["[Acme] Connection “Warehouse” is failing its daily check"]
    bq_connection.refresh_from_db()
    assert bq_connection.status == Connection.Status.FAILING
    checks = [m for m in monitor.messages() if m["headers"].get("task", "").endswith("connection")]
    # (each message is seen twice: queued, then held unacked while the worker runs it)
    assert {tuple(json.loads(m["body"])[0]) for m in checks} == {(str(bq_connection.pk),)}
    assert leaks(b"\n".join(monitor.payloads()), key_needles(google.key.info, "key")) == []
    assert tasks.check_connections() == 0  # checked today
