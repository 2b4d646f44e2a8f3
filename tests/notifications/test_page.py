"""The Notifications page: who may see and change what, what bad input gets, what is
audited (and what never is: signing secrets, webhook URL paths), Send test's limit, the
deliveries list."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket

import pytest
import time_machine
from django.db.models import Q

from notifications import services
from notifications.models import Alert, Delivery, NotificationSettings, Recipient, Webhook
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db

PAGE = "/w/acme/settings/notifications/"
SLACK_URL = "https://hooks.slack.com/services/T0ACME/B0OPS/s3cr3tPathTokenXYZ"


@pytest.fixture(autouse=True)
def fresh_limits():
    """Send test's per-minute allowance starts unused (user ids repeat on SQLite)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def public_dns(monkeypatch):
    """hooks.slack.com and hooks.example.com resolve to public addresses (the suite has no
    DNS); everything else goes to the suite's loopback-only resolver."""
    real = socket.getaddrinfo
    names = {"hooks.slack.com": "34.0.0.10", "hooks.example.com": "93.184.215.14"}

    def resolve(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_a_member_sees_the_settings_but_no_forms(bob_client, workspace_a, alice):
    services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")

    page = bob_client.get(PAGE).content.decode()

    assert "ops@acme.test" in page
    assert "Only admins can change these settings." in page
    assert (
        "Add recipient" not in page
        and "Send test" not in page
        and "<form" not in page.split("<main", 1)[1]
    )
    assert bob_client.post(f"{PAGE}recipients/", {"email": "x@acme.test"}).status_code == 403
    assert not Recipient.objects.filter(email="x@acme.test").exists()


def test_another_workspaces_admin_gets_404(charlie_client, workspace_a, alice):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    assert charlie_client.get(PAGE).status_code == 404
    response = charlie_client.post(
        f"/w/globex/settings/notifications/recipients/{recipient.pk}/remove/"
    )
    assert response.status_code == 404
    assert Recipient.objects.filter(pk=recipient.pk).exists()


def test_an_admin_adds_and_removes_a_recipient(alice_client):
    response = alice_client.post(f"{PAGE}recipients/", {"email": "Ops@Acme.test"}, follow=True)
    assert "Ops@Acme.test will receive alerts." in response.content.decode()
    recipient = Recipient.objects.get()

    again = alice_client.post(f"{PAGE}recipients/", {"email": "ops@acme.test"})
    assert again.status_code == 200
    assert "ops@acme.test already receives alerts." in again.content.decode()
    bad = alice_client.post(f"{PAGE}recipients/", {"email": "not an address"})
    assert bad.status_code == 200 and "Enter a valid email address." in bad.content.decode()
    assert Recipient.objects.count() == 1

    removed = alice_client.post(f"{PAGE}recipients/{recipient.pk}/remove/", follow=True)
    assert "Ops@Acme.test no longer receives alerts." in removed.content.decode()
    assert not Recipient.objects.exists()
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["notifications.recipient_added", "notifications.recipient_removed"]


def test_a_recipient_is_saved_without_spaces_once_per_workspace_whatever_its_case(
    workspace_a, alice, workspace_b, charlie
):
    services.recipient_add(workspace=workspace_b, actor=charlie, email="ops@acme.test")

    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email=" ops@acme.test\n")

    assert recipient.email == "ops@acme.test"  # another workspace's address does not count
    with pytest.raises(services.NotificationChangeRefused, match="OPS@acme.test already receives"):
        services.recipient_add(workspace=workspace_a, actor=alice, email="OPS@acme.test")
    assert Recipient.objects.filter(workspace=workspace_a).count() == 1


def test_a_recipient_address_of_254_characters_is_kept_and_a_longer_one_refused(alice_client):
    longest = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 56 + ".test"
    assert len(longest) == 254
    longer = longest.replace("@", "@b", 1)

    refused = alice_client.post(f"{PAGE}recipients/", {"email": longer})
    kept = alice_client.post(f"{PAGE}recipients/", {"email": longest}, follow=True)

    assert refused.status_code == 200
    assert "Ensure this value has at most 254 characters (it has 255)." in refused.content.decode()
    assert f"{longest} will receive alerts." in kept.content.decode()
    assert list(Recipient.objects.values_list("email", flat=True)) == [longest]


def test_a_webhook_url_of_2000_characters_is_kept_and_a_longer_one_refused(
    alice_client, public_dns
):
    longest = SLACK_URL + "x" * (2000 - len(SLACK_URL))

    refused = alice_client.post(
        f"{PAGE}webhooks/", {"name": "", "url": longest + "x", "payload_format": "slack"}
    )
    kept = alice_client.post(
        f"{PAGE}webhooks/", {"name": "", "url": longest, "payload_format": "slack"}
    )

    assert refused.status_code == 200
    assert (
        "Ensure this value has at most 2000 characters (it has 2001)." in refused.content.decode()
    )
    assert "Copy it now: it is not shown again." in kept.content.decode()
    assert Webhook.objects.count() == 1


def test_a_new_webhooks_secret_is_shown_once_and_stored_encrypted(alice_client, public_dns):
    response = alice_client.post(
        f"{PAGE}webhooks/", {"name": "Slack #data", "url": SLACK_URL, "payload_format": "slack"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    webhook = Webhook.objects.get()
    secret = services_secret(webhook)
    assert secret.startswith("whsec_") and secret in page
    assert "Copy it now: it is not shown again." in page
    assert "https://hooks.slack.com/…" in page and SLACK_URL not in page
    stored = json.dumps(list(Webhook.objects.values()), default=str)
    assert secret not in stored and "s3cr3tPathToken" not in stored
    later = alice_client.get(PAGE).content.decode()
    assert secret not in later and "Slack #data" in later

    rotated = alice_client.post(f"{PAGE}webhooks/{webhook.pk}/rotate/").content.decode()
    new_secret = services_secret(webhook)
    assert new_secret != secret and new_secret in rotated and secret not in rotated


def services_secret(webhook) -> str:
    from notifications.delivery import webhook_secret

    webhook.refresh_from_db()
    return webhook_secret(webhook)


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "http://127.0.0.1:8080/hook",
            "Webhooks may not reach 127.0.0.1: the address is loopback.",
        ),
        (
            "http://localhost/hook",
            "Webhooks may not reach localhost (127.0.0.1): the address is loopback.",
        ),
        ("http://10.0.0.7/hook", "Webhooks may not reach 10.0.0.7: the address is private."),
        ("http://169.254.169.254/latest/meta-data/", "the address is link-local."),
        ("http://[::1]/hook", "Webhooks may not reach ::1: the address is loopback."),
        ("http://0.0.0.0/hook", "the address is unspecified."),  # noqa: S104 - refused
        ("http://[::ffff:127.0.0.1]/", "the address is loopback."),
        ("ftp://hooks.example.com/x", "The URL must start with https:// or http://."),
        ("https://hooks.example.com/x#frag", "Remove the #fragment: it is never sent."),
        ("https://no-such-host.invalid/x", "The host no-such-host.invalid cannot be resolved."),
        ("https://8.8.8.8:0/x", "The URL's port is not a number from 1 to 65535."),
        ("https://8.8.8.8:70000/x", "The URL's port is not a number from 1 to 65535."),
    ],
)
def test_a_webhook_to_a_private_address_or_a_bad_url_is_refused_and_nothing_is_saved(
    alice_client, public_dns, url, message
):
    response = alice_client.post(
        f"{PAGE}webhooks/", {"name": "", "url": url, "payload_format": "json"}
    )

    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Webhook.objects.exists() and not AuditEntry.objects.exists()


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(alice_client, monkeypatch):
    """Every address a name resolves to is checked: the request may go to any of them."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host != "hooks.mixed.test":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ("93.184.215.14", "127.0.0.1")
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    response = alice_client.post(
        f"{PAGE}webhooks/",
        {"name": "", "url": "https://hooks.mixed.test/x", "payload_format": "json"},
    )

    assert response.status_code == 200
    assert (
        "Webhooks may not reach hooks.mixed.test (127.0.0.1): the address is loopback."
        in response.content.decode()
    )
    assert not Webhook.objects.exists()


def test_a_host_whose_name_cannot_be_encoded_for_dns_cannot_be_resolved(alice_client, monkeypatch):
    """A label of 60 "ä" passes the URL check but is too long once punycoded: the lookup
    fails while encoding the name (UnicodeError), as the standard resolver does."""
    looked_up = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        host.encode("idna")
        return looked_up(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    host = "\u00e4" * 60 + ".example"

    response = alice_client.post(
        f"{PAGE}webhooks/", {"name": "", "url": f"https://{host}/hook", "payload_format": "json"}
    )

    assert response.status_code == 200
    assert f"The host {host} cannot be resolved." in response.content.decode()
    assert not Webhook.objects.exists() and not AuditEntry.objects.exists()


def test_a_webhook_name_with_a_control_character_is_refused(alice_client, public_dns):
    response = alice_client.post(
        f"{PAGE}webhooks/", {"name": "a\x1bb", "url": SLACK_URL, "payload_format": "slack"}
    )

    assert response.status_code == 200
    assert "Name must not contain control characters." in response.content.decode()
    assert not Webhook.objects.exists() and not AuditEntry.objects.exists()


def test_private_addresses_are_accepted_when_the_setting_allows_them(alice_client, settings):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True
    alice_client.post(
        f"{PAGE}webhooks/", {"name": "", "url": "http://127.0.0.1:8080/h", "payload_format": "json"}
    )
    assert Webhook.objects.get().url_display == "http://127.0.0.1:8080/…"


def test_the_same_webhook_url_twice_is_refused(alice_client, public_dns):
    data = {"name": "", "url": SLACK_URL, "payload_format": "slack"}
    alice_client.post(f"{PAGE}webhooks/", data)
    again = alice_client.post(f"{PAGE}webhooks/", data)
    assert again.status_code == 200
    assert "This webhook URL is already in the list." in again.content.decode()
    assert Webhook.objects.count() == 1


def test_a_webhook_is_saved_with_its_name_trimmed_and_its_url_once_per_workspace(
    workspace_a, alice, workspace_b, charlie, public_dns
):
    services.webhook_add(
        workspace=workspace_b, actor=charlie, name="", url=SLACK_URL, payload_format="slack"
    )

    webhook, _ = services.webhook_add(
        workspace=workspace_a, actor=alice, name="  Ops\n", url=SLACK_URL, payload_format="slack"
    )

    assert webhook.name == "Ops"
    with pytest.raises(services.NotificationChangeRefused, match="already in the list"):
        services.webhook_add(
            workspace=workspace_a, actor=alice, name="Other", url=SLACK_URL, payload_format="json"
        )


def test_events_are_toggled_and_audited(alice_client, workspace_a):
    saved = alice_client.post(
        f"{PAGE}events/", {"events": ["run.failed", "connection.key_old"]}, follow=True
    )
    assert "Alert events saved." in saved.content.decode()

    assert NotificationSettings.objects.get(workspace=workspace_a).events == [
        "run.failed",
        "connection.key_old",
    ]
    entry = AuditEntry.objects.get(action="notifications.events_changed")
    assert entry.details == {
        "turned_on": [],
        "turned_off": ["import.recovered", "connection.failing", "connection.recovered"],
    }
    alice_client.post(f"{PAGE}events/", {"events": ["connection.key_old", "run.failed"]})
    assert AuditEntry.objects.filter(action="notifications.events_changed").count() == 1
    bad = alice_client.post(f"{PAGE}events/", {"events": ["everything"]})
    assert bad.status_code == 200
    assert NotificationSettings.objects.get(workspace=workspace_a).events == [
        "run.failed",
        "connection.key_old",
    ]


def test_send_test_queues_one_delivery_and_is_limited_per_minute(alice_client, workspace_a, alice):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    url = f"{PAGE}recipients/{recipient.pk}/test/"

    for _ in range(services.TEST_RATE_LIMIT):
        response = alice_client.post(url, follow=True)
        assert "Test sent to ops@acme.test." in response.content.decode()
    limited = alice_client.post(url, follow=True).content.decode()

    assert "You sent more than 5 tests in a minute." in limited
    assert Delivery.objects.filter(recipient=recipient).count() == services.TEST_RATE_LIMIT
    assert set(Alert.objects.values_list("kind", flat=True)) == {"test"}
    assert AuditEntry.objects.filter(action="notifications.test_sent").count() == 5


def test_no_audit_entry_holds_a_signing_secret_or_a_webhook_urls_path(alice_client, public_dns):
    alice_client.post(
        f"{PAGE}webhooks/", {"name": "Ops", "url": SLACK_URL, "payload_format": "json"}
    )
    webhook = Webhook.objects.get()
    secrets_seen = [services_secret(webhook)]
    alice_client.post(f"{PAGE}webhooks/{webhook.pk}/rotate/")
    secrets_seen.append(services_secret(webhook))
    alice_client.post(f"{PAGE}webhooks/{webhook.pk}/test/")
    assert list(Delivery.objects.values_list("channel", "destination")) == [
        ("webhook", "Ops (https://hooks.slack.com/…)")
    ]
    removed = alice_client.post(f"{PAGE}webhooks/{webhook.pk}/remove/", follow=True)
    assert "Webhook Ops (https://hooks.slack.com/…) removed." in removed.content.decode()

    entries = list(AuditEntry.objects.values("action", "target_label", "details"))
    assert [e["action"] for e in entries] == [
        "notifications.webhook_removed",
        "notifications.test_sent",
        "notifications.webhook_secret_rotated",
        "notifications.webhook_added",
    ]
    assert entries[1]["details"] == {"to": "https://hooks.slack.com/…"}
    assert entries[3]["details"] == {
        "name": "Ops",
        "url": "https://hooks.slack.com/…",
        "payload": "json",
    }
    text = json.dumps(entries, ensure_ascii=False)
    for secret in secrets_seen:
        assert secret not in text
    assert "s3cr3tPathToken" not in text and "https://hooks.slack.com/…" in text
    assert not Delivery.objects.filter(
        Q(destination__contains="s3cr3t") | Q(last_error__contains="s3cr3t")
    ).exists()


def test_the_deliveries_list_pages_by_keys_with_a_fixed_number_of_queries(
    alice_client, workspace_a, alice, django_assert_max_num_queries
):
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    for _ in range(30):
        services.destination_send_test(workspace=workspace_a, actor=alice, recipient=recipient)
    Delivery.objects.filter(pk=Delivery.objects.order_by("created_at").first().pk).update(
        status="failed", attempts=6, last_error="The mail server answered SMTP 550."
    )

    with django_assert_max_num_queries(12):
        first = alice_client.get(PAGE).content.decode()
    with django_assert_max_num_queries(13):
        second = alice_client.get(f"{PAGE}?page=2").content.decode()

    assert first.count(">Pending</span>") == 25 and "Page 1 of 2" in first
    assert second.count("delivery-status-") == 5
    assert ">Failed</span>" in second and "The mail server answered SMTP 550." in second


def test_the_page_lists_only_its_own_workspaces_recipients_webhooks_and_deliveries(
    alice_client, workspace_a, alice, workspace_b, charlie, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True
    theirs = services.recipient_add(workspace=workspace_b, actor=charlie, email="ops@globex.test")
    services.webhook_add(
        workspace=workspace_b,
        actor=charlie,
        name="Globex pager",
        url="http://127.0.0.1:9/globex",
        payload_format="json",
    )
    services.destination_send_test(workspace=workspace_b, actor=charlie, recipient=theirs)
    ours = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    services.destination_send_test(workspace=workspace_a, actor=alice, recipient=ours)

    page = alice_client.get(PAGE).content.decode()

    assert "ops@acme.test" in page and page.count("delivery-status-") == 1
    assert "ops@globex.test" not in page and "Globex pager" not in page
    assert "charlie@globex.test" not in page


def test_a_workspace_has_at_most_50_recipients_and_20_webhooks_counting_its_own_only(
    workspace_a, alice, workspace_b, charlie, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True

    def add_webhook(workspace, actor, n):
        return services.webhook_add(
            workspace=workspace,
            actor=actor,
            name="",
            url=f"http://127.0.0.1:9/{workspace.slug}/{n}",
            payload_format="json",
        )

    for n in range(services.MAX_WEBHOOKS):
        add_webhook(workspace_b, charlie, n)
    for n in range(services.MAX_RECIPIENTS):
        services.recipient_add(workspace=workspace_a, actor=alice, email=f"ops{n}@acme.test")

    with pytest.raises(services.NotificationChangeRefused, match="at most 20 webhooks"):
        add_webhook(workspace_b, charlie, "one more")
    with pytest.raises(services.NotificationChangeRefused, match="at most 50 email recipients"):
        services.recipient_add(workspace=workspace_a, actor=alice, email="one-more@acme.test")
    add_webhook(workspace_a, alice, 0)  # another workspace's webhooks do not count
    services.recipient_add(workspace=workspace_b, actor=charlie, email="ops@globex.test")
    assert Webhook.objects.filter(workspace=workspace_b).count() == services.MAX_WEBHOOKS
    assert Recipient.objects.filter(workspace=workspace_a).count() == services.MAX_RECIPIENTS


def test_the_page_shows_when_a_webhooks_secret_was_last_set(alice_client, public_dns):
    with time_machine.travel(dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC), tick=False) as clock:
        alice_client.post(
            f"{PAGE}webhooks/", {"name": "Ops", "url": SLACK_URL, "payload_format": "json"}
        )
        webhook = Webhook.objects.get()
        assert "Mar 2, 2026" in alice_client.get(PAGE).content.decode()
        clock.shift(dt.timedelta(days=40))
        alice_client.post(f"{PAGE}webhooks/{webhook.pk}/rotate/")
        page = alice_client.get(PAGE).content.decode()

    assert "Apr 11, 2026" in page and "Mar 2, 2026" not in page


def test_a_member_can_change_nothing_not_even_a_webhooks_secret(
    bob_client, workspace_a, alice, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True
    recipient = services.recipient_add(workspace=workspace_a, actor=alice, email="ops@acme.test")
    webhook, secret = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="",
        url="http://127.0.0.1:9/x",
        payload_format="json",
    )
    posts = [
        ("events/", {"events": []}),
        ("recipients/", {"email": "x@acme.test"}),
        (f"recipients/{recipient.pk}/remove/", {}),
        (f"recipients/{recipient.pk}/test/", {}),
        ("webhooks/", {"name": "", "url": "http://127.0.0.1:9/y", "payload_format": "json"}),
        (f"webhooks/{webhook.pk}/remove/", {}),
        (f"webhooks/{webhook.pk}/test/", {}),
        (f"webhooks/{webhook.pk}/rotate/", {}),
    ]

    answers = [bob_client.post(f"{PAGE}{path}", data).status_code for path, data in posts]
    # Every change view is the admins' whatever the method: a GET is refused as well.
    looks = [bob_client.get(f"{PAGE}{path}").status_code for path, _ in posts]

    assert answers == looks == [403] * len(posts)
    assert services_secret(webhook) == secret
    assert Recipient.objects.count() == Webhook.objects.count() == 1
    assert not Alert.objects.exists()
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {
        "notifications.recipient_added",
        "notifications.webhook_added",
    }


def test_only_known_events_are_kept_in_their_own_order(workspace_a, alice):
    row = services.notification_events_update(
        workspace=workspace_a, actor=alice, events=["connection.key_old", "test", "run.failed", "x"]
    )

    assert row.events == ["run.failed", "connection.key_old"]


CHECKED = re.compile(r'<input type="checkbox" name="events" value="([\w.]+)"[^>]*\bchecked\b')


def test_the_page_shows_the_saved_events_as_chosen(alice_client, bob_client, workspace_a, alice):
    services.notification_events_update(
        workspace=workspace_a, actor=alice, events=["run.failed", "connection.key_old"]
    )

    admins = alice_client.get(PAGE).content.decode()
    members = bob_client.get(PAGE).content.decode()

    assert CHECKED.findall(admins) == ["run.failed", "connection.key_old"]
    assert re.findall(r'badge-ok">On</span> ([^<]+)</li>', members) == [
        "Run failed",
        "Service-account key older than 90 days",
    ]
    assert members.count('badge-muted">Off</span>') == 3


def test_send_test_to_a_webhook_names_it_and_queues_its_delivery(
    alice_client, workspace_a, alice, settings
):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOKS = True
    webhook, _ = services.webhook_add(
        workspace=workspace_a,
        actor=alice,
        name="Ops pager",
        url="http://127.0.0.1:9/ops",
        payload_format="json",
    )

    response = alice_client.post(f"{PAGE}webhooks/{webhook.pk}/test/", follow=True)

    assert f"Test sent to {webhook}. Its delivery is listed below." in response.content.decode()
    assert Delivery.objects.filter(webhook=webhook).count() == 1
