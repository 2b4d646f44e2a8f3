import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from notifications import services
from notifications.models import Delivery, Webhook
from tests.fixtures.browser import sign_in_browser

pytestmark = pytest.mark.slow

PAGE = "/w/acme/settings/notifications/"


def seed_deliveries(workspace, user):
    recipient = services.recipient_add(workspace=workspace, actor=user, email="ops@acme.test")
    webhook, _ = services.webhook_add(
        workspace=workspace,
        actor=user,
        name="Slack #data-alerts",
        url="https://hooks.slack.com/services/T0/B0/abc",
        payload_format="slack",
    )
    for status, attempts, latency, error, code in [
        ("delivered", 1, 84, "", 200),
        ("failed", 6, 10003, "hooks.slack.com did not answer within 10 s.", None),
        ("pending", 2, 512, "hooks.slack.com answered HTTP 503.", 503),
    ]:
        alert = services.destination_send_test(
            workspace=workspace,
            actor=user,
            **({"webhook": webhook} if code != 200 else {"recipient": recipient}),
        )
        alert.deliveries.update(
            status=status,
            attempts=attempts,
            latency_ms=latency,
            last_error=error,
            response_status=code,
            next_attempt_at=timezone.now() + dt.timedelta(minutes=2),
        )


def test_an_admin_sets_up_alerts_and_reads_the_deliveries(
    page, live_server, alice, bob, workspace_a, screenshot, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True  # the webhook below is on loopback
    seed_deliveries(workspace_a, alice)
    sign_in_browser(page, live_server, alice)

    page.goto("/w/acme/settings/partners/bigquery/")
    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    deliveries = page.locator("#deliveries tbody tr")
    expect(deliveries).to_have_count(3)
    expect(deliveries.nth(0)).to_contain_text("Pending")
    expect(deliveries.nth(0)).to_contain_text("hooks.slack.com answered HTTP 503.")
    expect(deliveries.nth(1)).to_contain_text("Failed")
    expect(deliveries.nth(2)).to_contain_text("Delivered")
    screenshot("notifications")

    page.get_by_label("Email address").fill("data@acme.test")
    page.get_by_role("button", name="Add recipient").click()
    expect(page.get_by_role("status")).to_contain_text("data@acme.test will receive alerts.")

    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Add recipient").click()  # the form again, with why
    expect(page.locator("#recipients")).to_contain_text("Enter a valid email address.")

    page.get_by_label("Name").fill("Ops receiver")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hooks/alerts")
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#secret-value")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    expect(page.locator("#new-secret")).to_contain_text("Copy it now: it is not shown again.")
    screenshot("notifications-new-secret")

    page.get_by_label("Connection passing its daily check again").uncheck()
    page.get_by_role("button", name="Save events").click()
    expect(page.get_by_role("status")).to_contain_text("Alert events saved.")
    expect(page.get_by_label("Connection passing its daily check again")).not_to_be_checked()
    expect(page.locator("#new-secret")).to_have_count(0)  # shown once

    page.get_by_role("button", name="Send test to data@acme.test").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent to data@acme.test.")
    expect(deliveries).to_have_count(4)
    expect(deliveries.nth(0)).to_contain_text("Email: data@acme.test")
    assert Webhook.objects.filter(name="Ops receiver").exists()
    assert Delivery.objects.filter(destination="data@acme.test").count() == 1
    assert page.console_errors == []


def test_a_member_reads_the_notifications_page(
    page, live_server, alice, bob, workspace_a, screenshot
):
    seed_deliveries(workspace_a, alice)
    sign_in_browser(page, live_server, bob)

    page.goto(PAGE)

    expect(page.get_by_text("Only admins can change these settings.")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(1)  # Sign out only
    expect(page.locator("#recipients")).to_contain_text("ops@acme.test")
    expect(page.locator("#webhooks")).to_contain_text("https://hooks.slack.com/…")
    screenshot("notifications-member")
