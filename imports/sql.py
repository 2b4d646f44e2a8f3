"""The SELECT-only check of a Create Import query, with GoogleSQL's tokenizer it needs.

Only one SELECT (or WITH … SELECT) statement may reach BigQuery with the connection's key:
the runner wraps it as a subquery, and anything else could change data or run a script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

MAX_QUERY_CHARS = 100_000

ONLY_SELECT = "Only a single SELECT query (or WITH … SELECT) can be imported."

DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"})
DDL = frozenset({"CREATE", "DROP", "ALTER", "UNDROP", "GRANT", "REVOKE", "EXPORT", "LOAD"})
SCRIPTING = frozenset(
    "DECLARE SET BEGIN END IF LOOP WHILE REPEAT FOR BREAK LEAVE CONTINUE ITERATE RETURN RAISE "
    "CALL EXECUTE COMMIT ROLLBACK ASSERT CASE".split()
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE_END = re.compile(r"[\r\n]")


@dataclass
class _Token:
    kind: str  # word | punct | string | ident
    text: str
    end: int


def _tokens(sql: str) -> list[_Token]:
    """GoogleSQL's code tokens, comments dropped; raises ValidationError if one is left open."""
    tokens: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char.isspace():
            i += 1
        elif char == "#" or sql.startswith("--", i):
            # GoogleSQL ends these at \r as well as \n: a comment that ran on to the next
            # \n here would hide from this check what BigQuery reads as code.
            line_end = _LINE_END.search(sql, i)
            i = n if line_end is None else line_end.end()
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            if close < 0:
                raise ValidationError(
                    "The query has a /* comment that is never closed.", code="sql_unclosed"
                )
            i = close + 2
        elif char in "'\"`":
            end = _quoted_end(sql, i)
            tokens.append(_Token("ident" if char == "`" else "string", sql[i:end], end))
            i = end
        elif match := _WORD.match(sql, i):
            tokens.append(_Token("word", match.group(), match.end()))
            i = match.end()
        else:
            tokens.append(_Token("punct", char, i + 1))
            i += 1
    return tokens


def _quoted_end(sql: str, start: int) -> int:
    """The index after the string or `identifier` starting at `start` (\\ escapes)."""
    quote = sql[start]
    delimiter = quote * 3 if quote != "`" and sql.startswith(quote * 3, start) else quote
    i = start + len(delimiter)
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
            continue
        if sql.startswith(delimiter, i):
            return i + len(delimiter)
        if len(delimiter) == 1 and sql[i] in "\r\n":
            break  # as in GoogleSQL, only a triple-quoted string may span lines
        i += 1
    what = "quoted identifier" if quote == "`" else "string"
    raise ValidationError(f"The query has a {what} that is never closed.", code="sql_unclosed")


def validate_select_query(sql: str) -> str:
    """Return the query trimmed after its last token (no trailing ; or comment), or refuse it.

    Only one SELECT (or WITH … SELECT) statement passes: the runner wraps it as
    `SELECT * FROM (<query>)`, so a trailing comment or `;` would break that, and
    anything else would change data or run a script with the connection's key.
    """
    if len(sql) > MAX_QUERY_CHARS:
        # Before the tokenizer: it holds a token per word, so megabytes of SQL would cost
        # hundreds of megabytes and seconds of CPU just to be refused.
        raise ValidationError(
            f"The query must be at most {MAX_QUERY_CHARS} characters.", code="max_length"
        )
    if re.match(r"\s*#\s*legacysql\b", sql, re.IGNORECASE):
        raise ValidationError(
            "Legacy SQL is not supported: write the query in GoogleSQL (standard SQL).",
            code="sql_legacy",
        )
    tokens = _tokens(sql)
    if all(token.text == ";" for token in tokens):
        raise ValidationError("Enter a SELECT query.", code="sql_empty")
    first = next((t for t in tokens if t.text != "("), tokens[0])
    keyword = first.text.upper() if first.kind == "word" else ""
    if keyword not in {"SELECT", "WITH"}:
        if keyword in DML:
            message = f"{keyword} changes data. {ONLY_SELECT}"
        elif keyword in DDL:
            message = f"{keyword} statements change the dataset or its access. {ONLY_SELECT}"
        elif keyword in SCRIPTING:
            message = f"{keyword} starts a script, and scripts are not allowed. {ONLY_SELECT}"
        else:
            message = f"The query must start with SELECT or WITH. {ONLY_SELECT}"
        raise ValidationError(message, code="sql_not_select")
    semicolons = [index for index, token in enumerate(tokens) if token.text == ";"]
    if semicolons and any(t.text != ";" for t in tokens[semicolons[0] :]):
        raise ValidationError(
            f"The query has more than one statement: nothing may follow “;”. {ONLY_SELECT}",
            code="sql_multiple",
        )
    code = tokens[: semicolons[0]] if semicolons else tokens
    depth = 0
    for token in code:
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
            if depth < 0:
                break
    if depth:
        # A stray ")" would close the runner's wrapper early.
        raise ValidationError(
            "The query's parentheses do not pair up: each “(” needs a matching “)”.",
            code="sql_parens",
        )
    return sql[: code[-1].end].strip()
