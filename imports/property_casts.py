"""Casting a stored value to the type a workspace keeps for its property, when nothing is lost.

A workspace keeps one type per property name (the first import that stores it decides).
When another import gives the property another type, each value is cast if the cast loses
nothing, which here means the value comes back unchanged when cast back (0.1 as FLOAT64
into a NUMERIC property is "0.1"; 12345678901234567.89 into a FLOAT64 property is not),
and the row is rejected with a reason otherwise. The rules (README, "How BigQuery types
land"):

* anything into JSON: stored as it is (every stored form is JSON);
* between INT64, FLOAT64, NUMERIC and BIGNUMERIC: when the exact value fits the target
  (an integer in INT64's range; a float whose shortest text is that number; at most 9
  or 38 digits after the point and within NUMERIC's or BIGNUMERIC's range);
* a scalar into STRING: its text (INT64 42 -> "42", BOOL -> "true", a TIMESTAMP's stored
  text); STRING into a scalar type when the text is exactly that type's stored form
  (not into GEOGRAPHY, BYTES or INTERVAL, whose text a STRING cannot be checked to be);
* DATE into DATETIME (midnight), DATETIME into DATE when it is midnight;
* ARRAY<S> into ARRAY<T> element by element by the same rules;
* anything else (STRUCT, RANGE, GEOGRAPHY, BYTES, INTERVAL across types) is rejected.

NULL fits every type.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from imports.type_contract import decimal_text, float_value, timestamp_text

Cast = Callable[[Any], Any]

NUMBERS = frozenset({"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC"})
# Scalars whose stored form is a string that is also their text.
_TEXT_FORMS = frozenset(
    "NUMERIC BIGNUMERIC DATE TIME DATETIME TIMESTAMP INTERVAL GEOGRAPHY BYTES".split()
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NUMERIC_LIMIT = Decimal(10) ** 29
# Just above BIGNUMERIC's largest value (5.78960446186580977117854925043439539266...E+38),
# 2^255 x 10^-38; its smallest value is minus that (the range is two's complement's).
_BIGNUMERIC_LIMIT = Decimal(
    "578960446186580977117854925043439539266.34992332820282019728792003956564819968"
)
_BIGNUMERIC_MIN = _BIGNUMERIC_LIMIT.copy_negate()
_INTEGER_TEXT = re.compile(r"0|-?[1-9][0-9]*")


class Uncastable(ValueError):
    """The value cannot take the property's type without losing something."""


def caster(source: str, target: str) -> Cast | None:
    """How to store a value of type `source` in a property of type `target` (type labels
    such as INT64 or ARRAY<STRING>); None when the types are the same."""
    if source == target:
        return None
    if target == "JSON":
        return _as_is
    if source.startswith("ARRAY<") and target.startswith("ARRAY<"):
        element = caster(source[6:-1], target[6:-1])
        return _array(element) if element is not None else None
    if source in NUMBERS and target in NUMBERS:
        return _number_cast(target)
    if target == "STRING" and source in _TEXT_FORMS | NUMBERS | {"BOOL"}:
        return _to_text(source)
    if source == "STRING" and target in _TEXT_READERS:
        return _from_text(target)
    if (source, target) == ("DATE", "DATETIME"):
        return _date_to_datetime
    if (source, target) == ("DATETIME", "DATE"):
        return _datetime_to_date
    return _refuse


def castable(source: str, target: str) -> bool:
    """Whether any value of `source` (other than NULL) can be stored as `target`."""
    cast = caster(source, target)
    return cast is not _refuse and getattr(cast, "element", None) is not _refuse


def _as_is(value: Any) -> Any:
    return value


def _refuse(value: Any) -> Any:
    if value is None:
        return None
    raise Uncastable


def _array(element: Cast) -> Cast:
    def cast(value: Any) -> Any:
        return None if value is None else [element(item) for item in value]

    cast.element = element  # type: ignore[attr-defined]
    return cast


# -- numbers -------------------------------------------------------------------------------------


def _exact(value: Any) -> Decimal:
    """The stored number's exact value; NaN and infinities (stored as text) raise."""
    if isinstance(value, bool):
        raise Uncastable
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as this float
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise Uncastable from None
        if number.is_finite():
            return number
    raise Uncastable


def _fractional_digits(number: Decimal) -> int:
    """Digits after the point, trailing zeros not counted; exact for any number of digits
    (normalize() in the default context would round to 28 and undercount)."""
    if not number or not number.is_finite():
        return 0
    _, digits, exponent = number.as_tuple()
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(int(exponent) + trailing_zeros))


def _number(number: Decimal, target: str) -> Any:
    if target == "INT64":
        if number != number.to_integral_value() or not _INT64_MIN <= number <= _INT64_MAX:
            raise Uncastable
        return int(number)
    if target == "FLOAT64":
        as_float = float(number)
        if not (as_float == as_float and abs(as_float) != float("inf")):
            raise Uncastable
        if Decimal(repr(as_float)) != number:
            raise Uncastable
        return as_float
    # Exact comparisons only: abs() and unary minus round to the context's 28 digits.
    if target == "NUMERIC":
        digits, fits = 9, number.copy_abs() < _NUMERIC_LIMIT
    else:
        digits, fits = 38, _BIGNUMERIC_MIN <= number < _BIGNUMERIC_LIMIT
    if _fractional_digits(number) > digits or not fits:
        raise Uncastable
    return decimal_text(number)


def _number_cast(target: str) -> Cast:
    def cast(value: Any) -> Any:
        if value is None:
            return None
        return _number(_exact(value), target)

    return cast


# -- text ----------------------------------------------------------------------------------------


def _to_text(source: str) -> Cast:
    def cast(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value  # decimals, times, WKT, base64, and FLOAT64's NaN/Infinity
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        raise Uncastable

    return cast


def _from_text(target: str) -> Cast:
    read = _TEXT_READERS[target]

    def cast(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise Uncastable
        try:
            return read(value)
        except (ValueError, ArithmeticError):
            raise Uncastable from None

    return cast


def _text_int(text: str) -> int:
    if not _INTEGER_TEXT.fullmatch(text) or not _INT64_MIN <= int(text) <= _INT64_MAX:
        raise ValueError
    return int(text)


def _text_float(text: str) -> Any:
    if text in ("NaN", "Infinity", "-Infinity"):
        return text
    number = float(text)
    if repr(number) != text or not math.isfinite(number):  # "inf" and "nan" are not the forms
        raise ValueError
    return float_value(number)


def _text_decimal(target: str) -> Callable[[str], str]:
    def read(text: str) -> str:
        if decimal_text(Decimal(text)) != text:
            raise ValueError
        return _number(Decimal(text), target)

    return read


def _text_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError
    return text == "true"


def _same_text(parse: Callable[[str], str]) -> Callable[[str], str]:
    def read(text: str) -> str:
        if parse(text) != text:
            raise ValueError
        return text

    return read


def _timestamp(text: str) -> str:
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError
    return timestamp_text(parsed)


def _datetime(text: str) -> str:
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        raise ValueError
    return parsed.isoformat()


_TEXT_READERS: dict[str, Callable[[str], Any]] = {
    "INT64": _text_int,
    "FLOAT64": _text_float,
    "NUMERIC": _text_decimal("NUMERIC"),
    "BIGNUMERIC": _text_decimal("BIGNUMERIC"),
    "BOOL": _text_bool,
    "DATE": _same_text(lambda text: dt.date.fromisoformat(text).isoformat()),
    "TIME": _same_text(lambda text: dt.time.fromisoformat(text).isoformat()),
    "DATETIME": _same_text(_datetime),
    "TIMESTAMP": _same_text(_timestamp),
}


# -- calendar ------------------------------------------------------------------------------------


def _date_to_datetime(value: Any) -> Any:
    if value is None:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time()).isoformat()


def _datetime_to_date(value: Any) -> Any:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.time() != dt.time():
        raise Uncastable
    return parsed.date().isoformat()
