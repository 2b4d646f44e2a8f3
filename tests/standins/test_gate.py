"""The BigQuery gate, driven by the real google-cloud-bigquery client through the real
token exchange: permissions, Google's error answers, and injected faults."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY

from standins import StandinStack
from standins.gate import classify
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT, USERS, World

DRY_RUN = bigquery.QueryJobConfig(dry_run=True)

SHORT = DEFAULT_RETRY.with_deadline(2)
TIMEOUT = 5
DRY_RUN = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)


def get_dataset(client: bigquery.Client, project: str = PROJECT, dataset: str = DATASET):
    return client.get_dataset(f"{project}.{dataset}", retry=SHORT, timeout=TIMEOUT)


def dry_run(client: bigquery.Client, sql: str = "SELECT 1", project: str = PROJECT):
    return client.query(
        sql, job_config=DRY_RUN, project=project, location=LOCATION, retry=SHORT, timeout=TIMEOUT
    )


def select_users(client: bigquery.Client) -> list[dict]:
    job = client.query(
        f"SELECT user_id, plan FROM `{PROJECT}.{DATASET}.users` ORDER BY user_id",  # noqa: S608
        location=LOCATION,
        retry=SHORT,
        timeout=TIMEOUT,
    )
    return [dict(row) for row in job.result(retry=SHORT, timeout=TIMEOUT)]


def message(error: exceptions.GoogleAPICallError) -> str:
    """Google's own text (``str(error)`` and ``.message`` add the method and URL)."""
    return error.errors[0]["message"]


# -- the happy path --------------------------------------------------------------------------


def test_all_checks_pass(world: World) -> None:
    client = world.client()

    dataset = get_dataset(client)
    assert dataset.location == LOCATION
    mine = [e for e in dataset.access_entries if e.entity_id == world.key.email]
    assert [(e.role, e.entity_type) for e in mine] == [("WRITER", "userByEmail")]

    job = dry_run(client)
    assert job.state == "DONE" and job.total_bytes_processed == 0

    rows = select_users(client)
    assert rows == [{"user_id": u["user_id"], "plan": u["plan"]} for u in USERS]

    table = client.get_table(f"{PROJECT}.{DATASET}.users", retry=SHORT, timeout=TIMEOUT)
    assert table.num_rows == len(USERS)

    gate = world.stack.gate
    assert {r.account for r in gate.requests} == {world.key.email}
    assert gate.operations()[:3] == ["datasets.get", "jobs.insert", "jobs.insert"]
    assert len(world.stack.token_server.requests) == 1  # one refresh, token reused


def test_project_level_grant_reads_without_dataset_entry(stack: StandinStack) -> None:
    stack.create_project(PROJECT)
    key = stack.register_service_account(
        "viewer@elsewhere.iam.gserviceaccount.com", project_id="elsewhere"
    )
    stack.grant(key.email, ["roles/bigquery.jobUser", "roles/bigquery.dataViewer"], project=PROJECT)
    client = stack.bigquery_client(key, PROJECT)

    dataset = get_dataset(client)
    assert key.email not in {e.entity_id for e in dataset.access_entries}
    assert len(select_users(client)) == len(USERS)


# -- API enablement, projects, datasets ------------------------------------------------------


def test_bigquery_api_disabled(world: World) -> None:
    project = world.stack.policy.project(PROJECT)
    world.stack.policy.set_api_enabled(PROJECT, False)

    with pytest.raises(exceptions.Forbidden) as caught:
        get_dataset(world.client())
    error = caught.value
    assert error.errors[0]["reason"] == "accessNotConfigured"
    assert error.reason == "SERVICE_DISABLED"
    assert error.metadata["consumer"] == f"projects/{project.number}"
    assert message(error).startswith(
        f"BigQuery API has not been used in project {project.number} before or it is disabled. "
        "Enable it by visiting https://console.developers.google.com/apis/api/"
        f"bigquery.googleapis.com/overview?project={project.number} then retry."
    )


def test_api_disabled_in_the_accounts_home_project(stack: StandinStack) -> None:
    stack.create_project(PROJECT)
    home = stack.create_project("sa-home-project", number=123456789012, api_enabled=False)
    key = stack.register_service_account(
        "importer@sa-home-project.iam.gserviceaccount.com", project_id=home.project_id
    )
    stack.grant(key.email, "roles/bigquery.admin", project=PROJECT)

    with pytest.raises(exceptions.Forbidden) as caught:
        get_dataset(stack.bigquery_client(key, PROJECT))
    assert caught.value.errors[0]["reason"] == "accessNotConfigured"
    assert "in project 123456789012 before" in message(caught.value)


def test_missing_project(world: World) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        get_dataset(world.client(), project="no-such-project")
    assert message(caught.value) == "Not found: Project no-such-project"
    assert caught.value.errors[0]["reason"] == "notFound"


def test_missing_dataset_with_project_level_access(world: World) -> None:
    world.stack.grant(world.key.email, "roles/bigquery.dataViewer", project=PROJECT)
    with pytest.raises(exceptions.NotFound) as caught:
        get_dataset(world.client(), dataset="missing")
    assert message(caught.value) == f"Not found: Dataset {PROJECT}:missing"


def test_missing_dataset_without_access_is_access_denied(world: World) -> None:
    with pytest.raises(exceptions.Forbidden) as caught:
        get_dataset(world.client(), dataset="missing")
    assert caught.value.errors[0]["reason"] == "accessDenied"


def test_no_dataset_access(world: World) -> None:
    world.stack.revoke(world.key.email, project=PROJECT, dataset=DATASET)

    with pytest.raises(exceptions.Forbidden) as caught:
        get_dataset(world.client())
    ref = f"{PROJECT}:{DATASET}"
    assert message(caught.value) == (
        f"Access Denied: Dataset {ref}: Permission bigquery.datasets.get denied on dataset "
        f"{ref} (or it may not exist)."
    )
    assert caught.value.errors[0] == {
        "message": message(caught.value),
        "domain": "global",
        "reason": "accessDenied",
    }


# -- jobs --------------------------------------------------------------------------------------


def test_no_job_user(world: World) -> None:
    world.stack.revoke(world.key.email, "roles/bigquery.jobUser", project=PROJECT)

    with pytest.raises(exceptions.Forbidden) as caught:
        dry_run(world.client())
    assert message(caught.value) == (
        f"Access Denied: Project {PROJECT}: User does not have bigquery.jobs.create "
        f"permission in project {PROJECT}."
    )


def test_query_needs_read_access_to_the_tables_it_reads(world: World) -> None:
    world.stack.revoke(world.key.email, project=PROJECT, dataset=DATASET)
    client = world.client()

    dry_run(client)  # SELECT 1 reads no table
    with pytest.raises(exceptions.Forbidden) as caught:
        dry_run(client, f"SELECT * FROM `{PROJECT}.{DATASET}.users`")  # noqa: S608
    ref = f"{PROJECT}:{DATASET}.users"
    assert message(caught.value) == (
        f"Access Denied: Table {ref}: User does not have permission to query table {ref}, "
        f"or perhaps it does not exist in location {LOCATION}."
    )


def test_other_accounts_cannot_read_my_job(world: World) -> None:
    job = world.client().query("SELECT 1 AS x", location=LOCATION, retry=SHORT, timeout=TIMEOUT)
    job.result(retry=SHORT, timeout=TIMEOUT)
    other = world.stack.register_service_account(
        f"other@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    world.stack.grant(other.email, "roles/bigquery.jobUser", project=PROJECT)

    with pytest.raises(exceptions.Forbidden, match="bigquery.jobs.get permission"):
        world.client(other).get_job(job.job_id, location=LOCATION, retry=SHORT, timeout=TIMEOUT)
    again = world.client().get_job(job.job_id, location=LOCATION, retry=SHORT, timeout=TIMEOUT)
    assert again.user_email == world.key.email


# -- writes ------------------------------------------------------------------------------------


def test_write_checks(world: World) -> None:
    stack, client = world.stack, world.client()
    table_ref = f"{PROJECT}.{DATASET}.scratch_{time.monotonic_ns()}"
    table = client.create_table(
        bigquery.Table(table_ref, schema=[bigquery.SchemaField("id", "INT64")]),
        retry=SHORT,
        timeout=TIMEOUT,
    )
    assert client.insert_rows_json(table, [{"id": 1}], retry=SHORT, timeout=TIMEOUT) == []

    stack.revoke(world.key.email, project=PROJECT, dataset=DATASET)
    stack.grant(world.key.email, "READER", project=PROJECT, dataset=DATASET)
    with pytest.raises(exceptions.Forbidden) as caught:
        client.insert_rows_json(table, [{"id": 2}], retry=SHORT, timeout=TIMEOUT)
    assert "Permission bigquery.tables.updateData denied on table" in message(caught.value)
    with pytest.raises(exceptions.Forbidden) as caught:
        client.create_table(f"{table_ref}_2", retry=SHORT, timeout=TIMEOUT)
    ref = f"{PROJECT}:{DATASET}"
    assert message(caught.value) == (
        f"Access Denied: Dataset {ref}: Permission bigquery.tables.create denied on dataset "
        f"{ref} (or it may not exist)."
    )


# -- permission introspection ----------------------------------------------------------------


TABLE_PERMISSIONS = [
    "bigquery.tables.create",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
    "bigquery.tables.setIamPolicy",
]


def test_tables_test_iam_permissions_sees_dataset_grants(world: World) -> None:
    client = world.client()
    table = f"{PROJECT}.{DATASET}.users"

    answer = client.test_iam_permissions(table, TABLE_PERMISSIONS, timeout=TIMEOUT)
    assert answer == {"permissions": TABLE_PERMISSIONS[:3]}

    world.stack.revoke(world.key.email, project=PROJECT, dataset=DATASET)
    assert client.test_iam_permissions(table, TABLE_PERMISSIONS, timeout=TIMEOUT) == {}


def test_resource_manager_test_iam_permissions(world: World) -> None:
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(world.stack.credentials(world.key))
    wanted = ["bigquery.jobs.create", "bigquery.tables.create", "bigquery.datasets.get"]

    def ask(version: str, project: str) -> requests.Response:
        base = world.stack.resource_manager_endpoint
        url = f"{base}/{version}/projects/{project}:testIamPermissions"
        return session.post(url, json={"permissions": wanted}, timeout=TIMEOUT)

    number = world.stack.policy.project(PROJECT).number
    for version, project in (("v1", PROJECT), ("v3", PROJECT), ("v3", number)):
        # the dataset-level WRITER grant is invisible at project level
        assert ask(version, project).json() == {"permissions": ["bigquery.jobs.create"]}
    world.stack.grant(world.key.email, "roles/bigquery.dataEditor", project=PROJECT)
    assert ask("v1", PROJECT).json() == {"permissions": wanted}
    world.stack.revoke(world.key.email, project=PROJECT)
    assert ask("v1", PROJECT).json() == {}

    missing = ask("v1", "no-such-project")
    assert missing.status_code == 403
    assert missing.json()["error"]["message"] == "The caller does not have permission"

    world.stack.policy.set_api_enabled(
        PROJECT, False, service="cloudresourcemanager.googleapis.com"
    )
    disabled = ask("v1", PROJECT).json()["error"]
    assert disabled["errors"][0]["reason"] == "accessNotConfigured"
    assert disabled["message"].startswith("Cloud Resource Manager API has not been used")


def test_resource_manager_needs_cloud_platform_scope(world: World) -> None:
    from google.auth.transport.requests import AuthorizedSession

    creds = world.stack.credentials(world.key, scopes=["https://www.googleapis.com/auth/bigquery"])
    response = AuthorizedSession(creds).post(
        f"{world.stack.resource_manager_endpoint}/v1/projects/{PROJECT}:testIamPermissions",
        json={"permissions": ["bigquery.jobs.create"]},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert response.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


# -- authentication ----------------------------------------------------------------------------


def test_unknown_token_is_unauthorized(world: World) -> None:
    url = f"{world.stack.bigquery_endpoint}/bigquery/v2/projects/{PROJECT}/datasets/{DATASET}"
    response = requests.get(url, headers={"Authorization": "Bearer ya29.bogus"}, timeout=TIMEOUT)
    error = exceptions.from_http_response(response)  # the client libraries' own mapping

    assert isinstance(error, exceptions.Unauthorized)
    assert error.errors[0]["reason"] == "authError"
    assert error.errors[0]["message"] == "Invalid Credentials"
    assert response.json()["error"]["message"].startswith(
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential."
    )
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert world.stack.gate.requests[-1].account is None

    missing = requests.get(url, timeout=TIMEOUT)
    assert missing.status_code == 401
    assert missing.json()["error"]["errors"][0]["reason"] == "required"


def test_token_of_a_disabled_account_stops_working(world: World) -> None:
    client = world.client()
    get_dataset(client)
    world.stack.token_server.disable_account(world.key.email)
    # the client sees 401, refreshes its token, and the refresh fails
    with pytest.raises(Exception, match="Robot is disabled"):
        get_dataset(client)


def test_failed_refresh_never_reaches_bigquery(world: World) -> None:
    world.stack.token_server.delete_key(world.key.key_id)
    with pytest.raises(Exception, match="Invalid JWT Signature"):
        get_dataset(world.client())
    assert world.stack.gate.requests == []


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason", "exception"),
    [
        ("rate_limit", "rateLimitExceeded", exceptions.Forbidden),
        ("backend_error", "backendError", exceptions.ServiceUnavailable),
    ],
)
def test_transient_errors_are_retried_then_given_up(
    world: World, kind: str, reason: str, exception: type
) -> None:
    client = world.client()
    world.stack.gate.inject(kind, times=1, match="datasets.get")
    assert get_dataset(client).location == LOCATION  # retried once, then fine
    assert [r.fault for r in world.stack.gate.requests] == [kind, None]

    world.stack.gate.inject(kind, times=None, match="datasets.get")
    with pytest.raises(exceptions.RetryError) as caught:
        get_dataset(client)
    assert isinstance(caught.value.cause, exception)
    assert caught.value.cause.errors[0]["reason"] == reason


def test_rate_limit_message(world: World) -> None:
    world.stack.gate.inject("rate_limit")
    with pytest.raises(exceptions.Forbidden) as caught:
        world.client().get_dataset(f"{PROJECT}.{DATASET}", retry=None, timeout=TIMEOUT)
    assert message(caught.value).startswith(
        "Exceeded rate limits: too many api requests per user per method for this user_method."
    )


def test_hang_hits_the_client_timeout(world: World) -> None:
    client = world.client()
    get_dataset(client)  # token already fetched
    world.stack.gate.inject("hang", seconds=30, match="datasets.get")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        client.get_dataset(f"{PROJECT}.{DATASET}", retry=None, timeout=0.5)
    assert time.monotonic() - started < 5


def test_dropped_connection(world: World) -> None:
    client = world.client()
    world.stack.gate.inject("drop", match="datasets.get")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get_dataset(f"{PROJECT}.{DATASET}", retry=None, timeout=TIMEOUT)

    world.stack.gate.inject("drop", match="jobs.insert")
    with pytest.raises(requests.exceptions.ConnectionError):
        # client.query() retries a failed jobs.insert through job_retry even with retry=None
        client.query("SELECT 1", job_config=DRY_RUN, retry=None, job_retry=None, timeout=TIMEOUT)
    world.stack.gate.inject("drop", match="jobs.insert")
    assert dry_run(client).state == "DONE"  # a short retry covers one dropped connection
    assert [r.fault for r in world.stack.gate.requests] == ["drop", "drop", "drop", None]


def test_listings_are_filtered(world: World) -> None:
    stack = world.stack
    other = f"hidden_{time.monotonic_ns()}"
    stack.create_dataset(PROJECT, other, location=LOCATION)
    client = world.client()

    listed = {d.dataset_id for d in client.list_datasets(PROJECT, retry=SHORT, timeout=TIMEOUT)}
    assert DATASET in listed and other not in listed
    projects = {p.project_id for p in client.list_projects(retry=SHORT, timeout=TIMEOUT)}
    assert projects == {PROJECT}


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/bigquery/v2/projects/p/datasets/d", "datasets.get"),
        ("POST", "/bigquery/v2/projects/p/jobs", "jobs.insert"),
        ("POST", "/upload/bigquery/v2/projects/p/jobs", "jobs.insert.upload"),
        ("POST", "/bigquery/v2/projects/p/queries", "jobs.query"),
        ("GET", "/bigquery/v2/projects/p/queries/j1", "jobs.getQueryResults"),
        ("GET", "/bigquery/v2/projects/p/datasets/d/tables/t/data", "tabledata.list"),
        ("POST", "/bigquery/v2/projects/p/datasets/d/tables/t:testIamPermissions",
         "tables.testIamPermissions"),
        ("POST", "/v1/projects/example.com:p:testIamPermissions", "projects.testIamPermissions"),
        ("POST", "/v3/projects/123456:testIamPermissions", "projects.testIamPermissions"),
        ("GET", "/bigquery/v2/projects/p/datasets/d/routines/r", "routines.get"),
    ],
)  # fmt: skip
def test_operation_names(method: str, path: str, operation: str) -> None:
    """The names `inject(match=...)` and the request log use."""
    assert classify(method, path).operation == operation


def test_anonymous_results_over_the_cap_fail_with_response_too_large(world: World) -> None:
    world.stack.gate.anonymous_result_max_rows = 3
    client = world.client()
    sql = f"SELECT * FROM `{PROJECT}.{DATASET}.users`"  # noqa: S608 - fixed test names

    job = client.query(sql, location=LOCATION)
    with pytest.raises(exceptions.Forbidden) as refused:
        job.result(retry=DEFAULT_RETRY.with_deadline(5))
    assert refused.value.errors[0]["reason"] == "responseTooLarge"
    reloaded = client.get_job(job.job_id, location=LOCATION)
    assert reloaded.error_result["reason"] == "responseTooLarge"

    # A destination table is not capped (BigQuery: "specify a destination table").
    destination = f"{PROJECT}.{DATASET}_imports_tmp.capped_{job.job_id[:8].replace('-', '_')}"
    config = bigquery.QueryJobConfig(destination=destination)
    rows = client.query(sql, location=LOCATION, job_config=config).result()
    assert rows.total_rows == len(USERS)
    client.delete_table(destination)


def test_a_long_query_runs_until_released_and_a_cancelled_one_is_stopped(world: World) -> None:
    world.stack.gate.jobs_keep_running = True
    client = world.client()
    sql = f"SELECT * FROM `{PROJECT}.{DATASET}.users`"  # noqa: S608 - fixed test names

    running = client.query(sql, location=LOCATION)
    cancelled = client.query(sql, location=LOCATION)
    assert running.state == cancelled.state == "RUNNING"
    assert not running.done() and not cancelled.done()  # jobs.get says so too
    assert client.query(sql, location=LOCATION, job_config=DRY_RUN).state == "DONE"

    assert cancelled.cancel()
    assert cancelled.done()
    assert cancelled.error_result == {
        "reason": "stopped",
        "message": "Job execution was cancelled: User requested cancellation",
    }

    world.stack.gate.jobs_keep_running = False
    assert running.done() and running.error_result is None
    assert running.result().total_rows == len(USERS)
    assert client.get_job(cancelled.job_id, location=LOCATION).error_result["reason"] == "stopped"


def test_a_job_in_a_billing_project_reads_another_projects_dataset(stack: StandinStack) -> None:
    stack.create_project(PROJECT)
    stack.create_project("billing-proj")
    key = stack.register_service_account(
        "runner@billing-proj.iam.gserviceaccount.com", project_id="billing-proj"
    )
    stack.grant(key.email, "roles/bigquery.jobUser", project="billing-proj")
    stack.grant(key.email, "roles/bigquery.dataViewer", project=PROJECT, dataset=DATASET)
    client = stack.bigquery_client(key, PROJECT)
    sql = f"SELECT user_id FROM `{PROJECT}.{DATASET}.users`"  # noqa: S608 - fixed test names

    with pytest.raises(exceptions.Forbidden):  # no Job User in the data project
        client.query(sql, location=LOCATION).result()
    rows = client.query(sql, project="billing-proj", location=LOCATION).result()

    assert rows.total_rows == len(USERS)
    posted = [r for r in stack.gate.requests if r.operation == "jobs.insert"]
    assert [(r.path, r.status) for r in posted] == [
        (f"/bigquery/v2/projects/{PROJECT}/jobs", 403),
        ("/bigquery/v2/projects/billing-proj/jobs", 200),
    ]
