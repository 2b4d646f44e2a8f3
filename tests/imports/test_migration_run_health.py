"""The migration that counts unchanged rows gives existing runs Unchanged = Read − Written −
Rejected, and a run that succeeded with rejected rows the status that says so."""

import pytest

from tests.fixtures.migrations import migrate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_schema"),
]

CONNECTIONS = ("connections", "0002_connection_key_set_at")
BEFORE = [("imports", "0003_event_time_settings"), CONNECTIONS]
AFTER = [("imports", "0004_run_health"), CONNECTIONS]


def test_existing_runs_get_their_unchanged_rows_and_a_status_that_shows_rejections():
    old = migrate(BEFORE)
    Workspace = old.get_model("workspaces", "Workspace")
    Connection = old.get_model("connections", "Connection")
    Import = old.get_model("imports", "Import")
    ImportRun = old.get_model("imports", "ImportRun")
    workspace = Workspace.objects.create(name="Acme", slug="acme-run-health")
    source = Connection.objects.create(
        workspace=workspace, name="W", project_id="p-123456", dataset_id="d",
        encrypted_key="x", client_email="a@p-123456.iam.gserviceaccount.com",
        key_set_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    import_obj = Import.objects.create(
        workspace=workspace, connection=source, name="users", source_kind="table",
        source_table="t", target="profiles", identity_column="id",
    )  # fmt: skip
    day = 0

    def old_run(status, read, written, rejected):
        nonlocal day
        day += 1
        return ImportRun.objects.create(
            import_obj=import_obj, workspace=workspace, status=status,
            scheduled_for=f"2026-01-{day:02d}T00:00:00Z",
            rows_read=read, rows_written=written, rows_rejected=rejected,
        ).pk  # fmt: skip

    re_run = old_run("succeeded", 100_000, 0, 10_000)
    first = old_run("succeeded", 100, 100, 0)
    failed = old_run("failed", 80, 20, 40)
    odd = old_run("succeeded", 5, 9, 0)  # more written than read: never below 0
    queued = old_run("queued", 0, 0, 0)

    new = migrate(AFTER)

    runs = {
        row.pk: (row.status, row.rows_unchanged)
        for row in new.get_model("imports", "ImportRun").objects.all()
    }
    assert runs == {
        re_run: ("succeeded_with_rejections", 90_000),
        first: ("succeeded", 0),
        failed: ("failed", 20),
        odd: ("succeeded", 0),
        queued: ("queued", 0),
    }
    assert new.get_model("imports", "Import").objects.get().rejection_threshold == 50

    back = migrate(BEFORE)
    statuses = set(back.get_model("imports", "ImportRun").objects.values_list("status", flat=True))
    assert statuses == {"succeeded", "failed", "queued"}
