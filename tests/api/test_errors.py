"""Every API error is JSON: {"error": {"code", "message"}}; 429 says when to retry."""

import base64
import datetime as dt

import pytest
from django.core.cache import cache

from api.pagination import BAD_CURSOR
from imports.models import Import
from tests.api.conftest import API, ApiClient, error_of, make_token
from tests.connections.conftest import make_connection
from tests.imports.conftest import make_import


@pytest.fixture
def import_a(alice, workspace_a):
    return make_import(make_connection(workspace_a, alice), alice, table="users")


def test_400_names_the_fields(alice_api):
    response = alice_api.get(f"{API}/acme/connections/", {"connected_on_after": "yesterday"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "connected_on_after": ["Enter the date as YYYY-MM-DD, e.g. 2026-03-05."]
    }


def test_400_for_an_unknown_ordering(alice_api):
    response = alice_api.get(f"{API}/acme/connections/", {"ordering": "key"})

    assert response.status_code == 400
    assert "Order by one of" in error_of(response)["fields"]["ordering"][0]


def test_401_without_a_token_says_how_to_send_one(client, workspace_a):
    response = client.get(f"{API}/acme/connections/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_of(response) == {
        "code": "not_authenticated",
        "message": "Send an API token in the Authorization header: `Bearer <token>`.",
    }


def test_401_for_another_scheme(client, alice, workspace_a):
    response = client.get(f"{API}/acme/", headers={"Authorization": "Basic YWxpY2U6cHc="})

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_malformed"


def test_a_session_is_not_a_credential_for_the_api(alice_client, alice, workspace_a):
    import_a = make_import(make_connection(workspace_a, alice), alice, table="users")

    read = alice_client.get(f"{API}/acme/connections/")
    run = alice_client.post(f"{API}/acme/imports/{import_a.pk}/runs/")

    assert read.status_code == run.status_code == 401
    assert error_of(read)["code"] == error_of(run)["code"] == "not_authenticated"
    assert not import_a.runs.exists()


def test_403_for_a_scope_too_low(alice, workspace_a, import_a):
    api = ApiClient(make_token(alice, workspace_a, "read"))

    response = api.post(f"{API}/acme/imports/{import_a.pk}/runs/")

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "insufficient_scope"
    assert "this request needs the “run” scope" in error["message"]
    assert not import_a.runs.exists()


def test_404_for_an_unknown_object_and_an_unknown_endpoint(alice_api):
    for path in (
        f"{API}/acme/connections/00000000-0000-0000-0000-000000000000/",
        f"{API}/acme/nothing-here/",
        "/api/v2/",
    ):
        response = alice_api.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found", path


def test_405_names_the_method(alice_api):
    response = alice_api.delete(f"{API}/acme/connections/")

    assert response.status_code == 405
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": 'Method "DELETE" not allowed.',
    }


def test_a_method_no_endpoint_names_a_scope_for_needs_the_admin_scope(alice, workspace_a):
    # Only the admin scope gets as far as being told the endpoint takes no such method.
    run_api = ApiClient(make_token(alice, workspace_a, "run"))

    for method in ("put", "patch", "delete"):
        response = getattr(run_api, method)(f"{API}/acme/connections/")
        assert response.status_code == 403, method
        error = error_of(response)
        assert error["code"] == "insufficient_scope", method
        assert "this request needs the “admin” scope" in error["message"], method


def test_409_for_an_action_the_state_does_not_allow(alice_api, import_a):
    assert import_a.status == Import.Status.READY

    response = alice_api.post(f"{API}/acme/imports/{import_a.pk}/resume/")

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "illegal_transition",
        "message": "Only a paused or stopped import can be resumed; this one is ready.",
    }


def test_429_with_retry_after_once_a_token_uses_its_allowance(
    alice, workspace_a, settings, time_machine
):
    cache.clear()
    settings.API_RATE_LIMIT = "3/min"
    time_machine.move_to(dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), tick=False)
    api = ApiClient(make_token(alice, workspace_a))
    other = ApiClient(make_token(alice, workspace_a, name="second"))
    for _ in range(3):
        assert api.get(f"{API}/acme/").status_code == 200

    time_machine.move_to(dt.datetime(2026, 5, 1, 12, 0, 20, tzinfo=dt.UTC), tick=False)
    response = api.get(f"{API}/acme/")

    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    assert error_of(response) == {
        "code": "throttled",
        "message": "Too many requests. Try again in 40 seconds.",
    }
    assert other.get(f"{API}/acme/").status_code == 200  # the allowance is per token
    time_machine.move_to(dt.datetime(2026, 5, 1, 12, 1, 1, tzinfo=dt.UTC), tick=False)
    assert api.get(f"{API}/acme/").status_code == 200


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("p=garbage"),  # decodes; not a time for the created_at ordering
        _cursor("p=2026-99-99"),
        _cursor("p=\x00"),  # PostgreSQL refuses a NUL in a text parameter
        "abc",  # does not decode at all
    ],
)
@pytest.mark.parametrize("path", ["connections/", "imports/", "imports/{pk}/runs/", "audit/"])
def test_a_cursor_not_made_by_the_api_is_a_400_naming_the_cursor(alice_api, import_a, path, cursor):
    response = alice_api.get(f"{API}/acme/{path.format(pk=import_a.pk)}", {"cursor": cursor})

    assert response.status_code == 400, response.content
    assert error_of(response)["fields"] == {"cursor": [BAD_CURSOR]}


@pytest.mark.parametrize("size", ["abc", "0", "-5", "201", "1.5", "١٢", str(10**30), ""])
def test_a_page_size_outside_1_to_200_is_a_400(alice_api, import_a, size):
    response = alice_api.get(f"{API}/acme/imports/", {"page_size": size})

    assert response.status_code == 400, response.content
    assert error_of(response)["fields"] == {
        "page_size": ["page_size must be a whole number from 1 to 200."]
    }


def test_page_sizes_from_1_to_200_are_taken(alice_api, alice, workspace_a, import_a):
    make_import(make_connection(workspace_a, alice, name="Second"), alice, table="users")

    one = alice_api.get(f"{API}/acme/imports/", {"page_size": "1"}).json()
    most = alice_api.get(f"{API}/acme/imports/", {"page_size": "200"}).json()

    assert (len(one["results"]), bool(one["next"])) == (1, True)
    assert (len(most["results"]), most["next"]) == (2, None)


def test_a_bad_day_is_named_by_the_parameter_sent_and_a_reversed_range_by_the_range(alice_api):
    bad_end = alice_api.get(
        f"{API}/acme/connections/",
        {"connected_on_after": "2026-03-01", "connected_on_before": "2026-13-40"},
    )
    reversed_range = alice_api.get(
        f"{API}/acme/connections/",
        {"connected_on_after": "2026-03-05", "connected_on_before": "2026-03-01"},
    )

    assert error_of(bad_end)["fields"] == {
        "connected_on_before": ["Enter the date as YYYY-MM-DD, e.g. 2026-03-05."]
    }
    assert list(error_of(reversed_range)["fields"]) == ["connected_on"]


def test_the_handler_answers_djangos_own_refusals_a_bare_list_and_a_crash_in_the_same_shape(
    db, caplog
):
    from django.core.exceptions import PermissionDenied
    from rest_framework import exceptions

    from api.errors import error_response

    denied = error_response(PermissionDenied(), {})
    listed = error_response(exceptions.ValidationError(["Pick one."]), {})
    with caplog.at_level("ERROR", logger="api.errors"):
        crashed = error_response(RuntimeError("secret detail"), {})

    assert (denied.status_code, denied.data["error"]["code"]) == (403, "permission_denied")
    assert denied.data["error"]["message"] == "This token may not do that."
    assert listed.status_code == 400
    assert listed.data["error"]["fields"] == {"non_field_errors": ["Pick one."]}
    assert crashed.status_code == 500
    assert crashed.data == {
        "error": {
            "code": "server_error",
            "message": "Something went wrong on the server; it was logged.",
        }
    }
    assert "secret detail" in caplog.text
