"""Validation of the Google Cloud identifiers a user types.

google-cloud-bigquery puts project and dataset IDs into URL paths without
quoting them, so `a/../../projects/other` or `d?all=true` would reach another
resource. These checks run before any client call and are a security control,
not only a convenience. Patterns are ASCII-only and used with `re.fullmatch`,
because `$` accepts a trailing newline and `\\w` accepts non-ASCII digits.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError

PROJECT_MIN_LENGTH = 6
PROJECT_MAX_LENGTH = 30
DATASET_MAX_LENGTH = 1024
TABLE_MAX_BYTES = 1024

# Google's page lists "google" and "ssl" as restricted and only *recommends*
# against "null" and "undefined", so real projects may contain those two.
# Rejecting them would lock out an existing project; accepting them costs at
# most a "project not found" from Test Connection.
RESERVED_PROJECT_WORDS = ("google", "ssl")

_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+")
_PROJECT_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_PROJECT_CHARS_RE = re.compile(r"[a-z0-9-]+")
_PROJECT_CHARS_ANY_CASE_RE = re.compile(r"[A-Za-z0-9-]+")
_DIGITS_RE = re.compile(r"[0-9]+")
_DATASET_RE = re.compile(r"[A-Za-z0-9_]+")

_TABLE_CATEGORIES = frozenset({"Pc", "Pd", "Zs"})
_TABLE_MAJOR_CATEGORIES = frozenset("LMN")

# Characters that could end a backtick-quoted identifier or start an escape.
_UNQUOTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def validate_project_id(value: str) -> str:
    """Return `value` if it is a usable Google Cloud project ID, else raise ValidationError."""
    if not value:
        raise ValidationError("Project ID is required.", code="empty")
    if _DIGITS_RE.fullmatch(value):
        raise ValidationError("Use the project ID, not the project number.", code="project_number")
    if ":" in value:
        domain, _, project = value.partition(":")
        if len(domain) > 253 or not _DOMAIN_RE.fullmatch(domain):
            raise ValidationError(
                "In a domain-scoped project ID (example.com:my-project), the part before ':' "
                "must be a lowercase domain name.",
                code="project_domain",
            )
        _check_project_part(project, subject="In Project ID, the part after ':'")
        # Legacy IDs such as google.com:google-cluster-data predate the
        # restricted words, so that rule is not applied to them.
        return value
    _check_project_part(value, subject="Project ID")
    for word in RESERVED_PROJECT_WORDS:
        if word in value:
            raise ValidationError(
                f"Project ID must not contain '{word}'; Google reserves it.",
                code="project_reserved",
            )
    return value


def _check_project_part(value: str, *, subject: str) -> None:
    length_error = ValidationError(
        f"{subject} must be {PROJECT_MIN_LENGTH} to {PROJECT_MAX_LENGTH} characters.",
        code="project_length",
    )
    if not value:
        raise length_error
    if not _PROJECT_CHARS_RE.fullmatch(value):
        if _PROJECT_CHARS_ANY_CASE_RE.fullmatch(value):
            raise ValidationError(f"{subject} must be lowercase.", code="project_case")
        raise ValidationError(
            f"{subject} may contain only lowercase letters, digits and hyphens.",
            code="project_chars",
        )
    if not PROJECT_MIN_LENGTH <= len(value) <= PROJECT_MAX_LENGTH:
        raise length_error
    if not "a" <= value[0] <= "z":
        raise ValidationError(
            f"{subject} must start with a lowercase letter.", code="project_start"
        )
    if value.endswith("-"):
        raise ValidationError(f"{subject} must not end with a hyphen.", code="project_end")
    # Safety net: the ID ends up in URL paths, so Google's regex has the last word
    # even if the friendlier checks above ever drift from it.
    if not _PROJECT_RE.fullmatch(value):
        raise ValidationError(f"{subject} is not a valid project ID.", code="project_chars")


def validate_dataset_id(value: str) -> str:
    """Return `value` if it is a valid BigQuery dataset ID, else raise ValidationError."""
    if not value:
        raise ValidationError("Dataset ID is required.", code="empty")
    if len(value) > DATASET_MAX_LENGTH:
        raise ValidationError("Dataset ID must be at most 1,024 characters.", code="dataset_length")
    if not _DATASET_RE.fullmatch(value):
        tail = re.split(r"[.:]", value)[-1]
        if tail != value and _DATASET_RE.fullmatch(tail):
            # People paste `project.dataset` from the console's copy button.
            raise ValidationError(
                "Enter the dataset ID alone, without the project (my_dataset, "
                "not my-project.my_dataset).",
                code="dataset_qualified",
            )
        raise ValidationError(
            "Dataset ID may contain only letters, digits and underscores.",
            code="dataset_chars",
        )
    return value


def validate_table_id(value: str) -> str:
    """Return `value` if it is a valid BigQuery table name, else raise ValidationError.

    Table names may be Unicode (`table 01`, `ग्राहक`), so this is not a regex.
    """
    if not value:
        raise ValidationError("Table name is required.", code="empty")
    for char in value:
        category = unicodedata.category(char)
        if category[0] not in _TABLE_MAJOR_CATEGORIES and category not in _TABLE_CATEGORIES:
            raise ValidationError(
                "Table name may contain only letters, marks, digits, spaces, "
                "underscores and hyphens.",
                code="table_chars",
            )
    if len(value.encode("utf-8")) > TABLE_MAX_BYTES:
        raise ValidationError(
            "Table name must be at most 1,024 bytes in UTF-8.", code="table_length"
        )
    return value


def quote_identifier(*parts: str) -> str:
    """Quote a BigQuery path such as project, dataset, table for use in SQL we build.

    Each part is backticked on its own: a domain-scoped project contains a dot
    and a colon, which a single pair of backticks around the whole path would
    split. Parts that could close the quote or start an escape are refused
    rather than escaped, since no valid identifier contains them.
    """
    if not parts:
        raise ValueError("quote_identifier needs at least one part.")
    for part in parts:
        if not isinstance(part, str) or not part:
            raise ValueError("Identifier parts must be non-empty strings.")
        if "`" in part or "\\" in part:
            raise ValueError("Identifier parts must not contain backticks or backslashes.")
        if any(unicodedata.category(char) in _UNQUOTABLE_CATEGORIES for char in part):
            raise ValueError("Identifier parts must not contain control or line-break characters.")
    return ".".join(f"`{part}`" for part in parts)
