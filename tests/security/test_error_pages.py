"""Error pages in the app's layout, with a way back and no details (the suite runs with
DEBUG=False, as production does); a refused request is logged in one line."""

import logging

from django.test import Client
from django.views.defaults import server_error

from workspaces import views as workspace_views

WAY_BACK = '<a class="btn btn-primary" href="/">Back to BigQuery Imports</a>'


def assert_error_page(response, status: int, heading: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert f"{heading} ({status})" in page
    assert WAY_BACK in page
    assert 'href="/static/css/app.css"' in page  # the app's layout, styled
    assert "Traceback" not in page
    return page


def test_a_missing_page_in_the_layout_without_the_path(alice_client):
    response = alice_client.get("/w/acme/settings/no-such-page-3f9a/")

    page = assert_error_page(response, 404, "Page not found")
    assert "no-such-page-3f9a" not in page
    assert 'class="topbar"' in page and "alice@acme.test" in page  # signed in: the top bar


def test_another_workspace_is_a_404_page_too(charlie_client, alice):
    assert_error_page(
        charlie_client.get("/w/acme/settings/partners/bigquery/"), 404, "Page not found"
    )


def test_a_members_forbidden_action_is_a_403_page_logged_in_one_line(bob_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = bob_client.post("/w/acme/settings/partners/bigquery/add/", {"name": "x"})

    assert_error_page(response, 403, "Not allowed")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert (
        record.getMessage()
        == "Forbidden (Permission denied): /w/acme/settings/partners/bigquery/add/"
    )
    assert record.exc_info is None and "Traceback" not in caplog.text


def test_an_expired_form_is_a_403_page(db):
    response = Client(enforce_csrf_checks=True).post("/signin/", {"username": "a", "password": "b"})

    assert_error_page(response, 403, "The form has expired")
    assert "CSRF verification failed" not in response.content.decode()
    assert "token missing" not in response.content.decode()


def test_a_bad_request_is_a_400_page(db):
    response = Client(raise_request_exception=False).get("/", HTTP_HOST="attacker.example")

    page = assert_error_page(response, 400, "Bad request")
    assert "attacker.example" not in page


def test_a_server_error_is_a_500_page_without_the_error(alice, monkeypatch, caplog):
    def broken(user):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(workspace_views, "workspace_default_for_user", broken)
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        page = assert_error_page(browser.get("/"), 500, "Something went wrong")
    assert "secret detail" not in page and "RuntimeError" not in page
    # the operator's log keeps what the page hides: a crash is logged with its traceback
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "secret detail of the failure" in caplog.text


def test_the_500_page_renders_without_a_request_context(rf):
    # Django renders it with an empty context: nothing in it may need the request, nor the
    # database (without the `db` fixture any query fails this test).
    response = server_error(rf.get("/"))

    assert_error_page(response, 500, "Something went wrong")
