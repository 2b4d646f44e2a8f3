def test_sign_in_page_renders(client, db):
    response = client.get("/signin/")

    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_the_csrf_cookie_stays_on_this_site(client, db):
    cookie = client.get("/signin/").cookies["csrftoken"]

    assert cookie["samesite"] == "Lax"


def test_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post("/signin/", {"username": "alice@acme.test", "password": "nope"})

    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_sign_out_ends_the_session(alice_client):
    assert alice_client.get("/w/acme/settings/partners/bigquery/").status_code == 200

    signed_out = alice_client.post("/signout/", follow=True)

    assert signed_out.redirect_chain == [("/signin/", 302)]
    assert "You are signed out." in signed_out.content.decode()
    assert alice_client.get("/w/acme/settings/partners/bigquery/").status_code == 302


def test_the_sign_in_page_sends_a_signed_in_user_on(alice_client):
    page = alice_client.get("/signin/", follow=True)

    assert page.redirect_chain[0] == ("/", 302)
    assert page.status_code == 200 and b"Sign in" not in page.content


def test_sign_out_is_not_possible_by_get(alice_client):
    assert alice_client.get("/signout/").status_code == 405


def test_pages_send_the_security_headers(alice_client):
    response = alice_client.get("/w/acme/settings/partners/bigquery/")

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for directive in ("frame-ancestors 'none'", "object-src 'none'", "form-action 'self'"):
        assert directive in csp.split("; ")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_content_security_policy_allows_the_apps_own_files_only(alice_client):
    csp = alice_client.get("/w/acme/settings/partners/bigquery/")["Content-Security-Policy"]

    assert csp.split("; ") == [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]


def test_password_guessing_is_stopped_after_five_failures(client, alice):
    from django.core.cache import cache

    cache.clear()
    for _ in range(5):
        assert (
            client.post(
                "/signin/", {"username": "alice@acme.test", "password": "guess"}
            ).status_code
            == 200
        )

    locked = client.post(
        "/signin/", {"username": "ALICE@acme.test", "password": "correct horse battery"}
    )

    assert locked.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 1" in locked.content.decode()
    # 15 minutes after the first failure, up to one slot (75 s) later: slots count whole.
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60 + 75
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_a_successful_sign_in_clears_the_failures(client, alice, bob):
    from django.core.cache import cache

    cache.clear()
    for _ in range(4):
        client.post("/signin/", {"username": "alice@acme.test", "password": "guess"})
    assert (
        client.post(
            "/signin/", {"username": "alice@acme.test", "password": "correct horse battery"}
        ).status_code
        == 302
    )
    client.post("/signout/")
    for _ in range(4):
        client.post("/signin/", {"username": "alice@acme.test", "password": "guess"})
    # another account is not affected by alice's failures
    assert (
        client.post(
            "/signin/", {"username": "bob@acme.test", "password": "correct horse battery"}
        ).status_code
        == 302
    )
    cache.clear()
