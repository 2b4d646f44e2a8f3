"""An independent GoogleSQL tokenizer, the oracle for the SQL tests.

Written apart from imports/forms.py, from the rules of ZetaSQL's tokenizer
(zetasql/parser/flex_tokenizer.l), which BigQuery uses: `--` and `#` comments end at \\r or
\\n, `/* */` does not nest, quoted strings and `identifiers` may not hold a raw line break
unless triple-quoted, a backslash always eats the next character, and any other character
outside a literal is illegal (the statement fails to parse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WHITESPACE = set(" \n\r\t\b\f\v\u00a0\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
_ESCAPED = r"\\(?:\r\n|[\s\S])"
_LITERALS = [
    # triple-quoted first: ''' would otherwise read as '' and '
    ("string", re.compile(rf"(?i:rb|br|r|b)?'''(?:'{{0,2}}(?:[^'\\]|{_ESCAPED}))*'''")),
    ("string", re.compile(rf'(?i:rb|br|r|b)?"""(?:"{{0,2}}(?:[^"\\]|{_ESCAPED}))*"""')),
    ("string", re.compile(rf"(?i:rb|br|r|b)?'(?:[^'\\\r\n]|{_ESCAPED})*'")),
    ("string", re.compile(rf'(?i:rb|br|r|b)?"(?:[^"\\\r\n]|{_ESCAPED})*"')),
    ("ident", re.compile(rf"`(?:[^`\\\r\n]|{_ESCAPED})*`")),
    ("word", re.compile(r"[A-Za-z_][A-Za-z_0-9]*")),
    ("number", re.compile(r"[0-9]+")),
]
_COMMENTS = re.compile(r"--[^\r\n]*|#[^\r\n]*|/\*[\s\S]*?\*/")


class Unparsable(Exception):
    """BigQuery would refuse the text before running anything."""


@dataclass
class Tok:
    kind: str
    text: str


def zetasql_tokens(sql: str) -> list[Tok]:
    tokens: list[Tok] = []
    i = 0
    while i < len(sql):
        char = sql[i]
        if char in _WHITESPACE:
            i += 1
            continue
        if comment := _COMMENTS.match(sql, i):
            i = comment.end()
            continue
        if sql.startswith("/*", i):
            raise Unparsable("unclosed comment")
        for kind, pattern in _LITERALS:
            if match := pattern.match(sql, i):
                tokens.append(Tok(kind, match.group()))
                i = match.end()
                break
        else:
            if char in "'\"`":
                raise Unparsable("unclosed literal")
            if not (char.isascii() and char.isprintable()):
                raise Unparsable(f"illegal character {char!r}")
            tokens.append(Tok("punct", char))
            i += 1
    return tokens


def assert_one_select(sql: str) -> None:
    """As BigQuery reads it: one SELECT/WITH statement whose parentheses pair up."""
    tokens = zetasql_tokens(sql)
    assert tokens, sql
    assert not [t for t in tokens if t.kind == "punct" and t.text == ";"], sql
    first = next(t for t in tokens if t.text != "(")
    assert first.kind == "word" and first.text.upper() in {"SELECT", "WITH"}, sql
    wrapped = zetasql_tokens(f"SELECT * FROM ({sql})")  # noqa: S608 - the runner's wrapper
    depth = 0
    for position, token in enumerate(wrapped[3:], start=3):
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        # The wrapper's "(" stays open until the very last token.
        assert depth > 0 or position == len(wrapped) - 1, sql
    assert depth == 0, sql
