def test_sign_in_page_renders(client, db):
    response = client.get("/signin/")

    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post("/signin/", {"username": "alice@acme.test", "password": "nope"})

    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_sign_out_ends_the_session(alice_client):
    assert alice_client.get("/w/acme/settings/partners/bigquery/").status_code == 200

    alice_client.post("/signout/")

    assert alice_client.get("/w/acme/settings/partners/bigquery/").status_code == 302


def test_sign_out_is_not_possible_by_get(alice_client):
    assert alice_client.get("/signout/").status_code == 405


def test_pages_send_the_security_headers(alice_client):
    response = alice_client.get("/w/acme/settings/partners/bigquery/")

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
