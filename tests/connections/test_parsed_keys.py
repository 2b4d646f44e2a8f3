"""A process parses each service-account key once: loading an RSA key checks it, which
costs tens of milliseconds, and every run, Test Connection and table page opens a session.
Sessions still exchange their own tokens with the real google-auth against the stand-in."""

from connections import bigquery
from connections.bigquery import BigQuerySession
from tests.fixtures.standin_world import PROJECT


def test_sessions_of_one_key_share_its_parsed_key_and_each_gets_its_own_token(google):
    first = BigQuerySession(google.key.info, PROJECT)
    second = BigQuerySession(dict(google.key.info), PROJECT)

    assert second.credentials.signer is first.credentials.signer
    first.authenticate()
    second.authenticate()
    assert first.credentials.token and second.credentials.token
    assert second.credentials.token != first.credentials.token
    assert second.credentials.service_account_email == google.key.email


def test_another_key_is_parsed_anew_and_the_oldest_is_let_go(google, monkeypatch):
    monkeypatch.setattr(bigquery, "SIGNERS_KEPT", 1)
    other = google.stack.register_service_account(
        f"reader@{PROJECT}.iam.gserviceaccount.com", project_id=PROJECT
    )
    first = BigQuerySession(google.key.info, PROJECT)
    another = BigQuerySession(other.info, PROJECT)

    assert another.credentials.signer is not first.credentials.signer
    another.authenticate()
    assert another.credentials.token
    again = BigQuerySession(google.key.info, PROJECT)  # one kept: parsed again
    assert again.credentials.signer is not first.credentials.signer
