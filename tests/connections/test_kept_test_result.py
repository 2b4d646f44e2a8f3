"""A Test Connection run on the Add Database / Edit form is kept when exactly the tested
values and key are saved, and never otherwise (the real client libraries against the
stand-ins)."""

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from connections.models import Connection
from tests.conftest import client_for, make_user
from tests.connections.conftest import make_connection
from tests.factories import pem_lines
from tests.fixtures.standin_world import DATASET, LOCATION, PROJECT
from workspaces.models import Membership

BASE = "/w/acme/settings/partners/bigquery/"
HTMX = {"HX-Request": "true"}


def values(key, **changes):
    return {
        "name": "Warehouse",
        "project_id": PROJECT,
        "dataset_id": DATASET,
        "key_text": key.to_json(),
        **changes,
    }


def form_test(client, url, data):
    response = client.post(url, data, headers=HTMX)
    assert response.status_code == 200
    return response.context["result"]


def saved(client, data, url=BASE + "add/"):
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return response


@pytest.fixture(autouse=True)
def clear_rate_limits():
    from django.core.cache import cache

    cache.clear()


def test_a_passing_test_is_kept_when_the_same_values_are_saved(alice_client, google):
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC), tick=False):
        assert form_test(alice_client, BASE + "add/test/", values(google.key))["ok"]
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 20, tzinfo=dt.UTC), tick=False):
        response = saved(alice_client, values(google.key, name="Another name"))

    connection = Connection.objects.get()
    assert connection.status == Connection.Status.OK
    assert connection.last_test_result["ok"] is True
    assert connection.last_tested_at == dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)
    assert connection.location == LOCATION
    page = response.content.decode()
    assert "Test Connection passed on these values; its result is kept" in page
    assert "Untested" not in page
    assert "Mar 2, 2026 09:15 UTC" in page  # Last tested: the test's time, not the save's
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 21, tzinfo=dt.UTC), tick=False):
        detail = alice_client.get(f"{BASE}{connection.pk}/").content.decode()
    assert '<section class="checklist-box" id="checklist">' in detail  # the kept checklist
    assert "This connection has not been tested yet." not in detail


def test_an_uploaded_key_tested_then_pasted_is_the_same_key(alice_client, google):
    upload = SimpleUploadedFile("key.json", google.key.to_json().encode(), "application/json")
    form_test(
        alice_client, BASE + "add/test/", {**values(google.key, key_text=""), "key_file": upload}
    )

    saved(alice_client, values(google.key))

    assert Connection.objects.get().status == Connection.Status.OK


@pytest.mark.parametrize(
    "change",
    [
        {"dataset_id": "other_dataset"},
        {"project_id": "other-project-1"},
        {"billing_project_id": "acme-billing"},  # jobs run, and are allowed, elsewhere
        {"scratch_dataset_id": "imports_scratch"},  # results go elsewhere
    ],
)
def test_other_values_than_the_tested_ones_are_saved_untested(alice_client, google, change):
    form_test(alice_client, BASE + "add/test/", values(google.key))

    saved(alice_client, values(google.key, **change))

    connection = Connection.objects.get()
    assert connection.status == Connection.Status.UNTESTED
    assert connection.last_test_result is None and connection.last_tested_at is None


def test_another_key_than_the_tested_one_is_saved_untested(alice_client, google):
    other = google.stack.token_server.add_key(google.key.email)
    form_test(alice_client, BASE + "add/test/", values(google.key))

    saved(alice_client, values(other))

    assert Connection.objects.get().status == Connection.Status.UNTESTED


def test_a_failed_test_is_kept_as_failing(alice_client, google):
    google.stack.revoke(google.key.email, "roles/bigquery.jobUser", project=PROJECT)
    assert not form_test(alice_client, BASE + "add/test/", values(google.key))["ok"]

    response = saved(alice_client, values(google.key))

    connection = Connection.objects.get()
    assert connection.status == Connection.Status.FAILING
    assert connection.status_reason.startswith("BigQuery Job User:")
    assert "Test Connection did not pass on these values" in response.content.decode()


def test_a_result_is_kept_for_an_hour_only(alice_client, google):
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        form_test(alice_client, BASE + "add/test/", values(google.key))
    with time_machine.travel(start + dt.timedelta(hours=1, minutes=1), tick=False):
        saved(alice_client, values(google.key))

    assert Connection.objects.get().status == Connection.Status.UNTESTED


def test_another_admins_test_is_not_kept_for_me(alice_client, workspace_a, google):
    dave = make_user("dave@acme.test")
    Membership.objects.create(workspace=workspace_a, user=dave, role=Membership.Role.ADMIN)
    form_test(client_for(dave), BASE + "add/test/", values(google.key))

    saved(alice_client, values(google.key))

    assert Connection.objects.get().status == Connection.Status.UNTESTED


def test_a_claimed_result_in_the_form_counts_for_nothing(alice_client, google):
    forged = {"ok": True, "summary": "All checks passed.", "checks": []}
    data = {
        **values(google.key),
        "result": str(forged),
        "last_test_result": str(forged),
        "status": "ok",
        "tested": "1",
    }

    saved(alice_client, data)

    connection = Connection.objects.get()
    assert connection.status == Connection.Status.UNTESTED
    assert connection.last_test_result is None


def test_the_session_keeps_no_part_of_the_key(alice_client, google):
    form_test(alice_client, BASE + "add/test/", values(google.key))

    stored = str(dict(alice_client.session.items()))
    assert "connection_tests" in stored
    assert google.key.key_id not in stored
    assert all(line not in stored for line in pem_lines(google.key.info))


def test_edit_keeps_a_test_of_the_stored_key_and_new_values(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id="old_dataset"
    )
    edit = f"{BASE}{connection.pk}/edit/"
    form = {"name": "Renamed", "project_id": PROJECT, "dataset_id": DATASET}
    assert form_test(alice_client, edit + "test/", form)["ok"]

    saved(alice_client, form, url=edit)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.last_test_result["ok"] is True


def test_edit_keeps_a_test_of_a_rotated_key(alice_client, alice, workspace_a, google):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )
    rotated = google.stack.token_server.add_key(google.key.email)
    edit = f"{BASE}{connection.pk}/edit/"
    form_test(alice_client, edit + "test/", values(rotated))

    response = saved(alice_client, values(rotated), url=edit)

    connection.refresh_from_db()
    assert connection.private_key_id == rotated.key_id
    assert connection.status == Connection.Status.OK
    page = response.content.decode()
    assert "The key was replaced." in page and "Run Test Connection" not in page


def test_a_test_on_one_connections_form_is_not_kept_for_another(
    alice_client, alice, workspace_a, google
):
    tested, other = (
        make_connection(
            workspace_a,
            alice,
            name=name,
            info=google.key.info,
            project_id=PROJECT,
            dataset_id=DATASET,
        )
        for name in ("Tested", "Other")
    )
    form = {"project_id": PROJECT, "dataset_id": DATASET}
    form_test(alice_client, f"{BASE}{tested.pk}/edit/test/", {"name": "Tested", **form})

    saved(alice_client, {"name": "Other", **form}, url=f"{BASE}{other.pk}/edit/")
    saved(alice_client, values(google.key, name="New one"))

    other.refresh_from_db()
    assert other.status == Connection.Status.UNTESTED
    assert Connection.objects.get(name="New one").status == Connection.Status.UNTESTED


def test_a_key_rotated_by_someone_else_after_the_test_is_not_kept(
    alice_client, alice, workspace_a, google
):
    connection = make_connection(
        workspace_a, alice, info=google.key.info, project_id=PROJECT, dataset_id=DATASET
    )
    edit = f"{BASE}{connection.pk}/edit/"
    form = {"name": "Warehouse", "project_id": PROJECT, "dataset_id": DATASET}
    form_test(alice_client, edit + "test/", form)
    rotated = google.stack.token_server.add_key(google.key.email)
    saved(client_for(alice), values(rotated), url=edit)  # another tab, no test
    connection.refresh_from_db()
    assert connection.status == Connection.Status.UNTESTED

    saved(alice_client, {**form, "name": "Renamed"}, url=edit)

    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection.status == Connection.Status.UNTESTED
