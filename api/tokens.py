"""The token string: `bqi_<prefix>_<secret>`.

The prefix (12 hex characters) is public and finds the row; the secret is 32 random bytes.
Only the SHA-256 of the whole string is stored: a token is long and random, so a slow
password hash would add nothing but latency to every request (GitHub and Stripe do the same).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "bqi"
_SHAPE = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class NewToken:
    prefix: str
    text: str  # the whole token, shown once and never stored

    @property
    def digest(self) -> str:
        return token_digest(self.text)


def token_new() -> NewToken:
    prefix = secrets.token_hex(6)
    return NewToken(prefix=prefix, text=f"{PREFIX}_{prefix}_{secrets.token_urlsafe(32)}")


def token_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def token_prefix(text: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    match = _SHAPE.match(text)
    return match.group(1) if match else None


def token_matches(text: str, digest: str) -> bool:
    """Compare in constant time, so the answer's timing says nothing about the digest."""
    return hmac.compare_digest(token_digest(text), digest)


def token_display(prefix: str) -> str:
    """What the pages show of a token: enough to recognise it, useless to use it."""
    return f"{PREFIX}_{prefix}_…"
