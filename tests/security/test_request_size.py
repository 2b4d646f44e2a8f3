"""Bodies larger than a page accepts are refused from their Content-Length, unread: nothing
is parsed, spooled to disk or passed to CSRF first. The connection forms (a key is at most
64 KiB) answer with the key field's own message."""

import socket

import pytest
from django.conf import settings
from django.test import Client

from connections.models import Connection
from tests.connections.conftest import make_connection

ADD = "/w/acme/settings/partners/bigquery/add/"
KEY_MESSAGE = "The key file is larger than 64 KiB; a service account key is about 2.3 KB."
TEN_MIB = 10 * 1024 * 1024


def connection_fields(**fields):
    return {"name": "Warehouse", "project_id": "acme-analytics", "dataset_id": "events", **fields}


def test_a_pasted_key_far_over_the_limit_gets_the_key_fields_message(alice_client):
    response = alice_client.post(ADD, connection_fields(key_text="x" * TEN_MIB))

    assert response.status_code == 413
    assert response.context["form"].errors == {
        "key_file": [KEY_MESSAGE],
        "__all__": [
            "What you sent was too large to read, so nothing of it was kept: enter your "
            "changes again, with the key file as Google gave it."
        ],
    }
    page = response.content.decode()
    assert KEY_MESSAGE in page and "Add Database" in page
    assert "Bad Request" not in page
    assert not Connection.objects.exists()


def test_the_edit_form_and_test_connection_answer_the_same(alice_client, alice, workspace_a):
    connection = make_connection(workspace_a, alice)
    edit = f"/w/acme/settings/partners/bigquery/{connection.pk}/edit/"
    huge = connection_fields(key_text="x" * TEN_MIB)

    edited = alice_client.post(edit, huge)
    tested = alice_client.post(f"{edit}test/", huge, headers={"HX-Request": "true"})
    tested_without_js = alice_client.post(f"{ADD}test/", huge)

    assert edited.status_code == 413 and KEY_MESSAGE in edited.content.decode()
    assert edited.context["form"]["name"].value() == connection.name  # as saved: unread
    assert tested.status_code == 200  # htmx swaps in only a 2xx answer
    assert tested.context["result"]["checks"][0]["detail"] == KEY_MESSAGE
    assert tested_without_js.status_code == 413
    assert KEY_MESSAGE in tested_without_js.content.decode()
    connection.refresh_from_db()
    assert connection.name == "Warehouse"


def test_another_workspaces_connection_is_not_found_with_an_oversized_body_either(
    charlie_client, alice, workspace_a
):
    # charlie is an admin of Globex: the Globex URL lets him in, the lookup must not.
    connection = make_connection(workspace_a, alice, name="Acme secret warehouse")
    edit = f"/w/globex/settings/partners/bigquery/{connection.pk}/edit/"
    huge = connection_fields(key_text="x" * TEN_MIB)

    for url, headers in (
        (edit, {}),
        (f"{edit}test/", {"HX-Request": "true"}),
        (f"{edit}test/", {}),
    ):
        response = charlie_client.post(url, huge, headers=headers)
        assert response.status_code == 404, (url, headers)
        assert "Acme secret warehouse" not in response.content.decode()


def test_a_key_just_over_64_kib_is_still_read_and_refused_by_the_form(alice_client):
    response = alice_client.post(ADD, connection_fields(key_text="x" * (64 * 1024 + 1)))

    assert response.status_code == 200  # within the form's body limit: the form says it
    assert response.context["form"].errors["key_text"] == [
        KEY_MESSAGE.replace("The key file", "The pasted key")
    ]


def test_any_other_page_refuses_a_body_over_the_general_limit(client, db):
    response = client.post(
        "/signin/", {"username": "a", "password": "x" * settings.REQUEST_BODY_MAX_BYTES}
    )

    assert response.status_code == 413
    assert "What you sent is too large (413)" in response.content.decode()


def test_the_general_limit_takes_a_body_of_exactly_its_size_and_not_a_byte_more(client, db):
    def signin_with_a_body_of(size: int):
        body = b"username=a&password="
        body += b"x" * (size - len(body))
        return client.generic(
            "POST", "/signin/", body, content_type="application/x-www-form-urlencoded"
        )

    at_the_limit = signin_with_a_body_of(settings.REQUEST_BODY_MAX_BYTES)
    over_it = signin_with_a_body_of(settings.REQUEST_BODY_MAX_BYTES + 1)

    assert at_the_limit.status_code == 200  # read: the sign-in form answers
    assert over_it.status_code == 413


def test_a_chunked_body_without_a_length_is_refused(client, db):
    response = client.generic(
        "POST", "/signin/", b"", content_type="text/plain", HTTP_TRANSFER_ENCODING="chunked"
    )

    assert response.status_code == 413


# -- over real HTTP ----------------------------------------------------------------------------


@pytest.fixture
def upload_dir(settings, tmp_path):
    """Where Django would spool an upload; small uploads stay in memory anyway."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # anything read at all would land here
    return tmp_path


def headers_only(live_server, path: str, length: int, cookie: str = "") -> str:
    """Send a multipart POST's headers announcing `length` bytes, none of the body, and
    read the answer: it must come without waiting for the body."""
    host, port = live_server.thread.host, live_server.thread.port
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n"
        f"Content-Length: {length}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    )
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode("utf-8", "replace")


def test_a_signed_out_gigabyte_is_answered_before_it_is_sent(live_server, upload_dir):
    answer = headers_only(live_server, "/signin/", 1024**3)

    assert answer.startswith("HTTP/1.1 413")
    assert "What you sent is too large (413)" in answer
    assert list(upload_dir.iterdir()) == []


def test_a_100_mb_key_upload_gets_the_form_before_it_is_sent(live_server, upload_dir, alice):
    browser = Client()
    browser.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    answer = headers_only(live_server, ADD, 100 * 1024 * 1024, cookie=cookie)

    assert answer.startswith("HTTP/1.1 413")
    assert KEY_MESSAGE in answer
    assert list(upload_dir.iterdir()) == []
