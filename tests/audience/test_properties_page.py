"""Audience > Properties: each property name of the workspace with its type and the import
that set it, searchable, scoped to the workspace."""

import datetime as dt
import uuid

import pytest

from audience.models import PropertyType

PROPERTIES = "/w/acme/audience/properties/"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def add_types(workspace, types, import_name="Customers"):
    import_id = uuid.uuid4()
    PropertyType.objects.bulk_create(
        PropertyType(
            workspace=workspace,
            name=name,
            type=type_,
            defined_by_import_id=import_id,
            defined_by_import_name=import_name,
            first_seen_at=T0,
        )
        for name, type_ in types.items()
    )


def listed(response):
    return [(p.name, p.type) for p in response.context["page"].object_list]


def test_properties_by_name_with_type_import_and_first_seen(alice_client, workspace_a):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    add_types(workspace_a, {"plan": "STRING", "amount": "NUMERIC"})
    add_types(workspace_a, {"tags": "ARRAY<STRUCT<k STRING, v INT64>>"}, import_name="Orders")

    response = alice_client.get(PROPERTIES)

    assert listed(response) == [
        ("amount", "NUMERIC"),
        ("plan", "STRING"),
        ("tags", "ARRAY<STRUCT<k STRING, v INT64>>"),
    ]
    page = response.content.decode()
    assert "3 properties, by name" in page
    assert "ARRAY&lt;STRUCT&lt;k STRING, v INT64&gt;&gt;" in page
    assert "Orders" in page and "Customers" in page
    assert "Mar 1, 2026 13:00" in page  # in the workspace's zone
    assert f'href="{PROPERTIES}" class="active">Properties</a>' in page  # the sidebar link


def test_properties_search_by_part_of_the_name(alice_client, workspace_a):
    add_types(workspace_a, {"Plan": "STRING", "billing_plan": "STRING", "amount": "INT64"})

    response = alice_client.get(PROPERTIES, {"q": " PLAN "})

    assert listed(response) == [("billing_plan", "STRING"), ("Plan", "STRING")]
    assert "2 properties whose name contains “PLAN”" in response.content.decode()
    nothing = alice_client.get(PROPERTIES, {"q": "<b>\x00"})
    assert nothing.status_code == 200
    assert "No properties match “&lt;b&gt;”" in nothing.content.decode()


def test_properties_are_workspace_scoped(
    alice_client, charlie_client, workspace_a, workspace_b, bob_client
):
    add_types(workspace_a, {"plan": "STRING"})
    add_types(workspace_b, {"secret": "INT64"})

    assert listed(alice_client.get(PROPERTIES)) == [("plan", "STRING")]
    assert listed(bob_client.get(PROPERTIES)) == [("plan", "STRING")]  # members may browse
    assert charlie_client.get(PROPERTIES).status_code == 404
    assert listed(charlie_client.get("/w/globex/audience/properties/")) == [("secret", "INT64")]


@pytest.mark.parametrize("page", ["0", "-1", "999", "x"])
def test_properties_empty_state_and_odd_pages(alice_client, workspace_a, page):
    response = alice_client.get(PROPERTIES, {"page": page})

    assert response.status_code == 200
    assert "No properties yet" in response.content.decode()


def test_properties_page_counts_queries(alice_client, workspace_a, django_assert_max_num_queries):
    add_types(workspace_a, {f"p{i:03d}": "STRING" for i in range(150)})

    with django_assert_max_num_queries(12):
        second = alice_client.get(PROPERTIES, {"page": 2})

    assert [name for name, _ in listed(second)] == [f"p{i:03d}" for i in range(100, 150)]
    assert "Page 2 of 2" in second.content.decode()
