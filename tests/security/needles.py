"""What must never leave the app: the pieces of a key, and access tokens.

A key's PEM body is matched by overlapping windows of its base64 with the line breaks
removed, against the captured text with its line breaks removed too (raw, escaped as in
JSON or a repr, or URL-encoded), so that a piece leaked across a PEM line break is caught
as surely as a whole line.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

from tests.factories import pem_lines

PEM_MARKER = "-----BEGIN PRIVATE KEY-----"
TOKEN_PREFIX = "ya29.standin-"  # every access token the stand-in token server issues

# Windows of WINDOW characters every STEP characters: any leaked run of the body at least
# WINDOW + STEP - 1 = 47 characters long contains a whole window, wherever it starts.
WINDOW = 32
STEP = 16
SHORTEST_CAUGHT = WINDOW + STEP - 1

# A line break as text shows it: raw, escaped once or more (JSON, repr), URL-encoded.
_LINE_BREAKS = re.compile(r"\r|\n|\\+[rn]|%0[aAdD]")


def pem_body(info: dict) -> str:
    """The key's base64 body in one piece, without its marker lines and line breaks."""
    return "".join(pem_lines(info))


def key_needles(info: dict, label: str) -> dict[str, str]:
    """The PEM marker and overlapping windows of the PEM body (see WINDOW and STEP)."""
    body = pem_body(info)
    needles = {f"{label} PEM marker": PEM_MARKER}
    for start in range(0, max(len(body) - WINDOW, 0) + 1, STEP):
        needles[f"{label} PEM body [{start}:{start + WINDOW}]"] = body[start : start + WINDOW]
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
    """The names of the needles found in `text`, as it is and URL-decoded, with its line
    breaks removed."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    forms = [_LINE_BREAKS.sub("", form) for form in (text, urllib.parse.unquote(text))]
    return [name for name, needle in needles.items() if any(needle in form for form in forms)]


def key_leaks(text: str | bytes, info: dict) -> list[str]:
    """What of the key `info` is in `text`."""
    return leaks(text, key_needles(info, "key"))
