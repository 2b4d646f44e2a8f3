"""Members in a browser: an admin invites someone, the invitation arrives at a real SMTP
server on loopback, the invitee opens the link, sets a password and is signed in to the
workspace; a forgotten password is reset by email; the Settings page and the sidebar's one
Settings group, at a laptop's and a phone's width."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_layout import overflow
from tests.fixtures.browser import PAGE_TIMEOUT_MS, sign_in_browser
from workspaces.models import Membership

pytestmark = pytest.mark.slow

PASSWORD = "violet-harbor-41-lantern"
PHONE = {"width": 390, "height": 844}


def link_in(message) -> str:
    found = re.search(r"https?://[^/\s]+(/[^\s]+/)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


def test_invite_read_the_email_accept_and_arrive_as_the_new_member(
    page, browser, live_server, alice, bob, workspace_a, smtp_settings, screenshot
):
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    expect(page.locator("a.active")).to_have_text("Members")
    expect(page.locator("#members tbody tr")).to_have_count(2)

    page.get_by_label("Email address").fill("dana@acme.test")
    page.get_by_role("radio", name=re.compile("^Member")).check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".message-success")).to_contain_text("Invitation sent to dana@acme.test")
    expect(page.locator("#invitations")).to_contain_text("dana@acme.test")
    screenshot("members-1280")
    page.set_viewport_size(PHONE)
    assert overflow(page) <= 0
    screenshot("members-390")

    [message] = smtp_settings.messages
    assert message["To"] == "dana@acme.test"
    link = link_in(message)
    assert link.startswith("/invitations/")

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    dana = context.new_page()
    dana.set_default_timeout(PAGE_TIMEOUT_MS)
    dana.goto(link)
    expect(dana.get_by_role("heading", name="Join Acme")).to_be_visible()
    expect(dana.locator("#invitation")).to_contain_text("alice@acme.test invited dana@acme.test")
    screenshot_of(dana, screenshot, "accept-1280")
    dana.set_viewport_size(PHONE)
    assert overflow(dana) <= 0
    screenshot_of(dana, screenshot, "accept-390")
    dana.set_viewport_size({"width": 1280, "height": 860})

    dana.get_by_label("Password", exact=True).fill("dana")
    dana.get_by_label("Confirm password").fill("dana")
    dana.get_by_role("button", name="Set password and join").click()
    expect(dana.locator("#invitation")).to_contain_text("This password is too short.")
    dana.get_by_label("Password", exact=True).fill(PASSWORD)
    dana.get_by_label("Confirm password").fill(PASSWORD)
    dana.get_by_role("button", name="Set password and join").click()

    expect(dana).to_have_url(f"{live_server.url}/w/acme/settings/partners/bigquery/")
    expect(dana.locator(".message-success")).to_contain_text("Welcome to Acme.")
    expect(dana.locator(".topbar")).to_contain_text("dana@acme.test")
    expect(dana.locator(".role-badge")).to_have_text("Member")
    nav = dana.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Members")).to_have_count(0)  # admins only
    assert Membership.objects.get(user__username="dana@acme.test").role == "member"

    # The link worked once.
    dana.goto(link)
    expect(dana.get_by_role("heading", name="Invitation already used")).to_be_visible()
    context.close()

    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto("/w/acme/settings/members/")
    expect(page.locator("#members tbody tr", has_text="dana@acme.test")).to_contain_text("Member")
    expect(page.locator("#invitations")).to_have_count(0)
    assert page.console_errors == []


def screenshot_of(other_page, screenshot, name):
    """The `screenshot` fixture draws the test's own page; this draws another one the same way."""
    import os

    if os.environ.get("SCREENSHOT_DIR"):
        other_page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], f"{name}.png"), full_page=True
        )


def test_a_forgotten_password_is_reset_by_email(
    page, live_server, alice, smtp_settings, screenshot
):
    page.goto("/signin/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill("alice@acme.test")
    screenshot("password-reset")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    [message] = smtp_settings.messages
    page.goto(link_in(message))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation").fill(PASSWORD)
    screenshot("password-reset-confirm")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()

    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Email or username").fill("alice@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/w/acme/settings/partners/bigquery/")
    assert page.console_errors == []


def test_the_settings_page_and_the_one_settings_group(page, live_server, alice, screenshot):
    sign_in_browser(page, live_server, alice)
    page.goto("/w/acme/settings/partners/bigquery/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.locator(".nav-heading")).to_have_text(["Settings", "Audience"])
    nav.get_by_role("link", name="All settings").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    settings = page.locator("#settings")
    for heading in ("Workspace", "Members", "BigQuery", "Notifications", "API tokens", "Audit log"):
        expect(settings.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(settings).to_contain_text("UTC")
    screenshot("settings-1280")
    page.set_viewport_size(PHONE)
    assert overflow(page) <= 0
    for link in (
        "All settings",
        "BigQuery",
        "Imports",
        "Workspace",
        "Members",
        "Notifications",
        "API tokens",
        "Audit log",
        "Profiles",
    ):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    screenshot("settings-390")
    settings.get_by_role("link", name="Manage members").click()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    page.goto("/w/acme/settings/")
    page.locator("#settings").get_by_role("link", name="Change password").click()
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    screenshot("password-change-390")
