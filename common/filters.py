"""Filter fields whose refusals say what to do, shared by the list pages (and their API)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import DateRangeField

DAY_FORMAT = "Enter the date as YYYY-MM-DD, e.g. 2026-03-05."


def choose_from_list(what: str) -> dict[str, str]:
    """error_messages for a choice filter given a value it does not offer."""
    return {"invalid_choice": f"Choose {what} from the list."}


class DayRangeField(DateRangeField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields:
            field.error_messages["invalid"] = DAY_FORMAT


class DayRangeFilter(django_filters.DateFromToRangeFilter):
    """From and To days (`<name>_after`, `<name>_before`), each as YYYY-MM-DD."""

    field_class = DayRangeField


def range_parameter_errors(
    errors: dict[str, list[str]], ranges: tuple[str, ...], sent: Any
) -> dict[str, list[str]]:
    """A filterset's errors keyed by the query parameters a client sent: a day that does
    not read as one under its own `<range>_after` or `<range>_before`; an error of the range
    as a whole (From after To) under the range's name."""
    keyed: dict[str, list[str]] = {}
    for name, messages in errors.items():
        ends = [f"{name}_{end}" for end in ("after", "before")] if name in ranges else []
        unreadable = [parameter for parameter in ends if not _is_day(sent, parameter)]
        for key in unreadable or [name]:
            keyed[key] = list(messages)
    return keyed


def _is_day(sent: Any, parameter: str) -> bool:
    value = sent.get(parameter)
    if not value:
        return True  # not sent: not the one at fault
    try:
        forms.DateField().to_python(value)
    except ValidationError:
        return False
    return True
