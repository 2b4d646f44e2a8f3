"""The review step's "What will land" block: loaded in place (htmx) or on request without
JavaScript, for admins of the workspace only, and never a 500 or a key on the page."""

from audience.models import PropertyType
from tests.imports.test_create_flow import draft_of as draft_from
from tests.imports.test_create_flow import (
    mapping_data,
    post_source,
    step_url,
)


def to_review(client, connection, table) -> str:
    """Post Source to Schedule; the draft id."""
    response = post_source(client, connection, source_kind="table", table=table)
    draft = draft_from(response)
    for step, data in (
        ("target", {"target": "profiles", "identity_column": "user_id", **mapping_data({})}),
        ("sync", {"sync_mode": "full"}),
        ("schedule", {"action": "next", "schedule_kind": "none"}),
    ):
        assert client.post(step_url(connection, draft, step), data).status_code == 302, step
    return draft


def sample_url(connection, draft):
    return step_url(connection, draft, "review") + "sample/"


def test_the_review_page_loads_the_sample_in_place(alice_client, connection, customers_table):
    draft = to_review(alice_client, connection, customers_table)

    page = alice_client.get(step_url(connection, draft, "review")).content.decode()

    assert f'hx-get="{sample_url(connection, draft)}"' in page
    assert 'id="sample-loading"' in page and "?sample=1#review-sample" in page


def test_the_sample_fragment_shows_what_each_property_would_store(
    alice_client, connection, customers_table, workspace_a, google
):
    PropertyType.objects.create(
        workspace=workspace_a, name="visits", type="STRING", first_seen_at=connection.created_at
    )
    draft = to_review(alice_client, connection, customers_table)

    response = alice_client.get(sample_url(connection, draft), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    sample = response.context["sample"]
    assert sample.error == "" and sample.read_path == "rest"
    assert (sample.rows_read, sample.identities, sample.existing) == (3, 3, 0)
    assert "3 sample rows" in html and "REST paging because" in html
    assert 'id="sample-identities"' in html and "<strong>3</strong> new" in html
    visits = next(p for p in sample.properties if p.name == "visits")
    assert (visits.stored_type, visits.source_type) == ("STRING", "INT64")
    assert visits.values == ['"0"', '"3"', '"6"']  # cast to the workspace's STRING
    assert [f.kind for f in visits.flags] == ["conflict"]
    assert 'data-flag="conflict"' in html
    assert google.key.info["private_key_id"] not in html
    assert "PRIVATE KEY" not in html


def test_without_javascript_the_sample_is_read_on_request(
    alice_client, connection, customers_table
):
    draft = to_review(alice_client, connection, customers_table)

    page = alice_client.get(step_url(connection, draft, "review"), {"sample": "1"})

    html = page.content.decode()
    assert page.context["sample"].rows_read == 3
    assert 'id="sample-properties"' in html and 'id="sample-loading"' not in html
    assert 'id="estimate-first">Each run processes about <strong>' in html


def test_a_google_error_is_shown_in_the_block_and_the_review_still_saves(
    alice_client, connection, customers_table, google
):
    draft = to_review(alice_client, connection, customers_table)
    google.stack.gate.inject("quota_exceeded", times=None, match="tabledata.list")

    response = alice_client.get(sample_url(connection, draft))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="sample-error"' in html and "This does not stop you from saving" in html
    saved = alice_client.post(step_url(connection, draft, "review"), {"name": "Customers"})
    assert saved.status_code == 302


def test_an_incomplete_draft_has_no_sample(alice_client, connection, customers_table):
    response = post_source(alice_client, connection, source_kind="table", table=customers_table)
    draft = draft_from(response)

    answer = alice_client.get(sample_url(connection, draft))

    assert answer.status_code == 200
    assert "The steps before Review are not complete" in answer.content.decode()
    assert "sample" not in answer.context or answer.context.get("sample") is None


def test_members_and_other_workspaces_get_no_sample(
    alice_client, bob_client, charlie_client, connection, customers_table, google
):
    draft = to_review(alice_client, connection, customers_table)
    url = sample_url(connection, draft)
    before = len(google.stack.gate.requests)

    assert bob_client.get(url).status_code == 403
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.get(url.replace("/w/acme/", "/w/globex/")).status_code == 404
    assert len(google.stack.gate.requests) == before  # nothing was read for them


def test_a_view_is_sampled_with_its_query_as_its_runs_read_it(
    alice_client, connection, customers_table
):
    draft = to_review(alice_client, connection, customers_table)
    table = alice_client.get(sample_url(connection, draft)).content.decode()
    # What Google answers for a view's details (the stand-in keeps tables only).
    session = alice_client.session
    session["import_drafts"][draft]["source"]["info"]["kind"] = "VIEW"
    session.save()

    view = alice_client.get(sample_url(connection, draft))

    ran_once = "(the source ran once with <code>LIMIT 20</code>)"
    assert ran_once not in table
    assert ran_once in view.content.decode()
    assert view.context["sample"].rows_read == 3
