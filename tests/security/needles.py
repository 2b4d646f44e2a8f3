"""What must never leave the app: the pieces of a key, and access tokens."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from tests.factories import pem_lines

PEM_MARKER = "-----BEGIN PRIVATE KEY-----"
TOKEN_PREFIX = "ya29.standin-"  # every access token the stand-in token server issues


def key_needles(info: dict, label: str) -> dict[str, str]:
    """The PEM, its marker and every body line of 16+ characters, also URL-encoded."""
    needles = {f"{label} PEM": info["private_key"], f"{label} PEM marker": PEM_MARKER}
    for number, line in enumerate(pem_lines(info)):
        if len(line) < 16:
            continue
        needles[f"{label} PEM line {number}"] = line
        for variant in (urllib.parse.quote(line, safe=""), urllib.parse.quote_plus(line)):
            if variant != line:
                needles[f"{label} PEM line {number} url-encoded"] = variant
    return needles


def token_needles(tokens: Iterable[str], assertions: Iterable[str] = ()) -> dict[str, str]:
    """Access tokens, and the signed JWTs that were exchanged for them (by signature: the
    header and claims are not secret, the signature makes the JWT a credential)."""
    needles = {"access token prefix": TOKEN_PREFIX}
    needles.update({f"access token {n}": token for n, token in enumerate(tokens)})
    for n, assertion in enumerate(assertions):
        signature = assertion.rsplit(".", 1)[-1]
        if len(signature) >= 16:
            needles[f"JWT assertion {n}"] = signature
    return needles


def leaks(text: str | bytes, needles: dict[str, str]) -> list[str]:
    """The names of the needles found in `text`."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return [name for name, needle in needles.items() if needle in text]
