"""imports.type_contract: every BigQuery type, in each read path's wire form, has one stored
JSON form (README, "How BigQuery types land"). Pure logic.

The REST column is what tabledata.list puts in a cell's "v" (Google's client library tests
pin the same forms, googleapis/python-bigquery tests/unit/_helpers/test_cell_data_parser.py);
the Arrow column is what pyarrow gives for the Storage Read API's Arrow types."""

import datetime as dt
import json
import time
from decimal import Decimal

import pyarrow
import pytest

from audience.rows import canonical_json
from imports.type_contract import (
    Field,
    Unstorable,
    converter,
    decimal_text,
    interval_text,
    schema_fields,
)

UTC = dt.UTC
MDN = pyarrow.MonthDayNano


def arrow_value(value, arrow_type):
    """`value` as pyarrow hands it over after a round trip through the Arrow type."""
    return pyarrow.array([value], type=arrow_type).to_pylist()[0]


STRUCT = Field(
    "s",
    "STRUCT",
    fields=(
        Field("id", "INT64"),
        Field(
            "items", "STRUCT", repeated=True, fields=(Field("k", "STRING"), Field("v", "NUMERIC"))
        ),
    ),
)

CASES = [
    # (field, REST "v", Arrow value, stored form)
    (Field("c", "STRING"), "héllo \"wörld\" 😀", "héllo \"wörld\" 😀", "héllo \"wörld\" 😀"),
    (Field("c", "STRING"), "", "", ""),
    (Field("c", "BYTES"), "AP9oaQ==", b"\x00\xffhi", "AP9oaQ=="),
    (Field("c", "BYTES"), "", b"", ""),
    (Field("c", "BYTES"), "+/8=", b"\xfb\xff", "+/8="),  # the standard alphabet, not URL-safe
    (Field("c", "BYTES"), "AP9oaR==", b"\x00\xffhi", "AP9oaQ=="),  # unused bits: one stored form
    (Field("c", "INT64"), "-9223372036854775808", -(2**63), -(2**63)),
    (Field("c", "INT64"), "9223372036854775807", 2**63 - 1, 2**63 - 1),
    (Field("c", "FLOAT64"), "1.5", 1.5, 1.5),
    (Field("c", "FLOAT64"), "1e+300", 1e300, 1e300),
    (Field("c", "FLOAT64"), "NaN", float("nan"), "NaN"),
    (Field("c", "FLOAT64"), "Infinity", float("inf"), "Infinity"),
    (Field("c", "FLOAT64"), "-Infinity", float("-inf"), "-Infinity"),
    (Field("c", "NUMERIC"), "0.1", Decimal("0.100000000"), "0.1"),
    (Field("c", "NUMERIC"), "20", Decimal("20.000000000"), "20"),
    (Field("c", "NUMERIC"), "0", Decimal("0E-9"), "0"),
    (Field("c", "NUMERIC"), "-0.5", Decimal("-0.500000000"), "-0.5"),
    (Field("c", "NUMERIC"), "12345678901234567.89", Decimal("12345678901234567.890000000"),
     "12345678901234567.89"),
    (Field("c", "NUMERIC"), "99999999999999999999999999999.999999999",
     Decimal("99999999999999999999999999999.999999999"),
     "99999999999999999999999999999.999999999"),
    (Field("c", "BIGNUMERIC"), ".00000000000000000000000000000000000001",
     arrow_value(Decimal("1E-38"), pyarrow.decimal256(76, 38)),
     "0.00000000000000000000000000000000000001"),
    (Field("c", "BIGNUMERIC"),
     "-99999999999999999999999999999999999999.99999999999999999999999999999999999999",
     arrow_value(
         Decimal("-99999999999999999999999999999999999999.99999999999999999999999999999999999999"),
         pyarrow.decimal256(76, 38),
     ),
     "-99999999999999999999999999999999999999.99999999999999999999999999999999999999"),
    (Field("c", "BIGNUMERIC"),  # the 77th digit Arrow's declared precision leaves out
     "578960446186580977117854925043439539266.34992332820282019728792003956564819967",
     Decimal("578960446186580977117854925043439539266.34992332820282019728792003956564819967"),
     "578960446186580977117854925043439539266.34992332820282019728792003956564819967"),
    (Field("c", "BOOL"), "true", True, True),
    (Field("c", "BOOL"), "false", False, False),
    (Field("c", "TIMESTAMP"), "1717225200500000",
     arrow_value(dt.datetime(2024, 6, 1, 7, 0, 0, 500000, tzinfo=UTC), pyarrow.timestamp("us", "UTC")),
     "2024-06-01T07:00:00.500000+00:00"),
    (Field("c", "TIMESTAMP"), "1.7172252005E9",  # float seconds, without useInt64Timestamp
     dt.datetime(2024, 6, 1, 7, 0, 0, 500000, tzinfo=UTC), "2024-06-01T07:00:00.500000+00:00"),
    (Field("c", "TIMESTAMP"), "-62135596800000000", dt.datetime(1, 1, 1, tzinfo=UTC),
     "0001-01-01T00:00:00+00:00"),
    (Field("c", "TIMESTAMP"), "253402300799999999",
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999+00:00"),
    (Field("c", "DATE"), "2024-02-29", dt.date(2024, 2, 29), "2024-02-29"),
    (Field("c", "TIME"), "23:59:59.999999", dt.time(23, 59, 59, 999999), "23:59:59.999999"),
    (Field("c", "TIME"), "09:00:00", dt.time(9), "09:00:00"),
    (Field("c", "TIME"), "12:34:56.5", dt.time(12, 34, 56, 500000), "12:34:56.500000"),
    (Field("c", "DATETIME"), "2024-06-01T09:00:00", dt.datetime(2024, 6, 1, 9),  # noqa: DTZ001
     "2024-06-01T09:00:00"),
    (Field("c", "DATETIME"), "9999-12-31T23:59:59.999999",
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999999"),  # noqa: DTZ001
    (Field("c", "DATETIME"), "2024-01-01T00:00:00.5", dt.datetime(2024, 1, 1, 0, 0, 0, 500000),  # noqa: DTZ001
     "2024-01-01T00:00:00.500000"),
    (Field("c", "INTERVAL"), "1-2 3 4:5:6.789",
     arrow_value(MDN([14, 3, 14_706_789_000_000]), pyarrow.month_day_nano_interval()),
     "P1Y2M3DT4H5M6.789S"),
    (Field("c", "INTERVAL"), "0-0 0 25:0:0", MDN([0, 0, 90_000_000_000_000]), "PT25H"),
    (Field("c", "INTERVAL"), "-1-2 -3 -4:5:6.5", MDN([-14, -3, -14_706_500_000_000]),
     "P-1Y-2M-3DT-4H-5M-6.5S"),
    (Field("c", "INTERVAL"), "0-0 0 0:0:0", MDN([0, 0, 0]), "PT0S"),
    (Field("c", "INTERVAL"), "0-0 0 0:1:0", MDN([0, 0, 60_000_000_000]), "PT1M"),
    (Field("c", "INTERVAL"), "0-1 -1 -0:1:0", MDN([1, -1, -60_000_000_000]), "P1M-1DT-1M"),
    (Field("c", "INTERVAL"), "0-0 0 -0:0:0.000001", MDN([0, 0, -1000]), "PT-0.000001S"),
    (Field("c", "INTERVAL"), "10000-0 3660000 87840000:0:0",
     MDN([120000, 3660000, 87_840_000 * 3600 * 10**9]), "P10000Y3660000DT87840000H"),
    (Field("c", "JSON"), '{"a":[1,2.5,{"b":"ü"}],"n":null}', '{"a":[1,2.5,{"b":"ü"}],"n":null}',
     {"a": [1, 2.5, {"b": "ü"}], "n": None}),
    (Field("c", "JSON"), "12345678901234567890", "12345678901234567890", 12345678901234567890),
    (Field("c", "JSON"), '"text"', '"text"', "text"),
    (Field("c", "JSON"), "null", "null", None),
    (Field("c", "GEOGRAPHY"), "POINT(13.4 52.52)", "POINT(13.4 52.52)", "POINT(13.4 52.52)"),
    (Field("c", "GEOGRAPHY"), "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))",
     "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))", "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"),
    (Field("c", "RANGE", element_type="DATE"), "[2024-01-01, UNBOUNDED)",
     {"start": dt.date(2024, 1, 1), "end": None}, {"start": "2024-01-01", "end": None}),
    (Field("c", "RANGE", element_type="DATE"), "[UNBOUNDED, UNBOUNDED)",
     {"start": None, "end": None}, {"start": None, "end": None}),
    (Field("c", "RANGE", element_type="DATETIME"), "[2009-06-17T13:45:30, 2019-06-17T13:45:30)",
     {"start": dt.datetime(2009, 6, 17, 13, 45, 30), "end": dt.datetime(2019, 6, 17, 13, 45, 30)},  # noqa: DTZ001
     {"start": "2009-06-17T13:45:30", "end": "2019-06-17T13:45:30"}),
    (Field("c", "RANGE", element_type="TIMESTAMP"), "[1704067200500000, 1706745600000000)",
     {"start": dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
      "end": dt.datetime(2024, 2, 1, tzinfo=UTC)},
     {"start": "2024-01-01T00:00:00.500000+00:00", "end": "2024-02-01T00:00:00+00:00"}),
    (STRUCT,
     {"f": [{"v": "1"}, {"v": [{"v": {"f": [{"v": "a"}, {"v": "1.5"}]}}, {"v": {"f": [{"v": "b"}, {"v": None}]}}]}]},
     {"id": 1, "items": [{"k": "a", "v": Decimal("1.500000000")}, {"k": "b", "v": None}]},
     {"id": 1, "items": [{"k": "a", "v": "1.5"}, {"k": "b", "v": None}]}),
    (STRUCT, {"f": [{"v": None}, {"v": []}]}, {"id": None, "items": []}, {"id": None, "items": []}),
    (Field("c", "INT64", repeated=True), [{"v": "1"}, {"v": "2"}], [1, 2], [1, 2]),
    (Field("c", "INT64", repeated=True), [], [], []),
    (Field("c", "INT64", repeated=True), None, None, []),  # an ARRAY is never NULL
    (Field("c", "TIMESTAMP", repeated=True), [{"v": "0"}],
     [dt.datetime(1970, 1, 1, tzinfo=UTC)], ["1970-01-01T00:00:00+00:00"]),
]  # fmt: skip


@pytest.mark.parametrize(("field", "rest", "arrow", "stored"), CASES)
def test_each_type_has_one_stored_form_from_either_wire(field, rest, arrow, stored):
    from_rest = converter(field, "rest")(rest)
    from_arrow = converter(field, "arrow")(arrow)

    assert from_rest == stored
    assert from_arrow == stored
    assert canonical_json(from_rest) == canonical_json(from_arrow)  # byte for byte


ALL_SCALARS = [
    "STRING",
    "BYTES",
    "INT64",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOL",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "DATETIME",
    "INTERVAL",
    "JSON",
    "GEOGRAPHY",
]


@pytest.mark.parametrize("wire", ["rest", "arrow"])
@pytest.mark.parametrize(
    "field",
    [
        *(Field("c", kind) for kind in ALL_SCALARS),
        Field("c", "RANGE", element_type="TIMESTAMP"),
        STRUCT,
    ],
    ids=lambda f: f.label,
)
def test_null_is_null_in_every_type(field, wire):
    assert converter(field, wire)(None) is None


@pytest.mark.parametrize(
    ("field", "wire", "value", "reason"),
    [
        (Field("c", "STRING"), "rest", "a\x00b", "contains a NUL character"),
        (Field("c", "STRING"), "arrow", "a\ud800", "contains text that is not valid Unicode"),
        (Field("c", "STRING"), "arrow", "\x00", "contains a NUL character"),
        (Field("c", "GEOGRAPHY"), "rest", "\x00POINT(1 2)", "contains a NUL character"),
        (Field("c", "JSON"), "rest", '{"k\\u0000": 1}', "contains a NUL character"),
        (Field("c", "JSON"), "arrow", '["a", "b\\u0000"]', "contains a NUL character"),
        (Field("c", "JSON"), "rest", '{"k": "\\u0000"}', "contains a NUL character"),
        (Field("c", "JSON"), "arrow", '{"k": [{"v": "a\\u0000"}]}', "contains a NUL character"),
        (Field("c", "JSON"), "arrow", "[Infinity]", "is JSON with Infinity"),
        (Field("c", "JSON"), "rest", "1e400", "is JSON with a number beyond FLOAT64"),
        (Field("c", "JSON"), "arrow", '{"a": [-1e400]}', "is JSON with a number beyond FLOAT64"),
        (Field("c", "BYTES"), "rest", "not base64!", "is not valid base64 BYTES"),
        # Decodable once the stray character is skipped: refused, never silently cleaned.
        (Field("c", "BYTES"), "rest", "AP9o*aQ==", "is not valid base64 BYTES"),
        (Field("c", "INTERVAL"), "rest", "P1D", "is not an INTERVAL in BigQuery's form"),
        (Field("c", "RANGE", element_type="DATE"), "rest", "2024-01-01", "is not a RANGE"),
        (
            Field("c", "RANGE", element_type="DATE"),
            "rest",
            "(2024-01-01, 2024-02-01]",
            "is not a RANGE",
        ),
        (
            Field("c", "RANGE", element_type="DATE"),
            "rest",
            "[2024-01-01, 2024-02-01]",
            "is not a RANGE",
        ),
        (Field("c", "NUMERIC"), "rest", "abc", "is not a decimal number"),
        (Field("c", "NUMERIC"), "arrow", Decimal("NaN"), "is not a finite number"),
        (Field("c", "NUMERIC"), "rest", "Infinity", "is not a finite number"),
        (Field("c", "BIGNUMERIC"), "arrow", Decimal("-Infinity"), "is not a finite number"),
        (Field("c", "DATETIME"), "rest", "2024-06-01T09:00:00+02:00", "with a time zone"),
        (Field("c", "GEOMETRY"), "rest", "x", "has the type GEOMETRY, which this version cannot"),
    ],
)
def test_a_value_that_cannot_be_stored_says_why(field, wire, value, reason):
    with pytest.raises(Unstorable, match=reason):
        converter(field, wire)(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (Field("c", "INT64"), "12"),  # a string where Arrow has an int64
        (Field("c", "INTERVAL"), "1-2 3 4:5:6"),  # the emulator's text, not Google's Arrow
        (Field("c", "DATE"), dt.datetime(2024, 1, 1)),  # noqa: DTZ001
        (Field("c", "DATETIME"), dt.datetime(2024, 1, 1, tzinfo=UTC)),
        (Field("c", "BOOL"), 1),
        (Field("c", "INT64"), True),  # a bool is an int to Python, not to Arrow's int64
    ],
)
def test_an_arrow_value_of_another_form_is_refused_not_guessed(field, value):
    with pytest.raises((TypeError, AttributeError)):
        converter(field, "arrow")(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("T", True), ("1", True), ("FALSE", False), ("f", False), ("0", False)],
)
def test_a_rest_bool_reads_each_spelling_of_true_and_false(text, expected):
    assert converter(Field("c", "BOOL"), "rest")(text) is expected


def test_a_rest_timestamp_in_float_seconds_keeps_every_microsecond():
    # Read as a float, the last microsecond of year 9999 rounds up into year 10000.
    stored = converter(Field("c", "TIMESTAMP"), "rest")("253402300799.999999")

    assert stored == "9999-12-31T23:59:59.999999+00:00"


def test_a_rest_struct_with_a_cell_missing_or_extra_is_refused_not_misread():
    convert = converter(
        Field("s", "STRUCT", fields=(Field("a", "INT64"), Field("b", "INT64"))), "rest"
    )

    assert convert({"f": [{"v": "1"}, {"v": "2"}]}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="zip"):
        convert({"f": [{"v": "1"}]})
    with pytest.raises(ValueError, match="zip"):
        convert({"f": [{"v": "1"}, {"v": "2"}, {"v": "3"}]})


def test_a_range_without_an_element_type_is_read_as_dates():
    field = Field("c", "RANGE")

    assert converter(field, "rest")("[2024-01-01, UNBOUNDED)") == {
        "start": "2024-01-01",
        "end": None,
    }
    assert converter(field, "arrow")({"start": dt.date(2024, 1, 1), "end": None}) == {
        "start": "2024-01-01",
        "end": None,
    }


def test_an_arrow_struct_without_one_of_its_fields_is_refused_not_read_as_null():
    convert = converter(
        Field("s", "STRUCT", fields=(Field("a", "INT64"), Field("b", "INT64"))), "arrow"
    )

    with pytest.raises(KeyError):
        convert({"a": 1})


def test_a_naive_arrow_timestamp_is_utc_whatever_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        stored = converter(Field("c", "TIMESTAMP"), "arrow")(dt.datetime(2024, 6, 1, 7))  # noqa: DTZ001
    finally:
        monkeypatch.undo()
        time.tzset()

    assert stored == "2024-06-01T07:00:00+00:00"


def test_an_arrow_timestamp_in_another_zone_is_stored_in_utc():
    berlin = dt.timezone(dt.timedelta(hours=2))

    stored = converter(Field("c", "TIMESTAMP"), "arrow")(dt.datetime(2024, 6, 1, 9, tzinfo=berlin))

    assert stored == "2024-06-01T07:00:00+00:00"


def test_decimal_text_keeps_every_digit_without_exponent():
    assert decimal_text(Decimal("1E+5")) == "100000"
    assert decimal_text(Decimal("-0E-9")) == "0"
    assert decimal_text(Decimal("1.2345678901234567890123456789012345678E-30")) == (
        "0.0000000000000000000000000000012345678901234567890123456789012345678"
    )


def test_interval_text_keeps_days_apart_from_hours_and_signs_per_part():
    assert interval_text(0, 1, 3600 * 10**9) == "P1DT1H"
    assert interval_text(0, 0, 25 * 3600 * 10**9) == "PT25H"
    assert interval_text(1, -1, 0) == "P1M-1D"
    assert interval_text(0, 0, 1) == "PT0.000000001S"


def test_fields_come_from_the_api_schema_with_nested_types():
    [field] = schema_fields(
        [
            {
                "name": "c_struct",
                "type": "RECORD",
                "mode": "REPEATED",
                "fields": [
                    {"name": "id", "type": "INTEGER", "mode": "NULLABLE"},
                    {
                        "name": "items",
                        "type": "RECORD",
                        "mode": "REPEATED",
                        "fields": [{"name": "k", "type": "STRING"}],
                    },
                    {"name": "span", "type": "RANGE", "rangeElementType": {"type": "DATE"}},
                ],
            }
        ]
    )

    assert field.label == (
        "ARRAY<STRUCT<id INT64, items ARRAY<STRUCT<k STRING>>, span RANGE<DATE>>>"
    )
    assert field.fields[2].element_type == "DATE"


def test_a_field_mode_is_read_in_any_case():
    [field] = schema_fields([{"name": "tags", "type": "string", "mode": "repeated"}])

    assert (field.type, field.repeated, field.label) == ("STRING", True, "ARRAY<STRING>")


def test_stored_forms_are_json_that_postgresql_takes():
    for field, rest, _, _ in CASES:
        stored = converter(field, "rest")(rest)
        json.dumps(stored, allow_nan=False, ensure_ascii=False).encode("utf-8")
