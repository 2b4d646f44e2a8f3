"""QuickSelect draws the same <select> as Django's Select, without a template per option."""

import re

import pytest
from django import forms
from django.utils.safestring import mark_safe

from common.widgets import QuickSelect


def same_markup(html: str) -> str:
    # Django's templates put a newline and indentation before each <option>.
    return re.sub(r">\s+<", "><", str(html)).strip()


CHOICES = [
    ("", "Anyone"),
    ("ok", "Passed"),
    ("failing", 'Failing <b>&</b> "quoted"'),
    (7, "Seven"),
]
SAFE_LABELS = [("a", mark_safe("<em>Already</em> &amp; safe")), ("b", "Plain & <odd>")]
GROUPED = [
    ("", "Any"),
    ("Warm <colours>", [("red", "Red"), ("amber", "Amber")]),
    ("Cold", [("blue", "Blue")]),
]


@pytest.mark.parametrize(
    ("choices", "value", "attrs"),
    [
        (CHOICES, None, None),
        (CHOICES, "failing", None),
        (CHOICES, 7, {"id": "id_status", "required": True, "disabled": False}),
        (CHOICES, "not a choice", {"data-x": 'a"b'}),
        (GROUPED, "amber", {"id": "id_colour"}),
        (SAFE_LABELS, "a", None),
        ([], None, None),
    ],
)
def test_markup_matches_djangos_select(choices, value, attrs):
    expected = forms.Select(choices=choices).render("status", value, attrs)
    drawn = QuickSelect(choices=choices).render("status", value, attrs)

    assert same_markup(drawn) == same_markup(expected)


def test_labels_and_values_are_escaped():
    drawn = QuickSelect(choices=[('"><script>', "<script>alert(1)</script>")]).render("q", None)

    assert "<script>" not in drawn
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in drawn


def test_the_selected_option_is_marked_once():
    drawn = QuickSelect(choices=CHOICES).render("status", "ok")

    assert drawn.count("selected") == 1
    assert '<option value="ok" selected>Passed</option>' in drawn


@pytest.mark.django_db
def test_model_choices_of_a_filter_form(alice, bob):
    from connections.filters import ConnectionFilter

    form = ConnectionFilter(
        {"connected_by": str(bob.pk)}, workspace=alice.memberships.get().workspace
    ).form
    field = form["connected_by"]

    assert isinstance(field.field.widget, QuickSelect)
    expected = forms.Select(choices=field.field.choices).render(
        field.html_name, field.value(), {"id": field.auto_id}
    )
    assert same_markup(field.as_widget()) == same_markup(expected)
    assert f'<option value="{bob.pk}" selected>{bob.username}</option>' in str(field)
