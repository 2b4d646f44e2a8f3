import re

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from connections.identifiers import (
    RESERVED_PROJECT_WORDS,
    quote_identifier,
    validate_dataset_id,
    validate_project_id,
    validate_table_id,
)

# The rule as Google's documentation states it; the validator must agree with it.
GOOGLE_PROJECT_RE = re.compile(
    r"(?:(?P<d>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+):)?"
    r"(?P<p>[a-z][a-z0-9-]{4,28}[a-z0-9])"
)
DANGEROUS = ["/", "?", "#", "..", " ", "\t", "\n", "\r", "%2F", "é", "١", "\u00a0", "\x00"]


def _error(validator, value):
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value


# --- project IDs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "my-project",
        "abcdef",
        "a" + "b" * 29,
        "project-123",
        "a1b2c3",
        "a----b",
        "nullable-data",
        "undefined-behaviour",
        "example.com:my-project",
        "google.com:google-cluster-data",
        "sub.example.co.uk:proj-01",
        "google.com:ssl-tests",
    ],
)
def test_it_accepts_valid_project_ids(value):
    assert validate_project_id(value) == value


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("", "empty", "Project ID is required."),
        ("123456789012", "project_number", "Use the project ID, not the project number."),
        ("12345", "project_number", "Use the project ID, not the project number."),
        ("abcde", "project_length", "Project ID must be 6 to 30 characters."),
        ("a" * 31, "project_length", "Project ID must be 6 to 30 characters."),
        ("My-Project", "project_case", "Project ID must be lowercase."),
        ("MYPROJECT", "project_case", "Project ID must be lowercase."),
        (
            "my project",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "my_project",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "my.project",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "my-project\n",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "proj\u00e9ct-x",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "\uff11\uff12\uff13abc",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "a/../../projects/other",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "my-project?all=true",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "my-project#frag",
            "project_chars",
            "Project ID may contain only lowercase letters, digits and hyphens.",
        ),
        ("1project", "project_start", "Project ID must start with a lowercase letter."),
        ("-project", "project_start", "Project ID must start with a lowercase letter."),
        ("project-", "project_end", "Project ID must not end with a hyphen."),
        (
            "my-google-proj",
            "project_reserved",
            "Project ID must not contain 'google'; Google reserves it.",
        ),
        (
            "ssl-termination",
            "project_reserved",
            "Project ID must not contain 'ssl'; Google reserves it.",
        ),
        (
            ":my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "Example.com:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example..com:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example-.com:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "-example.com:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        # The whole domain is checked, not a valid start of it: the value goes into URL
        # paths unquoted (a traversal, a query string).
        (
            "example.com/../../projects/other:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example.com?all=true:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example.com\n:my-project",
            "project_domain",
            "In a domain-scoped project ID (example.com:my-project), the part before ':' "
            "must be a lowercase domain name.",
        ),
        (
            "example.com:",
            "project_length",
            "In Project ID, the part after ':' must be 6 to 30 characters.",
        ),
        (
            "example.com:My-Project",
            "project_case",
            "In Project ID, the part after ':' must be lowercase.",
        ),
        (
            "example.com:a:b-project",
            "project_chars",
            "In Project ID, the part after ':' may contain only lowercase letters, digits and hyphens.",
        ),
        (
            "example.com:1abcdef",
            "project_start",
            "In Project ID, the part after ':' must start with a lowercase letter.",
        ),
        (
            "example.com:abcdef-",
            "project_end",
            "In Project ID, the part after ':' must not end with a hyphen.",
        ),
    ],
)
def test_it_rejects_invalid_project_ids_naming_the_rule(value, code, message):
    error = _error(validate_project_id, value)
    assert (error.code, error.message) == (code, message)


def test_a_domain_of_up_to_253_characters_is_accepted_before_the_colon():
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253

    assert validate_project_id(f"{longest}:my-project") == f"{longest}:my-project"
    error = _error(validate_project_id, f"{longest}d:my-project")
    assert error.code == "project_domain"


# --- dataset IDs ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["my_dataset", "_hidden", "A", "MyDataset", "123", "a" * 1024])
def test_it_accepts_valid_dataset_ids(value):
    assert validate_dataset_id(value) == value


CHARS = "Dataset ID may contain only letters, digits and underscores."
QUALIFIED = (
    "Enter the dataset ID alone, without the project (my_dataset, not my-project.my_dataset)."
)


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("", "empty", "Dataset ID is required."),
        ("a" * 1025, "dataset_length", "Dataset ID must be at most 1,024 characters."),
        ("my-dataset", "dataset_chars", CHARS),
        ("my dataset", "dataset_chars", CHARS),
        ("my_dataset\n", "dataset_chars", CHARS),
        ("d\u00e4taset", "dataset_chars", CHARS),
        ("\u0661\u0662\u0663", "dataset_chars", CHARS),
        ("a/../b", "dataset_chars", CHARS),
        ("d?all=true", "dataset_chars", CHARS),
        ("d#frag", "dataset_chars", CHARS),
        ("my-project.my_dataset", "dataset_qualified", QUALIFIED),
        ("example.com:proj:my_dataset", "dataset_qualified", QUALIFIED),
    ],
)
def test_it_rejects_invalid_dataset_ids_naming_the_rule(value, code, message):
    error = _error(validate_dataset_id, value)
    assert (error.code, error.message) == (code, message)


# --- table names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["table", "table 01", "\u0917\u094d\u0930\u093e\u0939\u0915", "my-table", "t_1", "x" * 1024]
    + ["\u00e9" * 512],
)
def test_it_accepts_valid_table_names(value):
    assert validate_table_id(value) == value


TABLE_CHARS = "Table name may contain only letters, marks, digits, spaces, underscores and hyphens."


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("", "empty", "Table name is required."),
        ("x" * 1025, "table_length", "Table name must be at most 1,024 bytes in UTF-8."),
        ("\u00e9" * 513, "table_length", "Table name must be at most 1,024 bytes in UTF-8."),
        ("a.b", "table_chars", TABLE_CHARS),
        ("a/b", "table_chars", TABLE_CHARS),
        ("a`b", "table_chars", TABLE_CHARS),
        ("a\\b", "table_chars", TABLE_CHARS),
        ("a\nb", "table_chars", TABLE_CHARS),
        ("a\tb", "table_chars", TABLE_CHARS),
        ("a\u2028b", "table_chars", TABLE_CHARS),
        ("a\u200bb", "table_chars", TABLE_CHARS),
        ("a$b", "table_chars", TABLE_CHARS),
        ("a\ud800b", "table_chars", TABLE_CHARS),
    ],
)
def test_it_rejects_invalid_table_names(value, code, message):
    error = _error(validate_table_id, value)
    assert (error.code, error.message) == (code, message)


# --- quoting --------------------------------------------------------------------------


def test_it_quotes_each_part_separately():
    assert quote_identifier("example.com:proj", "ds", "my table") == (
        "`example.com:proj`.`ds`.`my table`"
    )


@pytest.mark.parametrize(
    "parts",
    [
        (),
        ("",),
        ("a`b",),
        ("ok", "a\\b"),
        ("a\nb",),
        ("a\rb",),
        ("a\x00b",),
        ("a\u2028b",),
        ("a\u2029b",),  # paragraph separator
        ("a\u202eb",),  # right-to-left override: shows another name than it is
        ("a\ud800b",),  # lone surrogate
        ("a\ue000b",),  # private use
        ("a\u0378b",),  # unassigned
    ],
)
def test_it_refuses_to_quote_what_could_break_out(parts):
    with pytest.raises(ValueError):
        quote_identifier(*parts)


# --- properties -----------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_domains = st.lists(_label, min_size=2, max_size=4).map(".".join)
_project_parts = st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True)
_plain_projects = _project_parts.filter(
    lambda value: not any(word in value for word in RESERVED_PROJECT_WORDS)
)


@given(_plain_projects)
def test_generated_project_ids_pass(value):
    assert validate_project_id(value) == value


@given(_domains, _project_parts)
def test_generated_domain_scoped_project_ids_pass(domain, project):
    value = f"{domain}:{project}"
    assert validate_project_id(value) == value


@given(st.from_regex(r"[A-Za-z0-9_]{1,1024}", fullmatch=True))
def test_generated_dataset_ids_pass(value):
    assert validate_dataset_id(value) == value


@given(
    st.text(
        st.characters(categories=["L", "M", "N", "Pc", "Pd", "Zs"], exclude_characters="\x00"),
        min_size=1,
        max_size=200,
    )
)
def test_generated_table_names_pass(value):
    assert validate_table_id(value) == value


@given(st.one_of(st.text(), st.from_regex(GOOGLE_PROJECT_RE), _project_parts))
def test_project_validation_agrees_with_googles_rule(value):
    match = GOOGLE_PROJECT_RE.fullmatch(value)
    expected = bool(match) and (
        match["d"] is not None or not any(word in value for word in RESERVED_PROJECT_WORDS)
    )
    try:
        accepted = validate_project_id(value) == value
    except ValidationError:
        accepted = False
    assert accepted == expected


@given(st.one_of(st.text(), st.from_regex(r"[A-Za-z0-9_]+")))
def test_dataset_validation_agrees_with_the_pattern(value):
    expected = re.fullmatch(r"[A-Za-z0-9_]{1,1024}", value) is not None
    try:
        accepted = validate_dataset_id(value) == value
    except ValidationError:
        accepted = False
    assert accepted == expected


_insertions = st.tuples(st.text(max_size=20), st.sampled_from(DANGEROUS), st.text(max_size=20))


@given(_insertions, _plain_projects)
def test_no_project_id_with_path_or_space_characters_passes(parts, valid):
    before, bad, after = parts
    with pytest.raises(ValidationError):
        validate_project_id(before + bad + after)
    with pytest.raises(ValidationError):
        validate_project_id(valid[:3] + bad + valid[3:])


@given(_insertions)
def test_no_dataset_id_with_path_or_space_characters_passes(parts):
    before, bad, after = parts
    with pytest.raises(ValidationError):
        validate_dataset_id(before + bad + after)


@given(st.text(max_size=20), st.sampled_from(["/", "?", "#", ".", "`", "\\", "\n"]), st.text())
def test_no_table_name_with_path_or_quote_characters_passes(before, bad, after):
    with pytest.raises(ValidationError):
        validate_table_id(before + bad + after)


_quotable = st.text(
    st.characters(exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"]).filter(
        lambda char: char not in "`\\"
    ),
    min_size=1,
)


@given(st.lists(_quotable, min_size=1, max_size=4))
def test_quoted_identifiers_round_trip(parts):
    quoted = quote_identifier(*parts)
    assert quoted.startswith("`") and quoted.endswith("`")
    assert quoted[1:-1].split("`.`") == parts
