"""Identity and event semantics in a real browser: the mapping step shows the NULL policy for
profiles and the event ID column for events, with the identity normalization for both, and
the saved import's page says what was chosen."""

import pytest
from playwright.sync_api import expect

from imports.models import Import
from tests.browser.test_types_pages import to_target_step
from tests.imports.test_create_flow import flow_connection

pytestmark = pytest.mark.slow


def test_the_mapping_step_shows_the_options_that_apply_to_the_target(
    page,
    live_server,
    alice,
    workspace_a,
    google,
    flow_tables,
    screenshot,
):
    connection = flow_connection(google, workspace_a, alice)
    to_target_step(page, live_server, alice, connection)
    event_id = page.get_by_label("Event ID column")
    keep = page.get_by_label("Keep the stored value")

    page.get_by_label("User Profiles").check()
    expect(keep).to_be_visible()
    expect(keep).to_be_checked()  # the default
    expect(event_id).to_be_hidden()
    expect(page.get_by_label("Trim spaces around identities")).not_to_be_checked()
    screenshot("semantics-target-profiles")

    page.get_by_label("Events").check()
    expect(keep).to_be_hidden()
    expect(event_id).to_be_visible()
    expect(event_id).to_have_value("")
    expect(event_id.locator("option:checked")).to_have_text(
        "None: identical rows collapse into one event"
    )
    expect(page.locator("#help-event_id_column")).to_contain_text(
        "rows identical in every imported column collapse into one event"
    )
    page.get_by_label("Identity column").select_option("user_id")
    page.get_by_label("A fixed name").check()
    page.get_by_label("Fixed event name").fill("Signed up")
    page.get_by_label("Timestamp column").select_option("updated_at")
    event_id.select_option("email")
    page.get_by_label("Trim spaces around identities").check()
    page.get_by_label("Lowercase identities").check()
    assert page.console_errors == []
    screenshot("semantics-target-events")

    page.get_by_role("button", name="Next: Sync").click()
    page.get_by_role("button", name="Next: Schedule").click()
    page.get_by_label("No schedule (run manually)").check()
    page.get_by_role("button", name="Next: Review").click()
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#definition-event-id")).to_contain_text("events deduplicate by it")
    expect(page.locator("#definition-normalization")).to_have_text(
        "(identities trimmed and lowercased)"
    )
    import_obj = Import.objects.get()
    assert (
        import_obj.event_id_column,
        import_obj.identity_trim,
        import_obj.identity_lowercase,
    ) == (
        "email",
        True,
        True,
    )
    screenshot("semantics-import-definition")

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Event ID column")).to_have_value("email")
    expect(page.get_by_label("Lowercase identities")).to_be_checked()
    page.get_by_label("Event ID column").select_option("")
    page.get_by_label("Lowercase identities").uncheck()
    screenshot("semantics-edit-events")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#definition-event-id")).to_contain_text(
        "None: rows identical in every imported column are stored once"
    )
    expect(page.locator("#definition-normalization")).to_have_text("(identities trimmed)")
