"""|datetime_text and |thousands give exactly what |date and |intcomma give."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

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
def test_datetime_text_is_djangos_date(zone, fmt):
    with timezone.override(zone):
        for value in VALUES:
            if type(value) is dt.date and fmt != "M j, Y":
                continue  # |date refuses a time format for a date; the pages never ask
            expected = draw(f'{{{{ v|date:"{fmt}" }}}}', v=value)

            assert draw(f'{{{{ v|datetime_text:"{fmt}" }}}}', v=value) == expected, value


@pytest.mark.parametrize(
    "value",
    [0, 7, 999, 1000, -1000, 1234567, 10**18, -(10**12), True, None, "12345", "x", 1234.5,
     Decimal("1234567.891"), 3.0],
)  # fmt: skip
def test_thousands_is_intcomma(value):
    assert draw("{{ v|thousands }}", v=value) == draw("{{ v|intcomma }}", v=value)
