"""SQL we accept or build, checked against GoogleSQL's own lexical rules (tests/fuzz/googlesql.py).

Properties:
- whatever validate_select_query accepts is, as BigQuery reads it, one statement starting
  with SELECT or WITH, and stays one statement inside the runner's `SELECT * FROM (…)`;
- SELECT queries hiding a second statement, DML, DDL, scripts, EXPORT DATA and CALL are refused;
- quote_identifier quotes everything it accepts into exactly its parts, accepts everything
  the validators (and BigQuery's flexible column names) allow, and refuses the rest.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from connections.identifiers import (
    quote_identifier,
    validate_dataset_id,
    validate_project_id,
    validate_table_id,
)
from imports.sql import DDL, DML, SCRIPTING, validate_select_query
from tests.fuzz.googlesql import Unparsable, assert_one_select, zetasql_tokens
from tests.fuzz.hostile import any_text, characters, fuzz, hostile_text


def accepted(sql: str) -> str | None:
    try:
        return validate_select_query(sql)
    except ValidationError as exc:
        assert exc.code and exc.code.startswith("sql_"), exc
        return None


# -- validate_select_query ---------------------------------------------------------------------

SELECTS = st.sampled_from([
    "SELECT 1",
    "select user_id, email FROM crm.users",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "(SELECT 1) UNION ALL (SELECT 2)",
    "SELECT ';' AS s, \"--\" AS d, `a;b` FROM (SELECT 1 AS `a;b`)",
    "SELECT '''a\nb; DROP''' AS t",
    r"SELECT r'a\\b' AS x, b'\x00' AS y, '\'' AS q",
])  # fmt: skip

# Second statements an attacker would want to run with the connection's key.
STATEMENTS = st.sampled_from([
    "DROP TABLE crm.users",
    "DELETE FROM crm.users WHERE TRUE",
    "INSERT INTO crm.users (user_id) VALUES ('x')",
    "UPDATE crm.users SET plan = 'x' WHERE TRUE",
    "MERGE crm.users t USING crm.x s ON FALSE WHEN NOT MATCHED THEN INSERT ROW",
    "TRUNCATE TABLE crm.users",
    "CREATE OR REPLACE TABLE crm.copy AS SELECT * FROM crm.users",
    "ALTER TABLE crm.users DROP COLUMN email",
    "GRANT `roles/bigquery.dataViewer` ON TABLE crm.users TO 'user:eve@example.com'",
    "EXPORT DATA OPTIONS(uri='gs://evil/*.csv', format='CSV') AS SELECT * FROM crm.users",
    "LOAD DATA INTO crm.users FROM FILES (format='CSV', uris=['gs://evil/x.csv'])",
    "CALL crm.proc()",
    "DECLARE n INT64 DEFAULT 1",
    "BEGIN SELECT 1; END",
    "EXECUTE IMMEDIATE 'DROP TABLE crm.users'",
    "SET @@dataset_id = 'crm'",
    "ASSERT (SELECT COUNT(*) FROM crm.users) > 0",
    "CREATE TEMP FUNCTION f() AS (1)",
    "SELECT 2",
])  # fmt: skip

# Ways to put a second statement after the first: the ";" must be seen wherever it hides.
SEPARATORS = st.sampled_from([
    ";", "; ", ";\n", " ;\t", "\n;\n", "/* tidy */;", " -- done\n;", " # done\n;",
    " --x\r;", " #x\r;", "\r\n;\r\n", " /* ; */ ;", "; /* */ ", ";;", "\u3000;\u00a0",
])  # fmt: skip


def random_case(word: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=False))


@fuzz(200)
@given(SELECTS, SEPARATORS, STATEMENTS, st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_second_statement_is_refused_wherever_the_semicolon_hides(
    select, separator, statement, flips
):
    sql = select + separator + random_case(statement, flips)
    with pytest.raises(ValidationError) as info:
        validate_select_query(sql)
    assert info.value.code in {"sql_multiple", "sql_unclosed"}


LEADS = st.sampled_from([
    "", " ", "\n", "(", "((", "/* SELECT */ ", "-- SELECT\n", "# SELECT\n", "-- SELECT\r",
    "#standardSQL\n", "\t(\n",
])  # fmt: skip
FIRST_WORDS = sorted(DML | DDL | SCRIPTING | {"VALUES", "TABLE", "FROM", "SHOW", "DESCRIBE"})


@fuzz(200)
@given(LEADS, st.sampled_from(FIRST_WORDS), st.lists(st.booleans(), min_size=12, max_size=12))
def test_statements_other_than_select_are_refused_by_name(lead, word, flips):
    sql = f"{lead}{random_case(word, flips)} x SELECT 1 FROM t"  # noqa: S608 - hostile on purpose
    with pytest.raises(ValidationError) as info:
        validate_select_query(sql)
    assert info.value.code == "sql_not_select"
    if word in DML | DDL | SCRIPTING:
        assert info.value.message.startswith(word + " ")


@fuzz(80)
@given(STATEMENTS, st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_statement_hidden_after_a_comment_or_in_a_script_is_refused(statement, flips):
    hidden = random_case(statement, flips)
    for sql in (
        f"/* SELECT 1 */ {hidden}",
        f"-- SELECT 1\n{hidden}",
        f"# SELECT 1\r{hidden}",
        f"BEGIN\n  {hidden};\nEND",
        f"DECLARE x INT64;\n{hidden}",
        f"SELECT 1 --\r;{hidden}\n",
        f"SELECT 1 --\r;{hidden}\n, 2",
        f"SELECT 1 /*/ ; {hidden} /*/",
    ):
        result = accepted(sql)
        if result is not None:
            # Only where the statement sat inside a comment or literal, and the trimmed
            # query BigQuery reads is one SELECT.
            assert_one_select(result)


SQL_WORDS = st.sampled_from([
    "SELECT", "select", "WITH", "FROM", "t", "AS", "x", "1", ",", "(", ")", ";", "'", '"',
    "`", "'''", '"""', "\\", "--", "#", "/*", "*/", "\n", "\r", "\r\n", " ", "\t", "DROP",
    "TABLE", "DELETE", "UNION", "ALL", "r", "b", "@", ".", "*", "\u00a0", "\u2028", "\x00",
    "\u202e", "\ufeff", "\x0b",
])  # fmt: skip


@fuzz(600)
@given(
    st.one_of(
        st.lists(SQL_WORDS, max_size=30).map("".join),
        st.lists(SQL_WORDS, max_size=30).map(" ".join),
        st.builds(
            lambda a, b: "SELECT " + a + b,
            st.lists(SQL_WORDS).map("".join),
            hostile_text(surrogates=True),
        ),
    )
)
def test_whatever_is_accepted_is_one_select_as_bigquery_reads_it(sql):
    result = accepted(sql)
    if result is None:
        return
    assert result == result.strip()
    try:
        assert_one_select(result)
    except Unparsable:
        pass  # BigQuery refuses it outright (an illegal character): nothing runs


@fuzz(80)
@given(st.one_of(any_text(surrogates=True), st.integers(1, 200_000).map(lambda n: "(" * n)))
def test_hostile_text_never_crashes_the_query_check(sql):
    result = accepted(sql)
    if result is not None:
        try:
            assert_one_select(result)
        except Unparsable:
            pass


# -- quote_identifier --------------------------------------------------------------------------

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def quotable(part: str) -> bool:
    return bool(part) and not any(
        c in "`\\" or unicodedata.category(c) in _UNSAFE_CATEGORIES for c in part
    )


_BQ_PART = r"`[^`\\\r\n]*`"


@fuzz(500)
@given(
    st.lists(
        st.one_of(
            hostile_text(max_size=12, surrogates=True),
            st.text(characters(surrogates=True), max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_quote_identifier_quotes_what_it_accepts_and_refuses_the_rest(parts):
    try:
        quoted = quote_identifier(*parts)
    except ValueError:
        assert not all(quotable(part) for part in parts)
        return
    assert all(quotable(part) for part in parts)
    # GoogleSQL reads exactly the parts back: one `identifier` per part, joined by dots.
    assert re.fullmatch(rf"{_BQ_PART}(?:\.{_BQ_PART})*", quoted)
    tokens = zetasql_tokens(f"SELECT * FROM {quoted} WHERE TRUE")  # noqa: S608 - under test
    idents = [t.text[1:-1] for t in tokens if t.kind == "ident"]
    assert idents == list(parts)
    assert [t.text for t in tokens if t.kind != "ident"] == (
        ["SELECT", "*", "FROM"] + ["."] * (len(parts) - 1) + ["WHERE", "TRUE"]
    )


def validated(validator, value):
    try:
        return validator(value)
    except ValidationError:
        return None


@fuzz(250)
@given(
    st.one_of(
        st.from_regex(r"(?:[a-z]{2,8}\.[a-z]{2,4}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True),
        hostile_text(max_size=30),
    ),
    st.one_of(st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True), hostile_text(max_size=30)),
    st.one_of(hostile_text(max_size=30), st.text(characters(surrogates=True), max_size=30)),
)
def test_every_validated_identifier_can_be_quoted(project, dataset, table):
    """The runner quotes project, dataset and table: nothing the forms accept may fail there."""
    checked = [
        validated(validate_project_id, project),
        validated(validate_dataset_id, dataset),
        validated(validate_table_id, table),
    ]
    for value in checked:
        if value is not None:
            assert quote_identifier(value) == f"`{value}`"
    if all(value is not None for value in checked):
        assert_one_select(f"SELECT * FROM {quote_identifier(*checked)}")  # noqa: S608


# BigQuery's flexible column names: any letter, mark, number, connector punctuation, dash or
# space, and & % = + : ' < > # | (the cursor column of an incremental import is one).
_FLEXIBLE = st.one_of(
    st.characters(categories=["L", "M", "N", "Pc", "Pd", "Zs"]),
    st.sampled_from("&%=+:'<>#|"),
)


@fuzz(200)
@given(st.text(_FLEXIBLE, min_size=1, max_size=40))
def test_every_flexible_column_name_can_be_quoted(name):
    quoted = quote_identifier(name)
    tokens = zetasql_tokens(f"SELECT MAX({quoted}) FROM t")  # noqa: S608 - under test
    assert [t.text for t in tokens] == ["SELECT", "MAX", "(", quoted, ")", "FROM", "t"]
