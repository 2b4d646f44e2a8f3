"""The migration that adds the source time zone and the timestamp unit keeps what existing
imports did where one setting can: a DATETIME or DATE event time stays UTC, an INT64 one
(read by its size until now) waits for an admin's choice."""

import pytest

from tests.fixtures.migrations import migrate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_schema"),
]

BEFORE = [
    ("connections", "0001_initial"),
    ("imports", "0002_importrun_read_stream"),
    ("audience", "0003_event_workspace_unconstrained"),
]
AFTER = [("imports", "0003_event_time_settings")]


def test_existing_imports_keep_utc_for_wall_clock_times_and_ask_for_an_int64_unit():
    old = migrate(BEFORE)
    Workspace = old.get_model("workspaces", "Workspace")
    Connection = old.get_model("connections", "Connection")
    Import = old.get_model("imports", "Import")
    workspace = Workspace.objects.create(name="Acme", slug="acme-migration")
    source = Connection.objects.create(
        workspace=workspace,
        name="W",
        project_id="p-123456",
        dataset_id="d",
        encrypted_key="x",
        client_email="a@p-123456.iam.gserviceaccount.com",
    )

    def old_import(name, target, column, kind):
        return Import.objects.create(
            workspace=workspace,
            connection=source,
            name=name,
            source_kind="table",
            source_table="t",
            target=target,
            identity_column="id",
            timestamp_column=column,
            source_schema=[{"name": "id", "type": "STRING"}, {"name": column, "type": kind}],
        ).pk

    datetime_events = old_import("datetime", "events", "at", "DATETIME")
    date_events = old_import("date", "events", "day", "DATE")
    epoch_events = old_import("epoch", "events", "at", "INTEGER")
    timestamp_events = old_import("timestamp", "events", "at", "TIMESTAMP")
    profiles = old_import("profiles", "profiles", "at", "DATETIME")

    new = migrate(AFTER)

    settings = {
        row.pk: (row.source_time_zone, row.timestamp_unit)
        for row in new.get_model("imports", "Import").objects.all()
    }
    assert settings == {
        datetime_events: ("UTC", ""),
        date_events: ("UTC", ""),
        epoch_events: ("", ""),  # no unit: its runs fail until one is chosen on Edit
        timestamp_events: ("", ""),
        profiles: ("", ""),
    }
