"""The workspace's property types (first seen wins, one workspace never sees another's) and
the one-line summary of a row's properties on the Profiles and Events pages."""

import pytest

from audience import selectors, services


@pytest.mark.django_db
def test_each_workspace_keeps_its_own_type_of_the_same_property(workspace_a, workspace_b):
    kept_a = services.property_types_record(
        workspace_id=workspace_a.pk, types={"plan": "STRING"}, import_id=None, import_name="A"
    )
    kept_b = services.property_types_record(
        workspace_id=workspace_b.pk,
        types={"plan": "INT64", "seats": "INT64"},
        import_id=None,
        import_name="Nightly accounts import",
    )

    assert kept_a == {"plan": "STRING"}
    assert kept_b == {"plan": "INT64", "seats": "INT64"}
    again_a = services.property_types_record(
        workspace_id=workspace_a.pk, types={"plan": "BOOL"}, import_id=None, import_name="A2"
    )
    assert again_a == {"plan": "STRING"}  # its own first seen, not the other workspace's
    [plan] = selectors.property_types_of(workspace_id=workspace_b.pk, names=["plan"]).values()
    assert (plan.type, plan.defined_by_import_name) == ("INT64", "Nightly accounts import")
    assert selectors.property_types_of(workspace_id=workspace_a.pk, names=["seats"]) == {}


@pytest.mark.django_db
def test_the_import_that_defined_a_type_is_named_up_to_100_characters(workspace_a):
    services.property_types_record(
        workspace_id=workspace_a.pk, types={"plan": "STRING"}, import_id=None, import_name="n" * 150
    )

    [plan] = selectors.property_types_of(workspace_id=workspace_a.pk, names=["plan"]).values()
    assert plan.defined_by_import_name == "n" * 100


def test_the_summary_shows_four_properties_by_name_and_counts_the_rest():
    four = {"d": 4, "c": "x", "b": True, "a": None}

    assert selectors.properties_summary(four) == "a=null, b=true, c=x, d=4"
    assert selectors.properties_summary({**four, "e": 5, "f": 6}) == (
        "a=null, b=true, c=x, d=4, +2 more"
    )


def test_the_summary_cuts_a_value_longer_than_40_characters_to_40():
    exactly = "v" * 40

    assert selectors.properties_summary({"k": exactly}) == f"k={exactly}"
    assert selectors.properties_summary({"k": exactly + "w"}) == "k=" + "v" * 39 + "…"
