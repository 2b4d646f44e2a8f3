"""No page fails on a stored date: BigQuery's own limits (0001-01-01 and
9999-12-31 23:59:59.999999, common placeholders in imported data) in every date column, seen
from workspaces at both ends of the clock and in between."""

import datetime as dt
import uuid

import pytest

from audience.models import Event, Profile
from connections.models import Connection
from imports.models import Import, ImportRun
from imports.services import run_create
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import
from tests.test_access_sweep import app_routes, fill
from workspaces.models import AuditEntry

BIGQUERY_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
BIGQUERY_MIN = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
ZONES = ["UTC", "Etc/GMT+12", "Pacific/Kiritimati", "Europe/Berlin", "America/St_Johns"]
# Create Import browses the dataset at Google; it shows no stored date.
NOT_HERE = "imports/new/"


def set_every_date(value: dt.datetime, *, workspace, connection, import_obj, runs) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        created_at=value,
        last_tested_at=value,
        updated_at=value,
        last_test_result={"ok": True, "summary": "All checks passed.", "checks": []},
    )
    Import.objects.filter(pk=import_obj.pk).update(
        created_at=value,
        updated_at=value,
        next_run_at=value,
        schedule_at=value,
        status=Import.Status.RUNNING,
    )
    ImportRun.objects.filter(pk=runs[-1].pk).update(scheduled_for=value)
    ImportRun.objects.filter(pk__in=[r.pk for r in runs]).update(
        created_at=value,
        started_at=value,
        finished_at=value,
        lease_until=value,
        enqueued_at=value,
    )
    AuditEntry.objects.filter(workspace=workspace).update(created_at=value)
    Profile.objects.create(
        workspace=workspace, identity="placeholder", first_seen=value, last_seen=value
    )
    Event.objects.create(
        workspace=workspace,
        identity="placeholder",
        name="signup",
        timestamp=value,
        dedupe_key=uuid.uuid4(),
    )


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("value", [BIGQUERY_MAX, BIGQUERY_MIN], ids=["max", "min"])
def test_every_page_draws_bigquerys_extreme_dates_in_every_zone(
    zone, value, alice_client, alice, workspace_a
):
    workspace_a.time_zone = zone
    workspace_a.save()
    connection = make_connection(workspace_a, alice)
    import_obj = make_import(connection, alice, table="users", name="Placeholder dates")
    finished = run_create(import_obj=import_obj, scheduled_for=NOW, trigger="manual")
    finished.status = ImportRun.Status.SUCCEEDED
    finished.save()
    running = run_create(import_obj=import_obj, scheduled_for=value, trigger="manual")
    running.status = ImportRun.Status.RUNNING
    running.save()
    set_every_date(
        value,
        workspace=workspace_a,
        connection=connection,
        import_obj=import_obj,
        runs=[finished, running],
    )
    objects = {"connection": connection, "import": import_obj, "run": running}

    pages = {}
    for route, _ in app_routes():
        if not route.startswith("w/<slug:ws>/") or NOT_HERE in route:
            continue
        path = fill(route, objects)
        response = alice_client.get(path)  # an exception in a view fails the test here
        assert response.status_code < 500, path
        if response.status_code == 200:
            pages[route] = b"".join(response).decode()

    year = "9999" if value.year == 9999 else "0001"
    assert year in pages["w/<slug:ws>/audience/events/"]
    assert year in pages["w/<slug:ws>/audience/profiles/"]
    assert year in pages["w/<slug:ws>/settings/partners/bigquery/<uuid:pk>/"]
    assert year in pages["w/<slug:ws>/settings/partners/bigquery/imports/<uuid:pk>/"]
    assert year in pages["w/<slug:ws>/settings/partners/bigquery/imports/runs/<uuid:run_pk>/"]
    assert year in pages["w/<slug:ws>/settings/partners/bigquery/"]
