"""The daily check of each connection (claimed once a day, a few per tick, Test Connection
against the stand-ins, an alert on a change) and the age of each key."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import time_machine
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from connections import services as connection_services
from connections.keyfile import parse_service_account_key
from connections.models import Connection
from notifications import queue, services, tasks, watch
from notifications.models import Alert, ConnectionWatch
from tests.factories import GOOGLE_TOKEN_URI, key_info
from tests.fixtures.connections import make_connection

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def kinds() -> list[str]:
    return list(Alert.objects.order_by("created_at").values_list("kind", flat=True))


@pytest.mark.django_db
def test_each_connection_is_claimed_once_a_day_oldest_first_a_few_per_tick(workspace_a, alice):
    with time_machine.travel(START, tick=False) as clock:
        made = [make_connection(workspace_a, alice, name=f"c{n}") for n in range(5)]
        ticks = [watch.connection_checks_claim(limit=2) for _ in range(4)]

        assert [len(tick) for tick in ticks] == [2, 2, 1, 0]
        assert sorted(sum(ticks, [])) == sorted(str(c.pk) for c in made)

        clock.shift(dt.timedelta(hours=23, minutes=59))
        assert watch.connection_checks_claim(limit=10) == []
        clock.shift(dt.timedelta(minutes=1))
        assert watch.connection_checks_claim(limit=2) == ticks[0]  # a day later, oldest first


@pytest.mark.django_db
def test_a_never_checked_connection_comes_first_then_the_longest_unchecked(workspace_a, alice):
    with time_machine.travel(START, tick=False) as clock:
        older = make_connection(workspace_a, alice, name="Checked first")
        assert watch.connection_checks_claim(limit=5) == [str(older.pk)]
        clock.shift(dt.timedelta(hours=1))
        newer = make_connection(workspace_a, alice, name="Checked an hour later")
        assert watch.connection_checks_claim(limit=5) == [str(newer.pk)]
        clock.shift(dt.timedelta(days=2))
        new = make_connection(workspace_a, alice, name="Never checked")

        claimed = [watch.connection_checks_claim(limit=1) for _ in range(3)]

    assert claimed == [[str(new.pk)], [str(older.pk)], [str(newer.pk)]]


@pytest.mark.django_db(transaction=True)
def test_two_beats_claiming_at_once_never_take_the_same_connection(workspace_a, alice):
    for n in range(12):
        make_connection(workspace_a, alice, name=f"c{n}")
    watch.connection_watches_ensure()
    claimed: list[list[str]] = []
    barrier = threading.Barrier(3)

    def tick():
        try:
            barrier.wait()
            claimed.append(watch.connection_checks_claim(limit=5))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = sum(claimed, [])
    assert len(every) == len(set(every)) == 12


@pytest.mark.django_db(transaction=True)
def test_a_beat_passes_over_a_connection_another_beat_holds_instead_of_waiting(workspace_a, alice):
    held = make_connection(workspace_a, alice, name="Held")
    free = make_connection(workspace_a, alice, name="Free")
    watch.connection_watches_ensure()
    locked, release = threading.Event(), threading.Event()

    def other_beat():
        try:
            with transaction.atomic():
                ConnectionWatch.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(30)
        finally:
            db_connection.close()

    holder = threading.Thread(target=other_beat)
    holder.start()
    try:
        assert locked.wait(30)
        with db_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting would fail, not hang
        assert watch.connection_checks_claim(limit=5) == [str(free.pk)]
    finally:
        release.set()
        holder.join(30)
        with db_connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


@pytest.mark.django_db
def test_the_daily_check_of_a_connection_deleted_while_it_was_tested_records_nothing(
    google, bq_connection, monkeypatch
):
    tested = watch.run_saved_connection_test

    def tested_then_deleted(connection):
        result = tested(connection)
        Connection.objects.filter(pk=connection.pk).delete()
        return result

    monkeypatch.setattr(watch, "run_saved_connection_test", tested_then_deleted)

    assert watch.connection_check_run(connection_id=bq_connection.pk) is None
    assert not Connection.objects.exists()
    assert kinds() == []


@pytest.mark.django_db
def test_the_daily_check_alerts_when_a_connection_starts_failing_and_when_it_passes_again(
    google, bq_connection, workspace_a, alice
):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")

    assert watch.connection_check_run(connection_id=bq_connection.pk) is None  # healthy
    bq_connection.refresh_from_db()
    assert bq_connection.status == Connection.Status.OK and bq_connection.last_tested_at

    google.stack.token_server.disable_account(google.key.email)
    failing = watch.connection_check_run(connection_id=bq_connection.pk)
    assert watch.connection_check_run(connection_id=bq_connection.pk) is None  # still failing
    google.stack.token_server.disable_account(google.key.email, disabled=False)
    recovered = watch.connection_check_run(connection_id=bq_connection.pk)

    assert kinds() == ["connection.failing", "connection.recovered"]
    assert failing.summary == "Connection “Warehouse” is failing its daily check"
    assert failing.payload["error"].startswith("Authentication: ")
    assert {"check": "Authentication", "status": "fail"}.items() <= failing.payload["checks"][
        1
    ].items()
    assert failing.payload["checks"][1]["detail"]  # what the check found, for the reader
    assert recovered.summary == "Connection “Warehouse” passes its daily check again"
    assert recovered.payload["error"] is None
    connection_page = f"/w/acme/settings/partners/bigquery/{bq_connection.pk}/"
    assert failing.payload["links"]["connection"].endswith(connection_page)
    assert recovered.payload["links"]["connection"].endswith(connection_page)
    assert ConnectionWatch.objects.get(pk=bq_connection.pk).health == "ok"
    bq_connection.refresh_from_db()
    assert bq_connection.status == Connection.Status.OK


@pytest.mark.django_db
def test_a_check_that_lost_the_race_to_another_check_of_its_connection_sends_nothing(
    workspace_a, alice, settings, monkeypatch
):
    from cryptography.fernet import Fernet

    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    connection = make_connection(workspace_a, alice)
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # every check now fails
    judged = watch.connection_event
    other_check = []

    def judged_while_another_check_records(previous, current):
        if not other_check:  # a second worker checks the same connection meanwhile
            other_check.append("started")
            other_check.append(watch.connection_check_run(connection_id=connection.pk))
        return judged(previous, current)

    monkeypatch.setattr(watch, "connection_event", judged_while_another_check_records)

    assert watch.connection_check_run(connection_id=connection.pk) is None
    assert other_check[1].kind == "connection.failing"
    assert kinds() == ["connection.failing"]
    assert ConnectionWatch.objects.get(pk=connection.pk).health == "failing"


def replace_key(connection, user, info):
    key = parse_service_account_key(json.dumps(info), allowed_token_uris=[GOOGLE_TOKEN_URI])
    return connection_services.connection_update(
        connection=connection,
        actor=user,
        name=connection.name,
        project_id=connection.project_id,
        dataset_id=connection.dataset_id,
        key=key,
    )


@pytest.mark.django_db
def test_a_key_older_than_90_days_is_alerted_once_and_a_new_key_starts_again(workspace_a, alice):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    info = key_info()
    with time_machine.travel(START, tick=False) as clock:
        connection = make_connection(workspace_a, alice, info=info)
        clock.shift(dt.timedelta(days=30))
        make_connection(workspace_a, alice, name="Newer")
        clock.shift(dt.timedelta(days=59))
        assert watch.key_age_alerts_raise() == 0

        clock.shift(dt.timedelta(days=1))
        assert watch.key_age_alerts_raise() == 1
        assert watch.key_age_alerts_raise() == 0  # once per key

        replace_key(connection, alice, info)  # the same key pasted again is not a new key
        connection.refresh_from_db()
        assert connection.key_set_at == START
        assert watch.key_age_alerts_raise() == 0
        replace_key(connection, alice, key_info())  # rotated
        connection.refresh_from_db()
        assert connection.key_set_at == timezone.now()
        clock.shift(dt.timedelta(days=30))
        assert watch.key_age_alerts_raise() == 1  # "Newer" is 90 days old now
        clock.shift(dt.timedelta(days=59))
        assert watch.key_age_alerts_raise() == 0
        clock.shift(dt.timedelta(days=1))
        assert watch.key_age_alerts_raise() == 1  # the new key

    alerts = list(Alert.objects.order_by("created_at"))
    assert [a.kind for a in alerts] == ["connection.key_old"] * 3
    assert alerts[0].summary == (
        "The service-account key of connection “Warehouse” was saved 90 days ago: time to rotate it"
    )
    assert alerts[0].payload["connection"]["private_key_id"] == info["private_key_id"]
    assert alerts[0].payload["connection"]["key_age_days"] == 90
    assert alerts[0].payload["connection"]["client_email"] == info["client_email"]
    assert alerts[0].payload["connection"]["key_saved_at"] == START.isoformat()
    assert "private_key" not in json.dumps(alerts[0].payload).replace("private_key_id", "")


@pytest.mark.django_db
def test_each_tick_spreads_its_share_of_the_daily_checks_over_the_tick(
    workspace_a, alice, settings, monkeypatch
):
    settings.CONNECTION_CHECKS_PER_TICK = 3
    settings.CONNECTION_CHECK_INTERVAL_SECONDS = 300
    for n in range(4):
        make_connection(workspace_a, alice, name=f"c{n}")
    enqueued = []
    monkeypatch.setattr(
        queue,
        "send_task_or_log",
        lambda name, *args, countdown=None: enqueued.append((name, countdown)) or True,
    )

    assert tasks.check_connections() == 3

    assert enqueued == [(queue.CHECK_CONNECTION, c) for c in (None, 100, 200)]
    settings.CONNECTION_CHECKS_PER_TICK = 0
    assert tasks.check_connections() == 0


@pytest.mark.django_db
def test_a_connection_whose_key_cannot_be_decrypted_fails_its_daily_check(
    workspace_a, alice, settings
):
    from cryptography.fernet import Fernet

    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    connection = make_connection(workspace_a, alice)
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # the old key was dropped

    alert = watch.connection_check_run(connection_id=connection.pk)

    assert alert.kind == "connection.failing"
    assert alert.payload["error"].startswith(
        "Service account key: The stored key cannot be decrypted"
    )
    connection.refresh_from_db()
    assert connection.last_test_result["summary"] == alert.payload["error"]
    assert connection.status == Connection.Status.FAILING  # its page says so too
    key_check = connection.last_test_result["checks"][0]
    assert (key_check["id"], key_check["status"]) == ("key", "fail")
    assert key_check["fix"].startswith("Edit the connection and upload its service account key")


@pytest.mark.django_db
def test_key_age_alerts_go_out_oldest_key_first_a_limited_number_at_a_time(workspace_a, alice):
    with time_machine.travel(START, tick=False) as clock:
        make_connection(workspace_a, alice, name="Older")
        clock.shift(dt.timedelta(days=1))
        make_connection(workspace_a, alice, name="Newer")
        clock.shift(dt.timedelta(days=100))

        assert watch.key_age_alerts_raise(limit=1) == 1
        first = Alert.objects.get()
        assert [watch.key_age_alerts_raise(limit=1) for _ in range(2)] == [1, 0]

    assert first.payload["connection"]["name"] == "Older"
    assert sorted(a.payload["connection"]["name"] for a in Alert.objects.all()) == [
        "Newer",
        "Older",
    ]
