"""Create Import's mapping step and Edit, for identity and event semantics: the event ID
column, the NULL policy and identity normalization are chosen, checked and saved."""

import pytest

from imports.models import Import
from tests.imports.conftest import make_import
from tests.imports.test_create_flow import (
    form_errors,
    mapping_data,
    walk,
)
from tests.imports.test_create_types import target_step

EDIT = "/w/acme/settings/partners/bigquery/imports/{}/edit/"


def events_target(**extra):
    return {
        "target": "events",
        "identity_column": "user_id",
        "event_name_source": "fixed",
        "event_name_fixed": "Visited",
        "timestamp_column": "updated_at",
        **mapping_data({"tags": None}),
        **extra,
    }


def save(client, connection, table, target):
    """Save the import; returns it and the text of the review page it was saved from."""
    _, saved, review = walk(
        client,
        connection,
        source={"source_kind": "table", "table": table},
        target=target,
        sync={"sync_mode": "full"},
        schedule={"schedule_kind": "none"},
        name="Semantics",
    )
    assert saved.status_code == 302
    return Import.objects.get(name="Semantics"), " ".join(review.content.decode().split())


def test_the_mapping_step_offers_the_options_and_says_identical_rows_collapse(
    alice_client, connection, customers_table
):
    page = alice_client.get(target_step(alice_client, connection, customers_table))
    html = page.content.decode()

    assert 'name="event_id_column"' in html
    assert "None: identical rows collapse into one event" in html
    assert '<option value="visits">visits (INT64)</option>' in html  # STRING or INT64 only
    assert '<option value="score">' not in html
    assert 'name="null_policy" value="keep"' in html and "Overwrite with empty" in html
    assert 'name="identity_trim"' in html and 'name="identity_lowercase"' in html
    assert page.context["form"]["null_policy"].value() == "keep"


def test_an_events_import_saves_its_event_id_and_normalization(
    alice_client, connection, customers_table
):
    target = events_target(
        event_id_column="email", identity_trim="on", identity_lowercase="on", null_policy="keep"
    )

    import_obj, review = save(alice_client, connection, customers_table, target)

    assert (
        "Events deduplicate by column <strong>email</strong>: a row read again with a stored "
        "ID replaces that event." in review
    )
    assert "Identities are trimmed and lowercased before they are stored." in review
    assert 'id="review-null-policy"' not in review  # events have no NULL policy
    assert (
        import_obj.event_id_column,
        import_obj.identity_trim,
        import_obj.identity_lowercase,
    ) == (
        "email",
        True,
        True,
    )


def test_a_profiles_import_saves_its_null_policy_and_no_event_id(
    alice_client, connection, customers_table
):
    target = {
        "target": "profiles",
        "identity_column": "user_id",
        "event_id_column": "email",  # left over from trying Events: ignored
        "null_policy": "overwrite",
        **mapping_data({"tags": None}),
    }

    import_obj, review = save(alice_client, connection, customers_table, target)

    assert "A NULL column empties the profile's property (Overwrite with empty)." in review
    assert "deduplicate" not in review and 'id="review-identity-normalization"' not in review
    assert (import_obj.null_policy, import_obj.event_id_column) == ("overwrite", "")
    assert (import_obj.identity_trim, import_obj.identity_lowercase) == (False, False)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"event_id_column": "nope"}, "event_id_column", "Column “nope” is not in the source."),
        (
            {"event_id_column": "score"},
            "event_id_column",
            "The event ID column must be a STRING or INT64 column; “score” is FLOAT64.",
        ),
        (
            {"event_id_column": "tags"},
            "event_id_column",
            "The event ID column must be a STRING or INT64 column; “tags” is ARRAY<STRING>.",
        ),
        (
            {"null_policy": "forget"},
            "null_policy",
            "Choose to keep the stored value or overwrite it.",
        ),
    ],
)
def test_a_bad_choice_is_refused_on_its_field(
    alice_client, connection, customers_table, extra, field, message
):
    url = target_step(alice_client, connection, customers_table)

    response = alice_client.post(url, events_target(**extra))

    assert form_errors(response) == {field: [message]}


def test_edit_sets_the_event_id_and_normalization_of_an_events_import(
    alice_client, alice, connection_a
):
    import_obj = make_import(
        connection_a,
        alice,
        table="events",
        target="events",
        source_schema=[
            {"name": "user_id", "type": "STRING"},
            {"name": "event", "type": "STRING"},
            {"name": "ts", "type": "TIMESTAMP"},
            {"name": "order_id", "type": "INT64"},
        ],
    )
    page = alice_client.get(EDIT.format(import_obj.pk)).content.decode()
    assert 'name="event_id_column"' in page and 'name="null_policy"' not in page

    refused = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Events", "schedule_kind": "none", "event_id_column": "ts"},
    )
    assert "“ts” is TIMESTAMP" in refused.content.decode()
    saved = alice_client.post(
        EDIT.format(import_obj.pk),
        {
            "name": "Events",
            "schedule_kind": "none",
            "event_id_column": "order_id",
            "identity_lowercase": "on",
        },
    )

    assert saved.status_code == 302
    import_obj.refresh_from_db()
    assert (
        import_obj.event_id_column,
        import_obj.identity_trim,
        import_obj.identity_lowercase,
    ) == (
        "order_id",
        False,
        True,
    )
    detail = alice_client.get(saved["Location"]).content.decode()
    assert "<code>order_id</code>: events deduplicate by it" in detail
    assert "(identities lowercased)" in detail


def test_edit_sets_the_null_policy_of_a_profiles_import(alice_client, alice, connection_a):
    import_obj = make_import(connection_a, alice, table="users")
    assert import_obj.null_policy == "keep"
    page = alice_client.get(EDIT.format(import_obj.pk)).content.decode()
    assert 'name="null_policy" value="keep"' in page and 'name="event_id_column"' not in page

    saved = alice_client.post(
        EDIT.format(import_obj.pk),
        {"name": "Users", "schedule_kind": "none", "null_policy": "overwrite"},
    )

    assert saved.status_code == 302
    import_obj.refresh_from_db()
    assert import_obj.null_policy == "overwrite"
    detail = alice_client.get(saved["Location"]).content.decode()
    assert "Overwrite with empty: a NULL empties the stored property" in detail
