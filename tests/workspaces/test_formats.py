"""|date_in_zone is Django's |date, except that it never fails on a stored value."""

import datetime as dt
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

FORMATS = ["M j, Y", "M j, Y H:i", "M j, Y H:i:s", "D, M j, Y H:i", "N jS, y P"]
UTC = dt.UTC
VALUES = [
    dt.datetime(2026, 1, 5, 7, 3, 9, tzinfo=UTC),
    dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # another day in Berlin
    dt.datetime(2024, 2, 29, 0, 0, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles")),
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # the hour Berlin skips
    dt.datetime(999, 5, 1, 12, 0, tzinfo=UTC),
    dt.datetime(2026, 7, 4, 9, 15),  # noqa: DTZ001 - a naive value is drawn as it is
    dt.date(2026, 9, 1),
    None,
    "",
]


def draw(source: str, **values) -> str:
    return Template("{% load formats humanize %}" + source).render(Context(values))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata", "Pacific/Chatham"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_date_in_zone_is_djangos_date(zone, fmt):
    with timezone.override(zone):
        for value in VALUES:
            if type(value) is dt.date and fmt != "M j, Y":
                continue  # |date refuses a time format for a date; the pages never ask
            expected = draw(f'{{{{ v|date:"{fmt}" }}}}', v=value)

            assert draw(f'{{{{ v|date_in_zone:"{fmt}" }}}}', v=value) == expected, value


def test_date_in_zone_speaks_the_active_language():
    value = dt.datetime(2026, 3, 5, 12, tzinfo=UTC)
    with timezone.override("Europe/Berlin"), translation.override("de"):
        assert draw('{{ v|date_in_zone:"D, M j, Y H:i T" }}', v=value) == (
            "Do, Mär 5, 2026 13:00 CET"
        )


# BigQuery's own limits, common as placeholders in imported data.
BIGQUERY_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
BIGQUERY_MIN = dt.datetime(1, 1, 1, tzinfo=UTC)
EXTREME_ZONES = ["UTC", "Etc/GMT+12", "Pacific/Kiritimati", "Europe/Berlin", "America/St_Johns"]
ZONE_FORMATS = ["M j, Y H:i T", "M j, Y H:i:s T", "D, M j, Y H:i T"]


@pytest.mark.parametrize("zone", EXTREME_ZONES)
@pytest.mark.parametrize("fmt", [*FORMATS, *ZONE_FORMATS])
@pytest.mark.parametrize("value", [BIGQUERY_MAX, BIGQUERY_MIN])
def test_date_in_zone_draws_bigquerys_limits_in_every_zone(zone, fmt, value):
    with timezone.override(zone):
        text = draw(f'{{{{ v|date_in_zone:"{fmt}" }}}}', v=value)

    assert text, (zone, fmt, value)
    if "Y" in fmt:
        assert ("9999" if value.year == 9999 else "0001") in text


@pytest.mark.parametrize(
    ("zone", "value", "expected"),
    [
        # one step further would leave year 9999: drawn in UTC, and saying so
        ("Pacific/Kiritimati", BIGQUERY_MAX, "Dec 31, 9999 23:59:59 UTC"),
        ("Etc/GMT+12", BIGQUERY_MIN, "Jan 1, 0001 00:00:00 UTC"),
        # the other way round the shift fits, in the workspace's own zone
        ("Etc/GMT+12", BIGQUERY_MAX, "Dec 31, 9999 11:59:59 UTC\u221212"),
        ("Etc/GMT-14", BIGQUERY_MIN, "Jan 1, 0001 14:00:00 UTC+14"),
        # before 1900 zones keep their local mean time (Kiritimati: UTC−10:29:20)
        ("Pacific/Kiritimati", BIGQUERY_MIN, "Jan 1, 0001 00:00:00 UTC"),
    ],
)
def test_a_limit_that_leaves_the_calendar_in_the_zone_is_drawn_in_utc(zone, value, expected):
    with timezone.override(zone):
        assert draw('{{ v|date_in_zone:"M j, Y H:i:s T" }}', v=value) == expected


@pytest.mark.parametrize(
    ("zone", "value", "expected"),
    [
        ("Europe/Berlin", dt.datetime(2026, 1, 15, 12, tzinfo=UTC), "Jan 15, 2026 13:00 CET"),
        ("Europe/Berlin", dt.datetime(2026, 7, 15, 12, tzinfo=UTC), "Jul 15, 2026 14:00 CEST"),
        ("UTC", dt.datetime(2026, 7, 15, 12, tzinfo=UTC), "Jul 15, 2026 12:00 UTC"),
        ("Asia/Kathmandu", dt.datetime(2026, 7, 15, 12, tzinfo=UTC), "Jul 15, 2026 17:45 UTC+05:45"),
        ("America/Sao_Paulo", dt.datetime(2026, 7, 15, 12, tzinfo=UTC), "Jul 15, 2026 09:00 UTC\u221203"),
    ],
)  # fmt: skip
def test_a_zone_suffix_names_the_zone_as_people_read_it(zone, value, expected):
    with timezone.override(zone):
        assert draw('{{ v|date_in_zone:"M j, Y H:i T" }}', v=value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0\xa0bytes"),
        (1, "1\xa0byte"),
        (1023, "1023\xa0bytes"),
        (1024, "1.0\xa0KB (1,024 bytes)"),
        (1572864, "1.5\xa0MB (1,572,864 bytes)"),
        (None, ""),
    ],
)
def test_bytes_text_gives_the_exact_count_only_when_rounding_hides_it(value, expected):
    assert draw("{{ v|bytes_text }}", v=value) == expected


def test_breakable_escapes_then_allows_breaks_after_at_and_dots():
    text = draw("{{ v|breakable }}", v="<b>loader@p-1.iam.gserviceaccount.com")

    assert text == "&lt;b&gt;loader@<wbr>p-1.<wbr>iam.<wbr>gserviceaccount.<wbr>com"
