"""Create Import from the Import Connections dashboard or the Imports list: the connection is
chosen first."""

from django.utils.html import escape

from tests.connections.conftest import make_connection

BASE = "/w/acme/settings/partners/bigquery/"
PICK = BASE + "imports/new/"


def test_the_dashboard_and_the_imports_list_offer_create_import(alice_client, connection_a):
    for url in (BASE, BASE + "imports/"):
        page = alice_client.get(url).content.decode()
        assert f'href="{PICK}">Create Import</a>' in page, url


def test_members_are_not_offered_it_and_may_not_open_it(bob_client, connection_a):
    for url in (BASE, BASE + "imports/"):
        assert PICK not in bob_client.get(url).content.decode()
    assert bob_client.get(PICK).status_code == 403


def test_with_one_connection_it_goes_straight_to_it(alice_client, connection_a):
    response = alice_client.get(PICK)

    assert response.status_code == 302
    assert response.url == f"{BASE}{connection_a.pk}/imports/new/"


def test_with_several_it_lists_them_to_choose_from(alice_client, alice, workspace_a):
    lake = make_connection(workspace_a, alice, name="Lake")
    shop = make_connection(workspace_a, alice, name="Shop <db>")

    page = alice_client.get(PICK).content.decode()

    for connection in (lake, shop):
        link = (
            f'<a class="btn btn-primary" href="{BASE}{connection.pk}/imports/new/">Create Import'
            f'<span class="sr-only"> from {escape(connection.name)}</span></a>'
        )
        assert link in page


def test_search_narrows_the_list(alice_client, alice, workspace_a):
    make_connection(workspace_a, alice, name="Lake")
    shop = make_connection(workspace_a, alice, name="Shop")

    response = alice_client.get(PICK, {"q": "sho"})

    assert [c.name for c in response.context["page"].object_list] == ["Shop"]
    assert f"{BASE}{shop.pk}/imports/new/" in response.content.decode()
    missing = alice_client.get(PICK, {"q": "nothing"}).content.decode()
    assert "No connection matches “nothing”" in missing


def test_without_connections_it_offers_add_database(alice_client, workspace_a, alice):
    page = alice_client.get(PICK).content.decode()

    assert "No connections yet" in page
    assert f'href="{BASE}add/">Add Database' in page


def test_another_workspaces_connections_are_not_listed(
    alice_client, alice, workspace_a, connection_b
):
    make_connection(workspace_a, alice, name="Lake")
    make_connection(workspace_a, alice, name="Shop")

    page = alice_client.get(PICK).content.decode()

    assert "Globex warehouse" not in page and str(connection_b.pk) not in page


def test_a_blank_search_or_a_page_link_still_goes_straight_to_the_only_connection(
    alice_client, connection_a
):
    straight = f"{BASE}{connection_a.pk}/imports/new/"

    blank = alice_client.get(PICK, {"q": "   "})
    paged = alice_client.get(PICK, {"page": "1"})

    assert (blank.status_code, blank.url) == (302, straight)
    assert paged.status_code == 200
    assert [c.name for c in paged.context["page"].object_list] == [connection_a.name]


def test_a_search_too_long_to_read_says_so_and_lists_nothing(alice_client, alice, workspace_a):
    make_connection(workspace_a, alice, name="Lake")
    make_connection(workspace_a, alice, name="Shop")

    response = alice_client.get(PICK, {"q": "x" * 201})

    assert list(response.context["page"].object_list) == []
    assert "Search: Ensure this value has at most 200 characters (it has 201)." in (
        response.content.decode()
    )


def test_the_list_shows_25_connections_a_page(alice_client, alice, workspace_a):
    for number in range(26):
        make_connection(workspace_a, alice, name=f"Warehouse {number:02}")

    first = alice_client.get(PICK)
    second = alice_client.get(PICK, {"page": "2"})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 1
