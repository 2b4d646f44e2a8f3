"""Test Connection, end to end: the real google-auth and google-cloud-bigquery talk HTTP to
the local stand-ins (token endpoint, permission gate, BigQuery emulator)."""

import datetime as dt
import json
import re
import socket
import time

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from connections import check as checklist
from connections.bigquery import AccessEntry
from connections.google_errors import GoogleCallError, GoogleErrorKind
from connections.models import Connection
from standins.policy import CRM_API
from tests.connections.conftest import make_connection
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT

TEST_URL = "/w/acme/settings/partners/bigquery/add/test/"
HTMX = {"HX-Request": "true"}


def run_test(client, google, *, key=None, project=PROJECT, dataset=DATASET, key_json=None):
    started = time.monotonic()
    response = client.post(
        TEST_URL,
        {
            "name": "Warehouse",
            "project_id": project,
            "dataset_id": dataset,
            "key_text": key_json or (key or google.key).to_json(),
        },
        headers=HTMX,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    result = response.context["result"]
    result["elapsed"] = elapsed
    result["html"] = response.content.decode()
    return result


def statuses(result):
    return {c["id"]: c["status"] for c in result["checks"]}


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def check(result, check_id):
    return next(c for c in result["checks"] if c["id"] == check_id)


def test_all_checks_pass(alice_client, google):
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)

    result = run_test(alice_client, google)

    assert statuses(result) == {
        "key": "pass", "auth": "pass", "dataset": "pass", "job_user": "pass", "data_editor": "pass",
        "scratch": "pass", "read_session": "pass",
    }  # fmt: skip
    assert result["ok"] is True
    assert result["location"] == LOCATION
    assert check(result, "auth")["detail"] == f"Signed in to Google as {google.key.email}."
    assert f"found in location {LOCATION}" in check(result, "dataset")["detail"]
    assert "Test Connection" in result["html"] and "Passed" in result["html"]
    assert not Connection.objects.exists()  # testing before saving saves nothing


def test_a_deleted_key_is_reported_with_how_to_make_a_new_one(alice_client, google):
    google.stack.token_server.delete_key(google.key.key_id)

    result = run_test(alice_client, google)

    assert statuses(result) == {
        "key": "pass", "auth": "fail", "dataset": "skipped", "job_user": "skipped",
        "data_editor": "skipped", "scratch": "skipped", "read_session": "skipped",
    }  # fmt: skip
    auth = check(result, "auth")
    assert auth["detail"] == "Google rejected the key: it was deleted or replaced in Google Cloud."
    assert f"Create a new JSON key for {google.key.email}" in auth["fix"]


def test_a_disabled_account(alice_client, google):
    google.stack.token_server.disable_account(google.key.email)

    auth = check(run_test(alice_client, google), "auth")

    assert auth["status"] == "fail"
    assert auth["detail"] == f"The service account {google.key.email} is deleted or disabled."
    assert auth["fix"].startswith(f"Enable {google.key.email}")


def test_a_deleted_account(alice_client, google):
    google.stack.token_server.delete_account(google.key.email)

    auth = check(run_test(alice_client, google), "auth")

    assert auth["detail"] == f"The service account {google.key.email} is deleted or disabled."


def test_clock_skew(alice_client, google, monkeypatch):
    monkeypatch.setattr(google.stack.token_server, "clock", lambda: time.time() + 2 * 3600)

    auth = check(run_test(alice_client, google), "auth")

    assert auth["status"] == "fail"
    assert auth["detail"] == "Google refused the sign-in because this server's clock is wrong."
    assert "NTP" in auth["fix"]


def test_bigquery_api_not_enabled(alice_client, google):
    google.stack.policy.set_api_enabled(PROJECT, False)

    result = run_test(alice_client, google)

    dataset = check(result, "dataset")
    number = google.stack.policy.project(PROJECT).number
    assert dataset["status"] == "fail"
    assert dataset["detail"] == f"The BigQuery API is not enabled in project {number}."
    assert "APIs & Services > Library > BigQuery API > Enable" in dataset["fix"]
    assert statuses(result)["job_user"] == "skipped"


def test_project_missing(alice_client, google):
    result = run_test(alice_client, google, project="no-such-project")

    dataset = check(result, "dataset")
    assert dataset["status"] == "fail"
    assert dataset["detail"].startswith("Project no-such-project does not exist")
    # Every check after it says which one stopped it.
    later = [c for c in result["checks"] if c["id"] not in ("key", "auth", "dataset")]
    assert {(c["status"], c["detail"]) for c in later} == {
        ("skipped", "Not run because “Project and dataset” did not pass.")
    }


def test_dataset_missing(alice_client, google):
    # Google answers 404 only to a caller who may list the project's datasets
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)

    result = run_test(alice_client, google, dataset="no_such_dataset")

    dataset = check(result, "dataset")
    assert dataset["detail"] == f"Dataset no_such_dataset was not found in project {PROJECT}."
    assert "case-sensitive" in dataset["fix"]


def test_no_access_to_the_dataset(alice_client, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)

    dataset = check(run_test(alice_client, google), "dataset")

    assert dataset["status"] == "fail"
    assert dataset["detail"] == (
        f"{google.key.email} has no access to dataset {PROJECT}:{DATASET}, or the dataset does "
        "not exist (bigquery.datasets.get is missing)."
    )
    assert dataset["fix"] == (
        f"Check the Dataset ID, and grant {google.key.email} the BigQuery Data Editor role on "
        f"dataset {DATASET} (BigQuery > dataset > Sharing > Permissions) or on project {PROJECT}."
    )


def test_no_job_user(alice_client, google):
    google.stack.revoke(google.key.email, "roles/bigquery.jobUser", project=PROJECT)

    result = run_test(alice_client, google)

    job = check(result, "job_user")
    assert job["status"] == "fail"
    assert "bigquery.jobs.create is missing" in job["detail"]
    assert job["fix"] == (
        f"Grant {google.key.email} the BigQuery Job User role on project {PROJECT} "
        "(IAM & Admin > IAM > Grant access)."
    )
    assert statuses(result)["data_editor"] == "pass"  # independent of the job check


def test_data_editor_granted_at_project_level(alice_client, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)

    editor = check(run_test(alice_client, google), "data_editor")

    assert editor["status"] == "pass"
    assert editor["detail"] == f"{google.key.email} can read and write tables in project {PROJECT}."


def test_data_editor_granted_on_the_dataset(alice_client, google):
    editor = check(run_test(alice_client, google), "data_editor")

    assert editor["status"] == "pass"
    assert "has write access (WRITER) on dataset crm" in editor["detail"]


def test_data_editor_confirmed_on_a_table_when_neither_project_nor_dataset_can_tell(
    alice_client, google
):
    """A grant the dataset's access list does not show (here: on the project), with Cloud
    Resource Manager off so the project's permissions cannot be asked: a table's own
    permissions confirm it."""
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)
    google.stack.policy.project(PROJECT).enabled_apis.discard(CRM_API)

    editor = check(run_test(alice_client, google), "data_editor")

    assert editor["status"] == "pass"
    table = re.fullmatch(
        rf"{re.escape(google.key.email)} can read and write table (\w+) in dataset {DATASET}\.",
        editor["detail"],
    )
    assert table is not None, editor["detail"]
    assert table[1] in {t.table_id for t in google.client().list_tables(DATASET)}


def test_data_editor_a_table_read_only_is_could_not_confirm(alice_client, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(google.key.email, "roles/bigquery.dataViewer", project=PROJECT)
    google.stack.policy.project(PROJECT).enabled_apis.discard(CRM_API)

    editor = check(run_test(alice_client, google), "data_editor")

    assert editor["status"] == "unconfirmed"


def test_data_editor_a_table_that_cannot_be_asked_is_could_not_confirm(alice_client, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(google.key.email, "roles/bigquery.dataEditor", project=PROJECT)
    google.stack.policy.project(PROJECT).enabled_apis.discard(CRM_API)
    google.stack.gate.inject("backend_error", times=None, match="tables.testIamPermissions")

    result = run_test(alice_client, google)

    assert check(result, "data_editor")["status"] == "unconfirmed"
    assert statuses(result)["dataset"] == "pass"


def test_data_editor_neither_is_could_not_confirm(alice_client, google):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=DATASET
    )

    result = run_test(alice_client, google)

    editor = check(result, "data_editor")
    assert editor["status"] == "unconfirmed"
    assert (
        editor["detail"]
        == f"Could not confirm that {google.key.email} can write to dataset {DATASET}."
    )
    assert "Could not confirm" in result["html"]
    assert result["ok"] is False
    assert result["warnings"] == 1  # the read session check's; could not confirm is no warning


# What imports do to the dataset's tables, as BigQuery Data Editor grants it.
TABLE_WRITES = [
    "bigquery.tables.create",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
]


@pytest.mark.parametrize("missing", TABLE_WRITES)
def test_data_editor_at_project_level_needs_every_table_permission_imports_use(
    alice_client, google, missing
):
    """A custom role that lacks one of them is not Data Editor, whatever else it holds."""
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    held = ["bigquery.datasets.get", *(p for p in TABLE_WRITES if p != missing)]
    google.stack.grant(google.key.email, held, project=PROJECT)

    result = run_test(alice_client, google)

    assert statuses(result)["dataset"] == "pass"
    assert check(result, "data_editor")["status"] == "unconfirmed"


@pytest.mark.parametrize(
    ("role", "entity_id", "writes"),
    [
        ("WRITER", "importer@p.iam.gserviceaccount.com", True),
        ("OWNER", "importer@p.iam.gserviceaccount.com", True),
        ("roles/bigquery.dataEditor", "importer@p.iam.gserviceaccount.com", True),
        ("roles/bigquery.dataOwner", "importer@p.iam.gserviceaccount.com", True),
        ("roles/bigquery.admin", "importer@p.iam.gserviceaccount.com", True),
        ("roles/bigquery.dataEditor", "serviceAccount:importer@p.iam.gserviceaccount.com", True),
        ("READER", "importer@p.iam.gserviceaccount.com", False),
        ("roles/bigquery.dataViewer", "importer@p.iam.gserviceaccount.com", False),
        ("WRITER", "someone-else@p.iam.gserviceaccount.com", False),
        ("WRITER", "", False),  # a special group or a view
    ],
)
def test_a_dataset_grant_is_write_access_only_for_a_writing_role_held_by_the_account(
    role, entity_id, writes
):
    entry = AccessEntry(role=role, entity_id=entity_id)

    assert checklist._is_writer_entry(entry, "importer@p.iam.gserviceaccount.com") is writes


def test_data_editor_read_only_at_project_level_is_could_not_confirm(alice_client, google):
    """Project-level permissions count only when all of them are held: Data Viewer holds
    datasets.get, tables.get and tables.getData, but nothing that writes."""
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(google.key.email, "roles/bigquery.dataViewer", project=PROJECT)

    result = run_test(alice_client, google)

    assert statuses(result)["dataset"] == "pass"
    editor = check(result, "data_editor")
    assert editor["status"] == "unconfirmed"
    assert (
        editor["detail"]
        == f"Could not confirm that {google.key.email} can write to dataset {DATASET}."
    )
    assert result["ok"] is False


def test_the_token_endpoint_not_answering_finishes_within_the_time_bound(alice_client, google):
    google.stack.token_server.inject("hang", times=None, seconds=60)

    result = run_test(alice_client, google)

    assert result["elapsed"] < 20
    auth = check(result, "auth")
    assert auth["status"] == "unconfirmed"
    assert auth["detail"] == "Google did not answer in time, or answered with a temporary error."


def test_answers_that_each_beat_the_call_timeout_still_stop_at_the_overall_bound(
    alice_client, google, settings
):
    """Each try of the dataset lookup is cut after 2 s, inside the 5 s timeout of a call, and
    the client tries again for 8 s: only the bound on the whole test ends it at 3 s."""
    settings.CONNECTION_TEST_DEADLINE_SECONDS = 3.0  # as the environment gives it
    google.stack.gate.inject("hang", times=None, seconds=2, match="datasets.get")

    result = run_test(alice_client, google)

    given_up = "No answer from Google within 3 seconds."
    assert statuses(result)["auth"] == "pass"  # what had finished keeps its answer
    for check_id in ("dataset", "job_user", "data_editor"):
        assert check(result, check_id)["status"] == "unconfirmed", check_id
        assert check(result, check_id)["detail"] == given_up, check_id
        assert check(result, check_id)["fix"].startswith("Try again in a minute")
    assert given_up in result["html"]
    assert "datasets.get" in google.stack.gate.operations()  # the lookup was under way


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


NETWORK_FIX = (
    "Check this server's network or proxy: it must reach Google's APIs "
    "(oauth2.googleapis.com and bigquery.googleapis.com) over HTTPS."
)


def test_a_refused_connection_to_google_says_so(alice_client, google, settings, closed_port):
    settings.GOOGLE_TOKEN_URI = f"http://127.0.0.1:{closed_port}/token"

    result = run_test(alice_client, google)

    auth = check(result, "auth")
    assert auth["status"] == "unconfirmed"
    assert auth["detail"] == "Could not reach Google (connection refused)."
    assert auth["fix"] == NETWORK_FIX
    assert statuses(result)["dataset"] == "skipped"
    assert "Could not reach Google (connection refused)." in result["html"]


def test_a_google_host_name_that_does_not_resolve_says_so(alice_client, google, settings):
    settings.GOOGLE_TOKEN_URI = "https://oauth2.googleapis.invalid/token"

    auth = check(run_test(alice_client, google), "auth")

    assert auth["status"] == "unconfirmed"
    assert auth["detail"] == "Could not reach Google (host not found)."
    assert auth["fix"] == NETWORK_FIX


def test_bigquery_refusing_connections_after_sign_in_says_so(
    alice_client, google, settings, closed_port
):
    settings.BIGQUERY_API_ENDPOINT = f"http://127.0.0.1:{closed_port}"

    result = run_test(alice_client, google)

    assert statuses(result)["auth"] == "pass"
    dataset = check(result, "dataset")
    assert dataset["status"] == "unconfirmed"
    assert dataset["detail"] == "Could not reach Google (connection refused)."


def test_an_unreachable_google_leaves_a_saved_connections_status_alone(
    alice_client, alice, workspace_a, google, settings, closed_port
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )
    alice_client.post(f"/w/acme/settings/partners/bigquery/{connection.pk}/test/")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    passed_at = connection.last_tested_at
    settings.GOOGLE_TOKEN_URI = f"http://127.0.0.1:{closed_port}/token"

    response = alice_client.post(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/test/", follow=True
    )

    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.status_reason == ""
    assert connection.last_tested_at > passed_at
    assert check(connection.last_test_result, "auth")["status"] == "unconfirmed"
    page = response.content.decode()
    assert (
        "Test Connection could not confirm every check. "
        "Authentication: Could not reach Google (connection refused)."
    ) in page
    assert "Failing" not in page


def test_a_could_not_confirm_on_an_untested_connection_keeps_it_untested(
    alice_client, alice, workspace_a, google
):
    google.stack.revoke(google.key.email, project=PROJECT, dataset=DATASET)
    google.stack.grant(
        google.key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=DATASET
    )
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )

    alice_client.post(f"/w/acme/settings/partners/bigquery/{connection.pk}/test/")

    connection.refresh_from_db()
    assert check(connection.last_test_result, "data_editor")["status"] == "unconfirmed"
    assert connection.status == Connection.Status.UNTESTED


def test_a_rate_limit_during_a_check_is_retried(alice_client, google):
    google.stack.gate.inject("rate_limit", times=1, match="datasets.get")

    result = run_test(alice_client, google)

    assert statuses(result)["dataset"] == "pass"
    dataset_gets = [
        r for r in google.stack.gate.requests if r.path.endswith(f"/datasets/{google.dataset}")
    ]
    assert len(dataset_gets) == 2


def test_a_503_during_a_check_is_retried(alice_client, google):
    google.stack.gate.inject("backend_error", times=2, match="jobs.insert")

    result = run_test(alice_client, google)

    assert statuses(result)["job_user"] == "pass"


def test_a_lasting_503_is_could_not_confirm_within_the_bound(alice_client, google):
    google.stack.gate.inject("backend_error", times=None, match="datasets.get")

    result = run_test(alice_client, google)

    assert result["elapsed"] < 20
    assert check(result, "dataset")["status"] == "unconfirmed"
    assert check(result, "dataset")["fix"].startswith("Try again in a minute")


def test_a_lasting_rate_limit_is_could_not_confirm_not_a_missing_permission(alice_client, google):
    """BigQuery answers a rate limit with 403 and reason rateLimitExceeded: the reason, not
    the status, decides, so it is not read as "no access"."""
    google.stack.gate.inject("rate_limit", times=None, match="datasets.get")

    result = run_test(alice_client, google)

    assert result["elapsed"] < 20
    dataset = check(result, "dataset")
    assert dataset["status"] == "unconfirmed"
    assert dataset["detail"] == (
        "BigQuery is limiting the rate of requests right now (a short-term limit, retried "
        "a few times)."
    )
    assert dataset["fix"].startswith("Try again in a minute")


def test_a_key_with_an_internal_token_uri_is_refused_and_nothing_is_called(alice_client, google):
    info = dict(google.key.info, token_uri=google.stack.token_uri)

    result = run_test(alice_client, google, key_json=json.dumps(info))

    assert statuses(result)["key"] == "fail"
    assert "token_uri must be Google's token endpoint" in check(result, "key")["detail"]
    assert google.stack.token_server.requests == []
    assert google.stack.gate.requests == []


def test_a_key_for_another_universe_is_refused(alice_client, google):
    info = dict(google.key.info, universe_domain="apis-tpczero.goog")

    result = run_test(alice_client, google, key_json=json.dumps(info))

    assert check(result, "key")["detail"] == "Sovereign cloud keys are not supported."
    assert google.stack.token_server.requests == []


def test_the_app_never_posts_to_the_keys_token_uri(alice_client, google):
    """The key says Google; the app uses its configured token address instead."""
    assert google.key.info["token_uri"] == "https://oauth2.googleapis.com/token"

    run_test(alice_client, google)

    assert len(google.stack.token_server.requests) == 1


def test_a_saved_connection_stores_its_result(alice_client, alice, workspace_a, google):
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )

    response = alice_client.post(
        f"/w/acme/settings/partners/bigquery/{connection.pk}/test/", follow=True
    )

    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.location == LOCATION
    assert connection.last_tested_at is not None
    assert connection.last_test_result["ok"] is True
    assert "Test Connection passed." in response.content.decode()


def test_a_saved_key_whose_token_uri_the_allow_list_dropped_is_refused_unsent(
    alice_client, alice, workspace_a, google, settings
):
    """A stored key was checked on save; once the allow-list no longer holds its token_uri,
    the key is refused before anything is signed or sent."""
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )
    settings.KEY_TOKEN_URI_ALLOWLIST = ["https://accounts.google.com/o/oauth2/token"]

    alice_client.post(f"/w/acme/settings/partners/bigquery/{connection.pk}/test/")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.FAILING
    auth = check(connection.last_test_result, "auth")
    assert (auth["status"], auth["detail"]) == ("fail", "Google refused to sign in with this key.")
    assert check(connection.last_test_result, "dataset")["detail"] == (
        "Not run because “Authentication” did not pass."
    )
    assert google.stack.token_server.requests == []
    assert google.stack.gate.requests == []


def test_a_failing_saved_connection_shows_failing_with_the_reason(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id="gone"
    )

    response = alice_client.post(f"/w/acme/settings/partners/bigquery/{connection.pk}/test/")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.FAILING
    assert connection.status_reason.startswith(
        f"Project and dataset: {google.key.email} has no access to dataset {PROJECT}:gone"
    )
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text == f"Test Connection failed. {connection.status_reason}"
    listing = alice_client.get("/w/acme/settings/partners/bigquery/").content.decode()
    assert "Failing" in listing


def test_a_rate_limited_test_of_a_saved_connection_says_so_on_its_page(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(workspace_a, alice, info=google.key.info)
    url = f"/w/acme/settings/partners/bigquery/{connection.pk}/test/"
    for _ in range(10):  # an empty form fails offline: no call to Google, still counted
        alice_client.post(TEST_URL, {}, headers=HTMX)

    response = alice_client.post(url)

    assert response.status_code == 302 and response["Location"].endswith(f"/{connection.pk}/")
    assert messages_of(response) == [
        (
            "error",
            "You ran Test Connection more than 10 times in a minute. Wait a minute and try again.",
        )
    ]
    connection.refresh_from_db()
    assert connection.last_tested_at is None


def test_test_connection_is_rate_limited_per_user(alice_client, google, stack):
    stack.token_server.inject("drop", times=None)  # fast failures; the limit is what we test
    for _ in range(10):
        assert "rate-limited" not in alice_client.post(TEST_URL, {}, headers=HTMX).content.decode()

    response = alice_client.post(TEST_URL, {}, headers=HTMX)

    assert "more than 10 times in a minute" in response.content.decode()
    page = alice_client.post(TEST_URL, {}, follow=False)  # the form without htmx
    assert page.status_code == 429
    assert "more than 10 times in a minute" in page.content.decode()


def test_one_users_used_up_allowance_leaves_other_users_theirs(
    alice_client, charlie_client, google
):
    for _ in range(10):  # an empty form fails offline: no call to Google, still counted
        alice_client.post(TEST_URL, {}, headers=HTMX)
    assert "more than 10 times" in alice_client.post(TEST_URL, {}, headers=HTMX).content.decode()

    theirs = charlie_client.post(TEST_URL.replace("/acme/", "/globex/"), {}, headers=HTMX)

    assert theirs.status_code == 200
    assert "more than 10 times" not in theirs.content.decode()
    assert theirs.context["result"]["checks"][0]["status"] == "fail"  # the form was checked


def test_the_limit_slides_across_a_minute_boundary(alice_client, google):
    """Ten tests at 12:00:55 and ten more at 12:01:01 used to pass: two calendar minutes."""
    start = dt.datetime(2026, 3, 2, 12, 0, 55, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(10):  # an empty form fails offline: no call to Google, still counted
            assert (
                "more than 10" not in alice_client.post(TEST_URL, {}, headers=HTMX).content.decode()
            )

        clock.move_to(start + dt.timedelta(seconds=6))
        refused = alice_client.post(TEST_URL, {}, headers=HTMX)
        assert "more than 10 times in a minute" in refused.content.decode()

        # Half a second before those ten leave the window (their 5-second slot is counted
        # whole): a second to wait is still a refusal.
        clock.move_to(start + dt.timedelta(seconds=64, microseconds=500_000))
        refused = alice_client.post(TEST_URL, {}, headers=HTMX)
        assert "more than 10 times in a minute" in refused.content.decode()

        clock.move_to(start + dt.timedelta(seconds=65))
        assert "more than 10" not in alice_client.post(TEST_URL, {}, headers=HTMX).content.decode()


@pytest.fixture(autouse=True)
def clear_rate_limits():
    from django.core.cache import cache

    cache.clear()


def test_test_connection_clears_errors_an_earlier_save_left(alice_client, google):
    """The checklist comes with every field's current errors, swapped in place."""
    refused = alice_client.post(
        "/w/acme/settings/partners/bigquery/add/",
        {"name": "", "project_id": PROJECT, "dataset_id": DATASET},
    ).content.decode()
    assert '<p class="field-error" id="error-name">Connection name is required.</p>' in refused

    tested = run_test(alice_client, google)["html"]

    assert '<div class="field-errors" id="errors-name" hx-swap-oob="true"></div>' in tested
    assert '<div class="field-errors" id="errors-key_file" hx-swap-oob="true"></div>' in tested
    assert '<div class="field-errors" id="errors-__all__" hx-swap-oob="true"></div>' in tested


def test_test_connection_needs_no_name_yet(alice_client, google):
    for headers in (HTMX, {}):
        response = alice_client.post(
            TEST_URL,
            {
                "name": "",
                "project_id": PROJECT,
                "dataset_id": DATASET,
                "key_text": google.key.to_json(),
            },
            headers=headers,
        )

        page = response.content.decode()
        assert response.context["result"]["ok"] is True
        assert "Connection name is required." not in page


def test_test_connection_shows_a_tested_fields_error_by_the_field(alice_client, google):
    html = run_test(alice_client, google, project="Bad_Project")["html"]

    assert (
        '<div class="field-errors" id="errors-project_id" hx-swap-oob="true"><p class="field-error"'
        ' id="error-project_id">Project ID may contain only lowercase letters, digits and hyphens.'
    ) in html


@pytest.mark.parametrize(
    ("field", "value", "message", "failed"),
    [
        ("dataset_id", "events-v2", "Dataset ID may contain only", "dataset"),
        ("billing_project_id", "Billing!", "Billing project may contain only", "job_user"),
        ("scratch_dataset_id", "scratch space", "Scratch dataset may contain only", "scratch"),
    ],
)
def test_a_bad_value_in_any_tested_field_fails_offline_by_that_field(
    alice_client, google, field, value, message, failed
):
    """Test Connection never calls Google with a value the form refused: the checklist
    fails at the check that value is for, and the field says why (a bad Advanced value
    was a server error)."""
    for headers in (HTMX, {}):
        response = alice_client.post(
            TEST_URL,
            {
                "name": "Warehouse",
                "project_id": PROJECT,
                "dataset_id": DATASET,
                "key_text": google.key.to_json(),
                field: value,
            },
            headers=headers,
        )

        assert response.status_code == 200
        result = response.context["result"]
        assert result["ok"] is False
        assert check(result, failed)["status"] == "fail"
        assert check(result, failed)["detail"].startswith(message)
        assert check(result, failed)["fix"].startswith("Correct the")
        assert check(result, "key")["status"] == "pass"
        assert check(result, "auth")["status"] == "skipped"
        assert f'id="error-{field}">{message}' in response.content.decode()
    assert google.stack.token_server.requests == []


def test_a_refused_key_and_a_refused_dataset_both_fail_and_the_rest_wait_on_the_key(
    alice_client, google
):
    result = run_test(alice_client, google, key_json="hello", dataset="events-v2")

    assert [c["id"] for c in result["checks"]] == [i for i, _ in checklist.CHECKS]
    assert statuses(result) == {
        "key": "fail", "auth": "skipped", "dataset": "fail", "job_user": "skipped",
        "data_editor": "skipped", "scratch": "skipped", "read_session": "skipped",
    }  # fmt: skip
    assert check(result, "auth")["detail"] == "Not run because “Service account key” did not pass."


def test_a_refused_project_and_a_refused_dataset_are_both_named(alice_client, google):
    result = run_test(alice_client, google, project="Bad_Project", dataset="events-v2")

    detail = check(result, "dataset")["detail"]
    assert detail.startswith("Project ID may contain only lowercase letters, digits and hyphens")
    assert " Dataset ID may contain only " in detail
    assert check(result, "auth")["detail"] == "Not run because “Project and dataset” did not pass."


def test_a_key_both_uploaded_and_pasted_fails_the_key_check_unsent(alice_client, google):
    upload = SimpleUploadedFile("key.json", google.key.to_json().encode(), "application/json")

    response = alice_client.post(
        TEST_URL,
        {
            "name": "Warehouse",
            "project_id": PROJECT,
            "dataset_id": DATASET,
            "key_file": upload,
            "key_text": google.key.to_json(),
        },
        headers=HTMX,
    )

    key = check(response.context["result"], "key")
    assert (key["status"], key["detail"]) == (
        "fail",
        "Google Service Account Key: give the key either as an uploaded JSON file or as a "
        "custom key, not both.",
    )
    assert google.stack.token_server.requests == []


def test_an_unexpected_failure_puts_its_log_reference_on_the_checklist():
    runner = checklist._Runner(
        {"client_email": "importer@p.iam.gserviceaccount.com"}, PROJECT, DATASET
    )

    runner.set(runner.failure("dataset", GoogleCallError(GoogleErrorKind.UNKNOWN, permanent=True)))

    result = runner.result()
    assert re.fullmatch(r"[0-9a-f]{12}", result["reference"])
    assert check(result, "dataset")["detail"] == (
        f"Google answered with an unexpected error. Reference: {result['reference']}."
    )


def test_a_refused_pasted_key_is_fixed_by_pasting_not_uploading(alice_client, google):
    result = run_test(alice_client, google, key_json="hello")

    key = check(result, "key")
    assert (
        key["detail"] == "The pasted key is not valid JSON (Expecting value at line 1, column 1)."
    )
    assert key["fix"].startswith("Paste the whole JSON key file exactly as Google Cloud gave it")
    assert google.stack.token_server.requests == []


def test_the_summary_names_a_failed_check_before_one_that_could_not_be_confirmed():
    result = checklist.TestResult(
        checks=[
            checklist.CheckResult("auth", "pass", "Signed in."),
            checklist.CheckResult("dataset", "pass", "Found."),
            checklist.CheckResult("job_user", "unconfirmed", "Google did not answer in time."),
            checklist.CheckResult("data_editor", "fail", "No access."),
        ]
    )

    assert result.summary == "BigQuery Data Editor: No access."
    assert checklist.has_failure(result.as_dict()) and not result.ok
