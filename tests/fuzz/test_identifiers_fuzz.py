"""The ID validators under hostile input: look-alike letters, invisible and bidi characters,
controls, lone surrogates, path and query syntax, huge values. Each either returns the value
unchanged in its strict shape or raises a ValidationError with a code; nothing else."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from connections.identifiers import validate_dataset_id, validate_project_id, validate_table_id
from tests.fuzz.hostile import any_text, fuzz, hostile_text

PROJECT = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+:)?"
    r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
)
DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
TABLE_CATEGORIES = {"Pc", "Pd", "Zs"}


def check(validator, value):
    try:
        result = validator(value)
    except ValidationError as exc:
        assert exc.code and exc.message, exc
        return None
    assert result == value
    return result


# A valid ID with one hostile character spliced in: the look-alike must not pass for the real.
def spliced(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda text, insert, at: (
            text[: at % (len(text) + 1)] + insert + text[at % (len(text) + 1) :]
        ),
        valid,
        hostile_text(max_size=3, surrogates=True).filter(bool),
        st.integers(0, 64),
    )


PROJECTS = st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True)
DATASETS = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True)


@fuzz(300)
@given(st.one_of(any_text(surrogates=True), spliced(PROJECTS)))
def test_project_ids_are_strict_ascii_or_refused(value):
    if check(validate_project_id, value) is not None:
        assert PROJECT.fullmatch(value) and value.isascii()


@fuzz(300)
@given(st.one_of(any_text(surrogates=True), spliced(DATASETS)))
def test_dataset_ids_are_strict_ascii_or_refused(value):
    if check(validate_dataset_id, value) is not None:
        assert DATASET.fullmatch(value) and value.isascii()


@fuzz(300)
@given(st.one_of(any_text(surrogates=True), spliced(DATASETS)))
def test_table_names_hold_only_letters_marks_digits_spaces_and_dashes(value):
    if check(validate_table_id, value) is not None:
        assert len(value.encode("utf-8")) <= 1024
        for char in value:
            category = unicodedata.category(char)
            assert category[0] in "LMN" or category in TABLE_CATEGORIES, repr(char)
