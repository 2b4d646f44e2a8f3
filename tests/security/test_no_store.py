"""Pages of a signed-in user are kept by no cache; signed-out pages may be."""

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/w/acme/settings/partners/bigquery/",
        "/w/acme/settings/partners/bigquery/add/",
        "/w/acme/audience/profiles/",
        "/w/acme/settings/no-such-page/",  # error pages too
    ],
)
def test_signed_in_pages_send_no_store(alice_client, path):
    response = alice_client.get(path)

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_the_answer_to_signing_in_is_not_stored_either(client, alice):
    response = client.post(
        "/signin/", {"username": "alice@acme.test", "password": "correct horse battery"}
    )

    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]


def test_signed_out_pages_are_not_marked(client, db):
    assert "no-store" not in client.get("/no-such-page/").get("Cache-Control", "")
