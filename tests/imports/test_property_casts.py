"""imports.property_casts: a value goes into a property of another type only when the cast
loses nothing (it reads back unchanged); otherwise it is refused. Pure logic."""

import pytest

from imports.property_casts import Uncastable, castable, caster


@pytest.mark.parametrize(
    ("source", "target", "value", "cast"),
    [
        ("INT64", "FLOAT64", 3, 3.0),
        ("INT64", "FLOAT64", 2**53, float(2**53)),
        ("INT64", "NUMERIC", -(2**63), "-9223372036854775808"),
        ("INT64", "BIGNUMERIC", 7, "7"),
        ("FLOAT64", "INT64", 42.0, 42),
        ("FLOAT64", "NUMERIC", 0.1, "0.1"),
        ("FLOAT64", "NUMERIC", 1.5e-8, "0.000000015"),
        ("NUMERIC", "FLOAT64", "0.1", 0.1),
        ("NUMERIC", "INT64", "20", 20),
        ("NUMERIC", "INT64", "9223372036854775807", 2**63 - 1),  # INT64's largest fits
        ("BIGNUMERIC", "INT64", "-9223372036854775808", -(2**63)),
        ("NUMERIC", "BIGNUMERIC", "99999999999999999999999999999.999999999",
         "99999999999999999999999999999.999999999"),
        ("BIGNUMERIC", "NUMERIC", "0.5", "0.5"),
        ("INT64", "STRING", 42, "42"),
        ("FLOAT64", "STRING", 0.1, "0.1"),
        # The text STRING -> FLOAT64 reads back: a whole float keeps its ".0".
        ("FLOAT64", "STRING", 3.0, "3.0"),
        ("FLOAT64", "STRING", 1e16, "1e+16"),
        ("FLOAT64", "STRING", "NaN", "NaN"),
        ("BOOL", "STRING", True, "true"),
        ("NUMERIC", "STRING", "12345678901234567.89", "12345678901234567.89"),
        ("TIMESTAMP", "STRING", "2024-06-01T07:00:00+00:00", "2024-06-01T07:00:00+00:00"),
        ("INTERVAL", "STRING", "P1Y2M", "P1Y2M"),
        ("STRING", "INT64", "-42", -42),
        ("STRING", "FLOAT64", "0.5", 0.5),
        ("STRING", "FLOAT64", "Infinity", "Infinity"),
        ("STRING", "NUMERIC", "0.1", "0.1"),
        ("BIGNUMERIC", "NUMERIC", "12345678901234567890123456789.123456789000", "12345678901234567890123456789.123456789"),
        ("BIGNUMERIC", "NUMERIC", "0", "0"),
        ("BIGNUMERIC", "NUMERIC", "1E+3", "1000"),
        ("STRING", "BOOL", "false", False),
        ("STRING", "DATE", "2024-02-29", "2024-02-29"),
        ("STRING", "TIME", "09:00:00", "09:00:00"),
        ("STRING", "DATETIME", "2024-06-01T09:00:00", "2024-06-01T09:00:00"),
        ("STRING", "TIMESTAMP", "2024-06-01T07:00:00+00:00", "2024-06-01T07:00:00+00:00"),
        ("DATE", "DATETIME", "2024-02-29", "2024-02-29T00:00:00"),
        ("DATETIME", "DATE", "2024-02-29T00:00:00", "2024-02-29"),
        ("STRUCT<a INT64>", "JSON", {"a": 1}, {"a": 1}),
        ("NUMERIC", "JSON", "0.1", "0.1"),
        ("ARRAY<INT64>", "ARRAY<FLOAT64>", [1, 2], [1.0, 2.0]),
        ("ARRAY<STRING>", "ARRAY<INT64>", [], []),
        ("GEOGRAPHY", "STRING", "POINT(1 2)", "POINT(1 2)"),
        ("BYTES", "STRING", "AP9oaQ==", "AP9oaQ=="),
        ("BOOL", "STRING", False, "false"),
        ("FLOAT64", "STRING", "-Infinity", "-Infinity"),
        ("STRING", "FLOAT64", "NaN", "NaN"),
        ("STRING", "FLOAT64", "-Infinity", "-Infinity"),
        ("STRING", "INT64", "0", 0),
        ("STRING", "INT64", "-9223372036854775808", -(2**63)),
        # NUMERIC's and BIGNUMERIC's largest and smallest values: more digits than Decimal's
        # default 28, compared exactly.
        ("STRING", "NUMERIC", "99999999999999999999999999999.999999999",
         "99999999999999999999999999999.999999999"),
        ("BIGNUMERIC", "NUMERIC", "-99999999999999999999999999999.999999999",
         "-99999999999999999999999999999.999999999"),
        ("STRING", "BIGNUMERIC",
         "578960446186580977117854925043439539266.34992332820282019728792003956564819967",
         "578960446186580977117854925043439539266.34992332820282019728792003956564819967"),
        ("STRING", "BIGNUMERIC",
         "-578960446186580977117854925043439539266.34992332820282019728792003956564819968",
         "-578960446186580977117854925043439539266.34992332820282019728792003956564819968"),
        ("FLOAT64", "BIGNUMERIC", 1e-38, "0.00000000000000000000000000000000000001"),
        ("STRING", "BIGNUMERIC", "0.0000000001", "0.0000000001"),  # ten digits: not NUMERIC's
        ("DATE", "STRING", "2024-02-29", "2024-02-29"),
        ("TIME", "STRING", "23:59:59.999999", "23:59:59.999999"),
        ("DATETIME", "STRING", "2024-06-01T09:00:00", "2024-06-01T09:00:00"),
    ],
)  # fmt: skip
def test_a_value_is_cast_when_nothing_is_lost(source, target, value, cast):
    result = caster(source, target)(value)

    assert result == cast
    assert type(result) is type(cast)


@pytest.mark.parametrize(
    ("source", "target", "value"),
    [
        ("INT64", "FLOAT64", 2**53 + 1),  # the nearest float is another number
        ("NUMERIC", "FLOAT64", "12345678901234567.89"),
        ("NUMERIC", "INT64", "0.5"),
        ("FLOAT64", "INT64", 1e19),  # beyond INT64
        ("FLOAT64", "NUMERIC", 1e-10),  # ten digits after the point
        ("FLOAT64", "NUMERIC", "NaN"),
        ("FLOAT64", "INT64", "Infinity"),
        ("BIGNUMERIC", "NUMERIC", "0.00000000000000000000000000000000000001"),
        # More than 28 significant digits: a rounding count saw no digit past the 9th.
        ("BIGNUMERIC", "NUMERIC", "1.0000000000000000000000000000001"),
        ("STRING", "NUMERIC", "12345678901234567890123456789.0000000001"),
        ("NUMERIC", "BIGNUMERIC", "1" + "0" * 39),  # not a NUMERIC anyway; beyond BIGNUMERIC
        ("FLOAT64", "NUMERIC", 1e29),  # NUMERIC's largest is 10^29 - 10^-9
        ("STRING", "NUMERIC", "1" + "0" * 29),
        ("STRING", "INT64", "x"),
        ("STRING", "INT64", " 42"),  # reads back as "42": not the same text
        ("STRING", "INT64", "042"),
        ("STRING", "INT64", "9223372036854775808"),
        ("STRING", "FLOAT64", "0.10"),
        ("STRING", "NUMERIC", "1e3"),
        ("STRING", "BOOL", "yes"),
        ("STRING", "BOOL", "True"),  # BigQuery's BOOL text is lower case
        ("STRING", "DATE", "2024-2-29"),
        ("STRING", "TIMESTAMP", "2024-06-01 07:00:00Z"),
        ("STRING", "TIMESTAMP", "2024-06-01T09:00:00+02:00"),  # the stored form is in UTC
        ("STRING", "DATETIME", "2024-06-01T09:00:00+00:00"),  # an instant, not a wall time
        ("STRING", "GEOGRAPHY", "POINT(1 2)"),
        ("DATETIME", "DATE", "2024-02-29T00:00:01"),
        ("ARRAY<STRING>", "ARRAY<INT64>", ["1", "x"]),
        ("ARRAY<INT64>", "INT64", [1]),
        ("STRUCT<a INT64>", "STRUCT<a STRING>", {"a": 1}),
        ("STRUCT<a INT64>", "STRING", {"a": 1}),
        ("JSON", "STRING", "text"),
        ("RANGE<DATE>", "RANGE<DATETIME>", {"start": None, "end": None}),
        ("BYTES", "INT64", "AA=="),
        ("BOOL", "INT64", True),
        ("INT64", "FLOAT64", True),  # a bool is not a number, even where Python says int
        ("NUMERIC", "INT64", "9223372036854775808"),
        ("NUMERIC", "INT64", "-9223372036854775809"),
        ("STRING", "INT64", "-9223372036854775809"),
        ("STRING", "INT64", "-0"),  # INT64 0 reads back as "0"
        # Python's words for the infinities and NaN: FLOAT64's stored forms are BigQuery's.
        ("STRING", "FLOAT64", "inf"),
        ("STRING", "FLOAT64", "-inf"),
        ("STRING", "FLOAT64", "nan"),
        ("STRING", "NUMERIC", "x"),
        ("STRING", "BIGNUMERIC", "NaN"),
        ("NUMERIC", "INT64", "twelve"),  # not a number at all
        ("FLOAT64", "NUMERIC", -1e29),  # beyond NUMERIC's smallest, -(10^29 - 10^-9)
        ("STRING", "NUMERIC", "100000000000000000000000000000.000000001"),
        ("STRING", "BIGNUMERIC",
         "578960446186580977117854925043439539266.34992332820282019728792003956564819968"),
        ("STRING", "BIGNUMERIC", "578960446186580977117854925043439539267"),
        ("STRING", "BIGNUMERIC",
         "-578960446186580977117854925043439539266.34992332820282019728792003956564819969"),
        ("FLOAT64", "BIGNUMERIC", 1e-39),  # 39 digits after the point
        ("STRING", "DATE", "20240229"),  # ISO 8601's basic form reads, but is not the form
        ("STRING", "TIME", "09:00"),
        ("STRING", "DATETIME", "2024-06-01 09:00:00"),
        ("DATETIME", "DATE", "2024-02-29T00:00:00.000001"),
        ("INT64", "ARRAY<INT64>", 5),
        ("STRING", "BYTES", "AA=="),
        ("STRING", "INTERVAL", "P1Y"),
    ],
)  # fmt: skip
def test_a_value_that_would_change_is_refused(source, target, value):
    with pytest.raises(Uncastable):
        caster(source, target)(value)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("STRING", "INT64"),
        ("STRUCT<a INT64>", "STRING"),
        ("ARRAY<BYTES>", "ARRAY<INT64>"),
        ("ARRAY<INT64>", "ARRAY<FLOAT64>"),
        ("INT64", "NUMERIC"),
        ("DATE", "DATETIME"),
        ("DATETIME", "DATE"),
    ],
)
def test_null_fits_every_type(source, target):
    assert caster(source, target)(None) is None


def test_the_same_type_needs_no_cast_and_castable_tells_hopeless_pairs_apart():
    assert caster("ARRAY<STRUCT<a INT64>>", "ARRAY<STRUCT<a INT64>>") is None
    assert castable("INT64", "FLOAT64")
    assert castable("STRING", "INT64")
    assert not castable("STRUCT<a INT64>", "INT64")
    assert not castable("ARRAY<GEOGRAPHY>", "ARRAY<INT64>")


@pytest.mark.parametrize("target", ["GEOGRAPHY", "BYTES", "INTERVAL"])
def test_a_string_is_not_castable_to_a_type_whose_text_it_cannot_be_checked_to_be(target):
    assert not castable("STRING", target)
    assert not castable("ARRAY<STRING>", f"ARRAY<{target}>")
