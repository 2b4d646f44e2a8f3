"""Encryption of stored service-account keys with Fernet.

`settings.FERNET_KEYS` lists keys newest first: the first encrypts, all of
them decrypt, so a new key can be put in front and old tokens rotated at
leisure before the old key is dropped.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class KeyDecryptionError(Exception):
    """No configured Fernet key opens a stored token."""

    def __init__(self) -> None:
        super().__init__(
            "The stored key cannot be decrypted: the FERNET_KEYS setting lacks the key "
            "it was encrypted with."
        )


# What an admin can do about a KeyDecryptionError, where a page or a run reports one.
KEY_DECRYPTION_FIX = (
    "Edit the connection and upload its service account key again, or put the key it was "
    "encrypted with back into FERNET_KEYS."
)


def encrypt_key(plaintext: bytes) -> str:
    """Encrypt with the newest key in FERNET_KEYS."""
    return _current().encrypt(plaintext).decode("ascii")


def decrypt_key(token: str) -> bytes:
    """Decrypt with whichever key in FERNET_KEYS wrote the token."""
    try:
        return _current().decrypt(_token_bytes(token))
    except InvalidToken:
        raise KeyDecryptionError() from None


def rotate(token: str) -> str:
    """Re-encrypt with the newest key, so the older keys can be retired."""
    try:
        return _current().rotate(_token_bytes(token)).decode("ascii")
    except InvalidToken:
        raise KeyDecryptionError() from None


def _current() -> MultiFernet:
    return _multifernet(tuple(settings.FERNET_KEYS))


def _token_bytes(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        return token
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        # Fernet would raise a bare ValueError for non-ASCII text.
        raise KeyDecryptionError() from None


# Keyed on the tuple of keys, so a settings change (or override_settings in a
# test) gets a fresh MultiFernet without listening for signals.
@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str | bytes, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FERNET_KEYS must list at least one Fernet key.")
    fernets = []
    for key in keys:
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # The key itself stays out of the message and the traceback.
            raise ImproperlyConfigured(
                "FERNET_KEYS holds a value that is not a Fernet key."
            ) from None
    return MultiFernet(fernets)
