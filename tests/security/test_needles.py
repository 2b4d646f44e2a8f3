"""The secrecy checks themselves: a piece of a key is found however it was cut and wrapped,
and what may be shown about a key is not taken for it."""

import json
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization

from connections import crypto
from tests.factories import key_info
from tests.security.needles import SHORTEST_CAUGHT, key_leaks, pem_body

INFO = key_info()
PEM = INFO["private_key"]
BODY = pem_body(INFO)


def body_positions(pem: str) -> list[int]:
    """Where each character of the body stands in the PEM (marker lines, line breaks)."""
    positions, offset = [], 0
    for line in pem.splitlines(keepends=True):
        if not line.startswith("-----"):
            positions += [offset + i for i, char in enumerate(line) if char not in "\r\n"]
        offset += len(line)
    return positions


AT = body_positions(PEM)


def pem_piece(start: int, length: int) -> str:
    """`length` characters of the body from `start`, as they stand in the PEM: with the
    line breaks that fall between them."""
    return PEM[AT[start] : AT[start + length - 1] + 1]


def test_a_48_character_piece_across_a_line_break_is_caught_however_it_is_written():
    line = len(PEM.splitlines()[1])
    piece = pem_piece(line - 24, 48)  # the end of the first body line and the next one's start
    assert piece.count("\n") == 1 and len(piece) == 49

    for written in (
        piece,  # as in the PEM
        piece.replace("\n", ""),  # joined up
        piece.replace("\n", "\r\n"),
        json.dumps(piece),  # a JSON document, a log record's extra fields: \n
        repr(json.dumps(piece)),  # JSON inside a repr: \\n
        urllib.parse.quote(piece, safe=""),  # a URL or a form body: %0A
        urllib.parse.quote_plus(piece),
    ):
        assert key_leaks(f"<p>before {written} after</p>", INFO), written


@pytest.mark.parametrize("written", [str, json.dumps], ids=["as-is", "json"])
def test_any_piece_of_47_characters_is_caught_wherever_it_starts(written):
    assert SHORTEST_CAUGHT == 47
    missed = [
        start
        for start in range(len(BODY) - SHORTEST_CAUGHT + 1)
        if not key_leaks("x" + written(pem_piece(start, SHORTEST_CAUGHT)) + "y", INFO)
    ]

    assert missed == []


def test_the_marker_alone_is_a_leak():
    assert key_leaks("-----BEGIN PRIVATE KEY-----", INFO)


def test_what_may_be_shown_about_a_key_is_not_taken_for_it():
    public_key = (
        serialization.load_pem_private_key(PEM.encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    shown = {
        "the key's identity": f"<dd>{INFO['private_key_id']}</dd><dd>{INFO['client_email']}</dd>",
        "the public key Google publishes": public_key,
        "the stored ciphertext": crypto.encrypt_key(json.dumps(INFO).encode()),
        "a piece shorter than a window": BODY[100:131],
    }

    assert {what: key_leaks(text, INFO) for what, text in shown.items()} == {
        what: [] for what in shown
    }
