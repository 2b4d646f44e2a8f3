"""Help where Google's side has to be prepared: Before you start on the BigQuery page, and the
IP addresses to allow-list from the operator's setting."""

import re

LIST = "/w/acme/settings/partners/bigquery/"
IPS = LIST + "ip-addresses/"


def panel(page: str) -> str:
    match = re.search(r'<details class="help-panel" id="before-you-start".*?</details>', page, re.S)
    assert match, "no Before you start panel"
    return match.group(0)


def test_before_you_start_lists_the_roles_and_how_to_make_a_key(alice_client, connection_a):
    help_panel = panel(alice_client.get(LIST).content.decode())

    roles = re.findall(
        r"<td data-label=\"Role\"><strong>(BigQuery [A-Za-z ]+)</strong><br><code>([a-z./A-Z]+)</code>",
        help_panel,
    )
    assert roles == [
        ("BigQuery Job User", "roles/bigquery.jobUser"),
        ("BigQuery Data Editor", "roles/bigquery.dataEditor"),
        ("BigQuery Read Session User", "roles/bigquery.readSessionUser"),
    ]
    assert "faster Storage Read API" in help_panel
    assert "Add key &rsaquo; Create new key" in help_panel and "<strong>JSON</strong>" in help_panel
    assert f'href="{IPS}"' in help_panel
    assert '<details class="help-panel" id="before-you-start">' in help_panel  # closed


def test_before_you_start_is_open_while_there_is_no_connection(alice_client, bob_client):
    for client in (alice_client, bob_client):
        help_panel = panel(client.get(LIST).content.decode())
        assert '<details class="help-panel" id="before-you-start" open>' in help_panel


def test_the_add_database_form_points_to_it(alice_client):
    page = alice_client.get(LIST + "add/").content.decode()

    assert f'<a href="{LIST}#before-you-start">how to create one</a>' in page


def test_the_ip_page_lists_the_configured_ranges(alice_client, bob_client, settings):
    settings.EGRESS_IP_RANGES = ["203.0.113.7/32", "198.51.100.0/28", "2001:db8::/48"]

    for client in (alice_client, bob_client):  # members may read it too
        page = client.get(IPS).content.decode()
        ranges = re.findall(r"<li><code>([^<]+)</code></li>", page)
        assert ranges == ["203.0.113.7/32", "198.51.100.0/28", "2001:db8::/48"]
        assert "<h1>IP addresses to allow-list</h1>" in page


def test_the_ip_page_says_when_none_are_configured(alice_client, settings):
    settings.EGRESS_IP_RANGES = []

    page = alice_client.get(IPS).content.decode()

    assert 'id="no-ip-ranges"' in page and "EGRESS_IP_RANGES" in page
    assert 'id="ip-ranges"' not in page
