"""{% workspace_url %} gives exactly what {% url %} gives, however many links a page draws."""

import uuid

import pytest
from django.template import Context, Template
from django.urls import reverse, set_script_prefix

from workspaces.models import Workspace
from workspaces.templatetags.workspace_urls import _STAND_IN


def draw(source: str, slug: str, **values) -> str:
    template = Template("{% load workspace_urls %}" + source)
    return template.render(Context({"current_workspace": Workspace(slug=slug), **values}))


PATTERNS = [
    ("connections:detail", "pk"),
    ("connections:edit", "pk"),
    ("imports:detail", "pk"),
    ("imports:progress", "pk"),
    ("imports:run", "run_pk"),
    ("imports:rejected_csv", "run_pk"),
]


@pytest.mark.parametrize(("name", "kwarg"), PATTERNS)
@pytest.mark.parametrize("slug", ["acme", "a-b_9", str(_STAND_IN)])
def test_same_as_reverse(name, kwarg, slug):
    for pk in (uuid.uuid4(), uuid.uuid4(), _STAND_IN, uuid.UUID(int=0)):
        drawn = draw(f'{{% workspace_url "{name}" {kwarg}=pk %}}', slug, pk=pk)

        assert drawn == reverse(name, kwargs={"ws": slug, kwarg: pk})


def test_each_workspace_gets_its_own_links():
    pk = uuid.uuid4()

    assert draw('{% workspace_url "imports:detail" pk=pk %}', "acme", pk=pk).startswith("/w/acme/")
    assert draw('{% workspace_url "imports:detail" pk=pk %}', "globex", pk=pk).startswith(
        "/w/globex/"
    )


def test_links_follow_the_script_prefix():
    pk = uuid.uuid4()
    set_script_prefix("/dashboard/")
    try:
        drawn = draw('{% workspace_url "imports:detail" pk=pk %}', "acme", pk=pk)
    finally:
        set_script_prefix("/")

    assert drawn == f"/dashboard/w/acme/settings/partners/bigquery/imports/{pk}/"
    assert draw('{% workspace_url "imports:detail" pk=pk %}', "acme", pk=pk) == (
        f"/w/acme/settings/partners/bigquery/imports/{pk}/"
    )


def test_other_arguments_go_through_reverse():
    pk = uuid.uuid4()

    assert draw('{% workspace_url "imports:list" %}', "acme") == reverse(
        "imports:list", kwargs={"ws": "acme"}
    )
    assert draw('{% workspace_url "imports:detail" pk=pk %}', "acme", pk=str(pk)) == reverse(
        "imports:detail", kwargs={"ws": "acme", "pk": pk}
    )
    assert draw(
        '{% workspace_url "imports:action" pk=pk action="pause" %}', "acme", pk=pk
    ) == reverse("imports:action", kwargs={"ws": "acme", "pk": pk, "action": "pause"})
