"""Duplicate: Create Import opens with every choice of an import (its source, mapping, sync
and schedule), so that what Edit cannot change is changed in a copy; pressing Next through
the copy and Save makes an import defined like the original."""

import pytest

from imports import services
from imports.models import Import
from tests.imports.test_create_flow import (
    draft_of,
    mapping_data,
    step_url,
    walk,
)
from workspaces.models import AuditEntry

DEFINITION = [f for f in services.DEFINITION_FIELDS if f not in ("name", "source_schema")]


@pytest.fixture
def original(alice_client, connection, customers_table):
    connection.workspace.time_zone = "Europe/Berlin"
    connection.workspace.save()
    properties = {"email": "email_address", "score": None, "tags": None}
    _, saved, _ = walk(
        alice_client,
        connection,
        source={"source_kind": "table", "table": customers_table},
        target={
            "target": "profiles", "identity_column": "user_id", "identity_lowercase": "on",
            "null_policy": "overwrite", **mapping_data(properties),
        },
        sync={
            "sync_mode": "incremental", "cursor_column": "updated_at",
            "rejection_threshold": "7", "lookback_seconds": "86400",
        },
        schedule={"schedule_kind": "weekly", "schedule_weekday": "2", "schedule_time": "06:45"},
        name="Customers",
    )  # fmt: skip
    assert saved.status_code == 302
    return Import.objects.get(name="Customers")


def duplicate_url(import_obj):
    return f"{import_obj.get_absolute_url()}duplicate/"


def test_a_duplicate_walked_with_next_only_is_defined_like_the_original(
    alice_client, connection, original
):
    response = alice_client.post(duplicate_url(original))

    draft = draft_of(response)
    assert response["Location"] == step_url(connection, draft, "source")
    source = alice_client.get(response["Location"]).content.decode()
    assert "A copy of “Customers” with all its choices" in source
    assert 'value="create_customers"' in source
    steps = {"source": {"action": "next", "source_kind": "table", "table": original.source_table}}
    for step, following in (("source", "target"), ("target", "sync"), ("sync", "schedule")):
        page = alice_client.get(step_url(connection, draft, step))
        data = steps.get(step) or _form_data(page.context["form"])
        moved = alice_client.post(step_url(connection, draft, step), data)
        assert moved["Location"] == step_url(connection, draft, following), step
    schedule = alice_client.get(step_url(connection, draft, "schedule"))
    alice_client.post(
        step_url(connection, draft, "schedule"),
        {"action": "next", **_form_data(schedule.context["form"])},
    )
    review = alice_client.get(step_url(connection, draft, "review"))
    assert review.context["review"].initial["name"] == "Copy of Customers"
    saved = alice_client.post(step_url(connection, draft, "review"), {"name": "Copy of Customers"})

    assert saved.status_code == 302
    copy = Import.objects.get(name="Copy of Customers")
    assert copy.pk != original.pk
    assert {f: getattr(copy, f) for f in DEFINITION} == {
        f: getattr(original, f) for f in DEFINITION
    }
    assert copy.source_schema == original.source_schema
    original.refresh_from_db()
    assert original.name == "Customers"  # left as it is


def test_a_duplicate_whose_source_changes_asks_for_the_mapping_again(
    alice_client, connection, original
):
    draft = draft_of(alice_client.post(duplicate_url(original)))

    moved = alice_client.post(
        step_url(connection, draft, "source"),
        {"action": "next", "source_kind": "table", "table": "create_orders"},
    )
    target = alice_client.get(moved["Location"])

    assert moved["Location"] == step_url(connection, draft, "target")
    assert target.context["form"].is_bound is False  # the copied mapping was for customers


def test_duplicating_saves_nothing_until_the_copys_save(alice_client, original):
    before = (Import.objects.count(), AuditEntry.objects.count())

    alice_client.post(duplicate_url(original))

    assert (Import.objects.count(), AuditEntry.objects.count()) == before


def _form_data(form) -> dict[str, str]:
    """What a browser sends for the form as shown: its bound data, or its initial values."""
    if form.is_bound:
        return {key: form.data.get(key) for key in form.data}
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else str(value)
    return data
