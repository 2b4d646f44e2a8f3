"""Every link says where it goes: two links on a page with the same text (as a screen reader
reads it, hidden text included) lead to the same place. No list of 50 identical "Events"."""

import uuid
from html.parser import HTMLParser

import pytest

from audience.models import Event, Profile
from imports.models import ImportRun
from imports.services import run_create
from tests.fixtures.connections import make_connection
from tests.imports.conftest import make_import


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []
            label = dict(attrs).get("aria-label")
            if label:
                self._text.append(label)

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((" ".join("".join(self._text).split()), self._href))
            self._href = None


def same_text_other_places(page: str) -> dict[str, set[str]]:
    parser = Links()
    parser.feed(page)
    places: dict[str, set[str]] = {}
    for text, href in parser.links:
        places.setdefault(text, set()).add(href)
    return {text: hrefs for text, hrefs in places.items() if len(hrefs) > 1}


@pytest.fixture
def busy_workspace(workspace_a, alice):
    connections = [make_connection(workspace_a, alice, name=f"Warehouse {i}") for i in range(3)]
    imports = []
    for connection in connections:
        for n in range(2):
            import_obj = make_import(
                connection, alice, table="users", name=f"{connection.name} #{n}"
            )
            run = run_create(
                import_obj=import_obj, scheduled_for=import_obj.created_at, trigger="manual"
            )
            ImportRun.objects.filter(pk=run.pk).update(
                status=ImportRun.Status.SUCCEEDED, finished_at=import_obj.created_at
            )
            imports.append(import_obj)
    for i in range(5):
        Profile.objects.create(
            workspace=workspace_a,
            identity=f"user-{i}",
            first_seen=imports[0].created_at,
            last_seen=imports[0].created_at,
        )
        Event.objects.create(
            workspace=workspace_a,
            identity=f"user-{i}",
            name="signup",
            timestamp=imports[0].created_at,
            dedupe_key=uuid.uuid4(),
        )
    return {"connection": connections[0], "import": imports[0]}


@pytest.mark.parametrize(
    "path",
    [
        "/w/acme/settings/partners/bigquery/",
        "/w/acme/settings/partners/bigquery/imports/",
        "/w/acme/settings/partners/bigquery/imports/new/",
        "/w/acme/audience/profiles/",
        "/w/acme/audience/events/",
        "/w/acme/settings/partners/bigquery/{connection}/",
        "/w/acme/settings/partners/bigquery/imports/{import}/",
    ],
)
def test_links_with_the_same_text_go_to_the_same_place(alice_client, busy_workspace, path):
    path = path.format(
        connection=busy_workspace["connection"].pk, **{"import": busy_workspace["import"].pk}
    )
    page = alice_client.get(path).content.decode()

    assert same_text_other_places(page) == {}
