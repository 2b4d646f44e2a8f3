"""The page frame: a skip link to the content, first thing on every page."""

import re


def test_every_page_starts_with_a_skip_link_to_the_main_content(alice_client, client):
    for page in (
        alice_client.get("/w/acme/settings/partners/bigquery/").content.decode(),
        client.get("/signin/").content.decode(),
    ):
        body = page[page.index("<body") :]
        first_link = re.search(r"<a [^>]*>[^<]*</a>", body).group(0)
        assert first_link == '<a class="skip-link" href="#main">Skip to main content</a>'
        assert '<main class="content" id="main" tabindex="-1">' in page
