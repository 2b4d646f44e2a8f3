import base64

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from connections.crypto import KeyDecryptionError, decrypt_key, encrypt_key, rotate

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
OTHER = Fernet.generate_key().decode()
PLAINTEXT = b'{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE"}'


@pytest.fixture(scope="module", autouse=True)
def _configured_settings():
    # Lets this module run without a settings module too; with one, it is a no-op.
    if not settings.configured:
        settings.configure(FERNET_KEYS=[OLD])


def test_it_round_trips():
    with override_settings(FERNET_KEYS=[NEW]):
        assert decrypt_key(encrypt_key(PLAINTEXT)) == PLAINTEXT


def test_the_token_does_not_contain_the_plaintext():
    with override_settings(FERNET_KEYS=[NEW]):
        token = encrypt_key(PLAINTEXT)
    assert isinstance(token, str)
    assert "MIIE" not in token
    assert base64.urlsafe_b64encode(PLAINTEXT).decode()[:16] not in token
    assert PLAINTEXT not in base64.urlsafe_b64decode(token)


def test_two_encryptions_of_the_same_key_differ():
    with override_settings(FERNET_KEYS=[NEW]):
        assert encrypt_key(PLAINTEXT) != encrypt_key(PLAINTEXT)


def test_rotation_lets_the_old_key_be_dropped():
    with override_settings(FERNET_KEYS=[OLD]):
        old_token = encrypt_key(PLAINTEXT)
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        assert decrypt_key(old_token) == PLAINTEXT
        new_token = rotate(old_token)
    with override_settings(FERNET_KEYS=[NEW]):
        assert decrypt_key(new_token) == PLAINTEXT
        with pytest.raises(KeyDecryptionError):
            decrypt_key(old_token)


def test_the_first_key_encrypts():
    with override_settings(FERNET_KEYS=[NEW, OLD]):
        token = encrypt_key(PLAINTEXT)
    with override_settings(FERNET_KEYS=[NEW]):
        assert decrypt_key(token) == PLAINTEXT
    with override_settings(FERNET_KEYS=[OLD]), pytest.raises(KeyDecryptionError):
        decrypt_key(token)


def test_a_settings_change_is_seen_by_the_cached_fernet():
    with override_settings(FERNET_KEYS=[OLD]):
        encrypt_key(PLAINTEXT)
    with override_settings(FERNET_KEYS=[OTHER]):
        token = encrypt_key(PLAINTEXT)
    with override_settings(FERNET_KEYS=[OTHER]):
        assert decrypt_key(token) == PLAINTEXT
    with override_settings(FERNET_KEYS=[OLD]), pytest.raises(KeyDecryptionError):
        decrypt_key(token)


def test_wrong_keys_raise_key_decryption_error_naming_the_setting():
    with override_settings(FERNET_KEYS=[OLD]):
        token = encrypt_key(PLAINTEXT)
    with override_settings(FERNET_KEYS=[NEW, OTHER]):
        with pytest.raises(KeyDecryptionError) as info:
            decrypt_key(token)
        with pytest.raises(KeyDecryptionError):
            rotate(token)
    assert "FERNET_KEYS" in str(info.value)


@pytest.mark.parametrize("token", ["", "not-a-token", "\u00e9t\u00e9", "gAAAAA"])
def test_garbage_tokens_raise_key_decryption_error(token):
    with override_settings(FERNET_KEYS=[NEW]), pytest.raises(KeyDecryptionError):
        decrypt_key(token)


def test_a_tampered_token_is_refused():
    with override_settings(FERNET_KEYS=[NEW]):
        token = encrypt_key(PLAINTEXT)
        raw = bytearray(base64.urlsafe_b64decode(token))
        raw[40] ^= 1
        with pytest.raises(KeyDecryptionError):
            decrypt_key(base64.urlsafe_b64encode(bytes(raw)).decode())


def test_keys_and_tokens_may_be_bytes():
    with override_settings(FERNET_KEYS=[NEW.encode()]):
        assert decrypt_key(encrypt_key(PLAINTEXT).encode()) == PLAINTEXT


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key-but-secret"], [None]])
def test_bad_settings_fail_without_echoing_the_key(keys):
    with override_settings(FERNET_KEYS=keys), pytest.raises(ImproperlyConfigured) as info:
        encrypt_key(PLAINTEXT)
    assert "secret" not in str(info.value)
    assert info.value.__context__ is None or info.value.__suppress_context__
