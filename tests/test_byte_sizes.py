"""Sizes as people type them, read one way for a connection's limit, an import's limit and
the server's default: GB is the 1,024 MB the pages show, and what a form shows back reads
back as the same number of bytes."""

import pytest
from django.core.exceptions import ValidationError

from common.byte_sizes import MAXIMUM_LIMIT, MINIMUM_LIMIT, clean_limit, format_bytes, parse_bytes
from tests.test_settings import manage

GIB = 2**30


@pytest.mark.parametrize(
    ("text", "size"),
    [("500 GB", 500 * GIB), ("500 GiB", 500 * GIB), ("1.5 TiB", 3 * 2**39),
     ("2,000,000,000", 2 * 10**9), ("10mb", 10 * 2**20), (" 2 tb ", 2 * 2**40),
     ("1_024 MB", GIB), ("9007199254740993", 9007199254740993), ("0.5 PB", 2**49),
     ("10 MB", MINIMUM_LIMIT), ("1024 PB", MAXIMUM_LIMIT), ("11 m", 11 * 2**20),
     ("500   GB", 500 * GIB)],
)  # fmt: skip
def test_sizes_as_people_type_them(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [("-5 GB", "Enter a size such as"), ("5 parsecs", "Enter a size such as"),
     ("ten gigs", "Enter a size such as"), ("10 EB", "Enter a size such as"), ("", "Enter a"),
     ("1e9", "Enter a size such as"), ("1.5.2 GB", "Enter a size such as"),
     ("5. GB", "Enter a size such as"),
     ("0", "Enter at least 10 MB"), ("10485759", "Enter at least 10 MB"),
     ("9.99 MB", "Enter at least 10 MB"), ("1024.5 PB", "Enter at most 1024 PB."),
     ("99999999999999999999999 PB", "Enter at most 1024 PB.")],
)  # fmt: skip
def test_sizes_that_cannot_be_a_limit(text, message):
    with pytest.raises(ValueError, match=message):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("spellings", "multiple"),
    [(("", "b", "byte", "bytes"), 1), (("k", "kb", "kib"), 2**10), (("m", "mb", "mib"), 2**20),
     (("g", "gb", "gib"), 2**30), (("t", "tb", "tib"), 2**40), (("p", "pb", "pib"), 2**50)],
)  # fmt: skip
def test_every_spelling_of_a_unit_is_read(spellings, multiple):
    for spelling in spellings:
        for text in (f"{2**50 // multiple} {spelling}", f"{2**50 // multiple}{spelling.upper()}"):
            assert parse_bytes(text) == 2**50, text


def test_a_fraction_of_a_byte_is_dropped_so_the_limit_never_exceeds_what_was_typed():
    assert parse_bytes("1.9999999999 GB") == 2147483647
    with pytest.raises(ValueError, match="Enter at least 10 MB"):
        parse_bytes("10485759.9")


def test_a_form_field_names_itself_and_blank_means_the_next_limit():
    assert clean_limit("  ", label="Maximum bytes billed") is None
    assert clean_limit("3 GB", label="Maximum bytes billed") == 3 * GIB
    with pytest.raises(ValidationError) as refused:
        clean_limit("lots", label="Maximum bytes billed")
    assert refused.value.messages[0].startswith("Maximum bytes billed: Enter a size such as")


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, ""), (100 * GIB, "100 GB"), (3 * 2**39, "1536 GB"), (2 * 2**40, "2 TB"),
     (12_345_678, "12,345,678"), (10 * 2**20, "10 MB"), (2**60, "1024 PB"), (0, ""),
     (10 * 2**20 + 2**10, "10241 KB"), (99_999 * 2**10, "99999 KB"),
     (20_000_000_000, "20,000,000,000")],
)  # fmt: skip
def test_what_a_form_shows_back_reads_back_as_the_same_size(size, shown):
    assert format_bytes(size) == shown
    if size:
        assert parse_bytes(shown) == size


def test_the_servers_default_limit_is_read_like_the_forms():
    shell = "from django.conf import settings; print(settings.BIGQUERY_MAXIMUM_BYTES_BILLED)"

    typed = manage("shell", "-c", shell, BIGQUERY_MAXIMUM_BYTES_BILLED="500 GB")
    refused = manage("check", BIGQUERY_MAXIMUM_BYTES_BILLED="lots")

    assert typed.stdout.split()[-1] == str(500 * GIB), typed.stderr
    assert refused.returncode != 0
    assert "BIGQUERY_MAXIMUM_BYTES_BILLED: Enter a size such as 500 GB" in refused.stderr
