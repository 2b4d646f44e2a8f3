"""A service-account key goes in (uploaded and pasted), is tested, rotated, used by a real
Celery worker and then fails; meanwhile everything the app lets out is captured: every log
record of this process and the worker's log, every response (headers, body, messages
cookie), every command sent to the test's Redis database (Celery messages decoded), and the
database itself. No private key, no piece of one and no access token may be in any of it."""

import functools
import json
import re

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import serializers
from django.core.files.uploadedfile import SimpleUploadedFile

from api.models import ApiToken
from audience.models import Profile
from connections import crypto
from connections.models import Connection
from imports import services as import_services
from imports.models import Import, ImportRun
from standins.emulator import EmulatorError
from tests.fixtures import waiting
from tests.fixtures.processes import start_worker, stop_worker
from tests.fixtures.standin_world import PROJECT
from tests.imports.test_create_flow import mapping_data, walk
from tests.security.capture import LogCapture, RecordingClient, RedisMonitor
from tests.security.needles import PEM_MARKER, key_needles, leaks, token_needles
from tests.test_access_sweep import api_endpoints, api_url, app_routes, fill
from workspaces.models import AuditEntry

pytestmark = pytest.mark.slow

BASE = "/w/acme/settings/partners/bigquery"
HTMX = {"HX-Request": "true"}
DATASET = "security_flow"
TABLE = "people"
ROWS = [{"user_id": f"p{i}", "email": f"p{i}@example.com", "plan": "pro"} for i in range(5)]
PASSWORD = "correct horse battery"
# Passed, or passed with the warning the stand-in's account earns (no Read Session User).
PASSED = re.compile(r'<span class="badge badge-(ok|warn)">Passed( with a warning)?</span>')
TOKENS = "/w/acme/settings/api-tokens/"
API = "/api/v1/workspaces/acme"
TOKEN_IN_PAGE = re.compile(r'value="(bqi_[0-9a-f]{12}_[A-Za-z0-9_-]{43})"')


def ensure_source(stack) -> None:
    for create in (
        lambda: stack.create_dataset(PROJECT, DATASET, location="EU"),
        lambda: stack.create_dataset(PROJECT, f"{DATASET}_imports_tmp", location="EU"),
        lambda: stack.create_table(
            PROJECT,
            DATASET,
            TABLE,
            [("user_id", "STRING"), ("email", "STRING"), ("plan", "STRING")],
            ROWS,
        ),
    ):
        try:
            create()
        except EmulatorError as error:  # kept from an earlier test of the session
            if "409" not in str(error):
                raise


wait_for = functools.partial(waiting.wait_for, timeout=90.0)


def finished(run_pk):
    run = ImportRun.objects.get(pk=run_pk)
    return run if run.status not in ImportRun.ACTIVE_STATUSES else None


def upload(key) -> SimpleUploadedFile:
    return SimpleUploadedFile("key.json", key.to_json().encode(), "application/json")


def create_import(client, connection, name):
    _, saved, _ = walk(
        client,
        connection,
        source={"source_kind": "table", "table": TABLE},
        target={
            "target": "profiles",
            "identity_column": "user_id",
            **mapping_data({}, columns=["user_id", "email", "plan"]),
        },
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "now"},
        name=name,
    )
    assert saved.status_code == 302, saved.status_code
    return Import.objects.get(name=name)


def run_now(client, import_obj) -> ImportRun:
    before = set(import_obj.runs.values_list("pk", flat=True))
    response = client.post(f"{BASE}/imports/{import_obj.pk}/run-now/", follow=True)
    assert response.status_code == 200
    (run,) = import_obj.runs.exclude(pk__in=before)
    return wait_for(lambda: finished(run.pk))


def database_text() -> str:
    """Every row of every table, with the sessions decoded (they are signed base64)."""
    parts = [
        serializers.serialize("json", model._default_manager.all())
        for model in apps.get_models()
        if model is not Session
    ]
    parts += [json.dumps(s.get_decoded()) for s in Session.objects.all()]
    return "\n".join(parts)


@pytest.fixture
def issued_tokens(stack, monkeypatch) -> dict[str, list[str]]:
    """Every access token the stand-in token server hands out (to this process and to the
    worker), and every signed JWT assertion it was given for one: an assertion can be
    exchanged for a token for up to an hour, so it is as secret as the token."""
    issued: dict[str, list[str]] = {"tokens": [], "assertions": []}
    grant = stack.token_server.grant

    def recording_grant(form):
        issued["assertions"].append(form.get("assertion", ""))
        info = grant(form)
        issued["tokens"].append(info.token)
        return info

    monkeypatch.setattr(stack.token_server, "grant", recording_grant)
    return issued


@pytest.mark.django_db(transaction=True)
def test_no_key_or_token_leaks_anywhere_through_the_whole_life_of_a_connection(
    google, google_worker_env, alice, issued_tokens, clean_broker, django_user_model, tmp_path
):
    stack = google.stack
    ensure_source(stack)
    stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=DATASET)
    scratch = f"{DATASET}_imports_tmp"  # the connection's scratch dataset (run results)
    stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT, dataset=scratch)
    uploaded = google.key
    pasted = stack.token_server.add_key(uploaded.email)
    rotated = stack.token_server.add_key(uploaded.email)
    keys = {"uploaded": uploaded, "pasted": pasted, "rotated": rotated}
    form = {"project_id": PROJECT, "dataset_id": DATASET}
    client = RecordingClient()
    admin_client = RecordingClient()
    worker_log = tmp_path / "worker.log"

    with LogCapture() as logs, RedisMonitor(settings.REDIS_URL) as monitor:
        worker = start_worker({**google_worker_env, "LOG_LEVEL": "DEBUG"}, worker_log)
        try:
            signed_in = client.post("/signin/", {"username": alice.email, "password": PASSWORD})
            assert signed_in.status_code == 302

            # Add Database by upload: Test Connection first (the htmx fragment), then save.
            tested = client.post(
                f"{BASE}/add/test/",
                {**form, "name": "Uploaded", "key_file": upload(uploaded)},
                headers=HTMX,
            )
            assert PASSED.search(tested.content.decode())
            saved = client.post(
                f"{BASE}/add/",
                {**form, "name": "Uploaded", "key_file": upload(uploaded)},
                follow=True,
            )
            assert "Connection “Uploaded” saved." in saved.content.decode()
            by_upload = Connection.objects.get(name="Uploaded")

            # Add Database by paste (Custom key): the page without htmx, then save.
            tested = client.post(
                f"{BASE}/add/test/", {**form, "name": "Pasted", "key_text": pasted.to_json()}
            )
            assert PASSED.search(tested.content.decode())
            saved = client.post(
                f"{BASE}/add/",
                {**form, "name": "Pasted", "key_text": pasted.to_json()},
                follow=True,
            )
            assert saved.status_code == 200
            by_paste = Connection.objects.get(name="Pasted")

            # Test Connection on the saved connections.
            for connection, headers in ((by_upload, HTMX), (by_paste, {})):
                client.post(f"{BASE}/{connection.pk}/test/", headers=headers, follow=True)
                connection.refresh_from_db()
                assert connection.status == Connection.Status.OK, connection.status_reason

            # Create Import through every step, then let the beat tick send it to the worker.
            import_a = create_import(client, by_upload, "People")
            import_b = create_import(client, by_paste, "People again")
            import_services.imports_dispatch_due()
            for import_obj in (import_a, import_b):
                run = wait_for(lambda i=import_obj: finished(i.runs.get().pk))
                assert run.status == ImportRun.Status.SUCCEEDED, run.error_message
            assert Profile.objects.count() == len(ROWS)

            # Rotate the uploaded connection's key with Edit; retire the old key at Google.
            edit = f"{BASE}/{by_upload.pk}/edit/"
            assert client.get(edit).status_code == 200
            tested = client.post(
                f"{edit}test/",
                {**form, "name": "Uploaded", "key_file": upload(rotated)},
                headers=HTMX,
            )
            assert PASSED.search(tested.content.decode())
            saved = client.post(
                edit, {**form, "name": "Uploaded", "key_text": rotated.to_json()}, follow=True
            )
            assert "The key was replaced." in saved.content.decode()
            stack.token_server.delete_key(uploaded.key_id)
            stack.token_server.revoke_tokens()
            client.post(f"{BASE}/{by_upload.pk}/test/", follow=True)
            by_upload.refresh_from_db()
            assert by_upload.status == Connection.Status.OK, by_upload.status_reason
            run = run_now(client, import_a)
            assert run.status == ImportRun.Status.SUCCEEDED, run.error_message

            # An API token, shown once; with it a run through the API and Test Connection.
            created = client.post(TOKENS, {"name": "Pipeline", "scope": "admin"})
            token_text = TOKEN_IN_PAGE.search(created.content.decode()).group(1)
            api = RecordingClient(headers={"Authorization": f"Bearer {token_text}"})
            started = api.post(f"{API}/imports/{import_b.pk}/runs/")
            assert started.status_code == 202, started.content
            api_run = wait_for(lambda: finished(started.json()["id"]))
            assert api_run.status == ImportRun.Status.SUCCEEDED, api_run.error_message
            tested = api.post(f"{API}/connections/{by_paste.pk}/test/")
            assert tested.json()["result"]["ok"] is True

            # The rotated key is deleted at Google: the next run fails, and so does the test.
            stack.token_server.delete_key(rotated.key_id)
            stack.token_server.revoke_tokens()
            failed_a = run_now(client, import_a)
            assert failed_a.status == ImportRun.Status.FAILED
            assert failed_a.error_message.startswith("Google rejected the key")
            client.post(f"{BASE}/{by_upload.pk}/test/", headers=HTMX)
            by_upload.refresh_from_db()
            assert by_upload.status == Connection.Status.FAILING

            # The pasted key's account loses its dataset role: its next run fails too.
            stack.revoke(uploaded.email, project=PROJECT, dataset=DATASET)
            stack.token_server.revoke_tokens()
            failed_b = run_now(client, import_b)
            assert failed_b.status == ImportRun.Status.FAILED
            client.post(f"{BASE}/{by_paste.pk}/test/", follow=True)
            by_paste.refresh_from_db()
            assert by_paste.status == Connection.Status.FAILING

            # Every page of the app, for both connections, their imports and failed runs.
            pages = 0
            for connection, import_obj, run in (
                (by_upload, import_a, failed_a),
                (by_paste, import_b, failed_b),
            ):
                objects = {
                    "connection": connection,
                    "import": import_obj,
                    "run": run,
                    "token": ApiToken.objects.get(),
                }
                for route, _ in app_routes():
                    if route.startswith("w/<slug:ws>/"):
                        client.get(fill(route, objects), follow=True)
                        pages += 1
                # Every endpoint of the API that answers GET, the same objects.
                for name, argument, view in api_endpoints():
                    if hasattr(view, "get"):
                        answer = api.get(api_url(name, argument, objects, "acme"))
                        assert answer.status_code == 200, (name, answer.status_code)
                        pages += 1
            # The failed connection's Test Connection through the API, then the token goes.
            api.post(f"{API}/connections/{by_upload.pk}/test/")
            token = ApiToken.objects.get()
            client.post(f"{TOKENS}{token.pk}/revoke/", follow=True)
            assert api.get(f"{API}/connections/").status_code == 401

            # The Django admin's pages about connections and the audit log.
            operator = django_user_model.objects.create_superuser(
                "ops", "ops@example.test", PASSWORD
            )
            admin_client.force_login(operator)
            admin_pages = [
                "/admin/connections/connection/",
                "/admin/workspaces/auditentry/",
                *(f"/admin/connections/connection/{c.pk}/change/" for c in (by_upload, by_paste)),
                *(
                    f"/admin/workspaces/auditentry/{pk}/change/"
                    for pk in AuditEntry.objects.values_list("pk", flat=True)
                ),
            ]
            for path in admin_pages:
                assert admin_client.get(path).status_code == 200, path
        finally:
            stop_worker(worker)

    responses = client.responses + admin_client.responses + api.responses
    worker_text = worker_log.read_text()
    payloads = monitor.payloads()
    celery_messages = monitor.messages()

    # The captures caught what they should have, so that the assertions below can fail.
    paths = [where for where, _ in responses]
    assert f"POST {BASE}/add/ 302" in paths  # the upload's response
    assert f"POST {BASE}/add/test/ 200" in paths
    assert pages >= 60 and len(responses) >= 130
    assert sum(where.startswith("GET /api/") for where, _ in api.responses) >= 18
    assert any(where.startswith("GET /w/acme/audit/export.csv") for where, _ in responses)
    run_messages = [
        m for m in celery_messages if m["headers"].get("task") == "imports.tasks.run_import"
    ]
    assert len(run_messages) >= 5  # two dispatched runs and three Run now
    sent_ids = {json.loads(m["body"])[0][0] for m in run_messages}
    assert {str(failed_a.pk), str(failed_b.pk)} <= sent_ids  # bodies decoded
    assert "imports.tasks.run_import" in worker_text and "succeeded" in worker_text
    assert f"run {failed_a.pk} failed" in worker_text  # the worker's own log lines are there
    assert any("connection test" in line for line in logs.lines)
    assert len(issued_tokens["tokens"]) >= 6
    admin_bodies = [text for _, text in admin_client.responses]
    assert sum("Uploaded" in text and "Key ID" in text for text in admin_bodies) >= 1

    # The API token is in the one answer that shows it, and nowhere else; its digest is in
    # the database only.
    api_token = {"API token": token_text, "API token digest": token.digest}
    shown = [where for where, text in responses if leaks(text, api_token)]
    assert shown == [f"POST {TOKENS} 200"], shown
    responses = [(where, text) for where, text in responses if where != shown[0]]
    assert token_text not in database_text()

    # Nothing leaked.
    needles = token_needles(issued_tokens["tokens"], issued_tokens["assertions"])
    needles.update(api_token)
    for label, key in keys.items():
        needles.update(key_needles(key.info, label))
    key_ids = {f"{label} private_key_id": key.key_id for label, key in keys.items()}
    found = []
    for where, text in responses:
        found += [(where, name) for name in leaks(text, needles)]
    found += [("log", name) for line in logs.lines for name in leaks(line, {**needles, **key_ids})]
    found += [("worker log", name) for name in leaks(worker_text, {**needles, **key_ids})]
    for payload in payloads:
        found += [("redis", name) for name in leaks(payload, {**needles, **key_ids})]
    for message in celery_messages:
        found += [
            ("celery message", name) for name in leaks(message["body"], {**needles, **key_ids})
        ]
    database_needles = {k: v for k, v in needles.items() if k != "API token digest"}
    found += [("database", name) for name in leaks(database_text(), database_needles)]
    assert not found, "leaked:\n" + "\n".join(
        f"{where}: {name}" for where, name in sorted(set(found))
    )

    # The key ID is shown on purpose (DESIGN.md §4: "for display"; Google publishes it with
    # the public certificate), but only where a person checks which key is in use.
    shows_key_id = (
        f"{BASE}/{by_upload.pk}/ 200",
        f"{BASE}/{by_upload.pk}/edit/ 200",
        f"{BASE}/{by_paste.pk}/ 200",
        f"{BASE}/{by_paste.pk}/edit/ 200",
        "/admin/connections/connection/",
        "/admin/workspaces/auditentry/",
        # The audit log records which key a connection was given or rotated to; the API's
        # connections carry it as their pages do.
        "/w/acme/audit/ 200",
        "/w/acme/audit/export.csv 200",
        f"{API}/audit/ 200",
        f"{API}/connections/ 200",
        f"{API}/connections/{by_upload.pk}/",
        f"{API}/connections/{by_paste.pk}/",
    )
    for where, text in responses:
        if leaks(text, key_ids):
            assert where.split(" ", 1)[1].startswith(shows_key_id), where

    # Stored: Fernet ciphertext only, of the rotated key; the admin never shows it.
    for connection, key in ((by_upload, rotated), (by_paste, pasted)):
        connection.refresh_from_db()
        assert connection.encrypted_key.startswith("gAAAAA")
        assert (
            leaks(connection.encrypted_key, {**key_needles(key.info, "key"), "id": key.key_id})
            == []
        )
        assert json.loads(crypto.decrypt_key(connection.encrypted_key)) == key.info
        assert not any(connection.encrypted_key in text for _, text in responses)
    assert not any(PEM_MARKER in text for _, text in admin_client.responses)
