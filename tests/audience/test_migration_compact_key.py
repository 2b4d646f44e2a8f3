"""The migration to 16-byte dedupe keys keeps every stored event findable by the key the new
code computes for the same row, so the first replay after an upgrade writes nothing."""

import datetime as dt
import hashlib

import pytest

from audience.models import Event
from audience.rows import EventRow
from audience.writers import write_events
from imports.mapping import event_dedupe_key
from tests.fixtures.migrations import migrate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_schema"),
]

BEFORE = [("audience", "0005_identity_1024")]
AFTER = [("audience", "0006_compact_dedupe_key")]
TS = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


def test_a_replay_after_the_upgrade_finds_the_events_stored_before_it():
    old = migrate(BEFORE)
    workspace = old.get_model("workspaces", "Workspace").objects.create(
        name="Acme", slug="acme-compact-key"
    )
    properties = {"sku": "A-1", "amount": 10}
    # The key as the code before the upgrade stored it: the whole SHA-256 in hex.
    canonical = '["u1","Purchased",1772368200000000]{"amount":10,"sku":"A-1"}'
    old.get_model("audience", "Event").objects.create(
        workspace=workspace, identity="u1", name="Purchased", timestamp=TS,
        properties=properties, dedupe_key=hashlib.sha256(canonical.encode()).hexdigest(),
    )  # fmt: skip

    migrate(AFTER)
    key = event_dedupe_key("u1", "Purchased", TS, properties)
    replay = EventRow("u1", "Purchased", TS, properties, key)
    written = write_events(workspace_id=workspace.pk, run_id=None, rows=[replay])

    assert written == 0
    assert list(Event.objects.values_list("dedupe_key", flat=True)) == [key]
