"""The Notifications page: members read it, admins change it (workspace_view enforces both)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.pagination import page_by_keys
from notifications import selectors, services
from notifications.alerts import enabled_events
from notifications.forms import EventsForm, RecipientForm, WebhookForm
from notifications.models import Recipient, Webhook
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view

PAGE_SIZE = 25

TEST_RATE_LIMITED = (
    f"You sent more than {services.TEST_RATE_LIMIT} tests in a minute. Wait a minute and try again."
)


def _page(request: WorkspaceRequest, **context: Any) -> HttpResponse:
    workspace = request.workspace
    context.setdefault(
        "events_form", EventsForm(initial={"events": enabled_events(workspace=workspace)})
    )
    context.setdefault("recipient_form", RecipientForm())
    context.setdefault("webhook_form", WebhookForm())
    page = page_by_keys(
        selectors.deliveries_for_workspace(workspace=workspace), request.GET.get("page"), PAGE_SIZE
    )
    return render(
        request,
        "notifications/page.html",
        {
            "recipients": selectors.recipients_for_workspace(workspace=workspace),
            "webhooks": selectors.webhooks_for_workspace(workspace=workspace),
            "page": page,
            **context,
        },
    )


def _back(request: WorkspaceRequest) -> HttpResponse:
    return redirect("notifications:page", ws=request.workspace.slug)


@workspace_view
@require_http_methods(["GET", "HEAD"])
def notifications_page(request: WorkspaceRequest) -> HttpResponse:
    return _page(request)


@workspace_view(admin_only=True)
@require_POST
def events_update(request: WorkspaceRequest) -> HttpResponse:
    form = EventsForm(request.POST)
    if not form.is_valid():
        return _page(request, events_form=form)
    services.notification_events_update(
        workspace=request.workspace, actor=request.user, events=form.cleaned_data["events"]
    )
    messages.success(request, "Alert events saved.")
    return _back(request)


@workspace_view(admin_only=True)
@require_POST
def recipient_add(request: WorkspaceRequest) -> HttpResponse:
    form = RecipientForm(request.POST)
    if form.is_valid():
        try:
            recipient = services.recipient_add(
                workspace=request.workspace, actor=request.user, email=form.cleaned_data["email"]
            )
        except services.NotificationChangeRefused as refused:
            form.add_error("email", str(refused))
        else:
            messages.success(request, f"{recipient.email} will receive alerts.")
            return _back(request)
    return _page(request, recipient_form=form)


@workspace_view(admin_only=True)
@require_POST
def recipient_remove(request: WorkspaceRequest, recipient_pk) -> HttpResponse:
    recipient = get_in_workspace(Recipient, request.workspace, pk=recipient_pk)
    services.recipient_remove(recipient=recipient, actor=request.user)
    messages.success(request, f"{recipient.email} no longer receives alerts.")
    return _back(request)


def _send_test(request: WorkspaceRequest, **destination: Any) -> HttpResponse:
    if not services.send_test_allowed(user=request.user):
        messages.error(request, TEST_RATE_LIMITED)
        return _back(request)
    services.destination_send_test(workspace=request.workspace, actor=request.user, **destination)
    target = destination.get("recipient") or destination.get("webhook")
    messages.success(request, f"Test sent to {target}. Its delivery is listed below.")
    return _back(request)


@workspace_view(admin_only=True)
@require_POST
def recipient_test(request: WorkspaceRequest, recipient_pk) -> HttpResponse:
    recipient = get_in_workspace(Recipient, request.workspace, pk=recipient_pk)
    return _send_test(request, recipient=recipient)


@workspace_view(admin_only=True)
@require_POST
def webhook_add(request: WorkspaceRequest) -> HttpResponse:
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            webhook, secret = services.webhook_add(
                workspace=request.workspace,
                actor=request.user,
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                payload_format=form.cleaned_data["payload_format"],
            )
        except services.NotificationChangeRefused as refused:
            form.add_error("url", str(refused))
        else:
            # Shown in this response only, never stored in plain text or put in a message
            # cookie: the admin copies it now or rotates it later.
            return _page(request, new_secret=secret, secret_webhook=webhook)
    return _page(request, webhook_form=form)


@workspace_view(admin_only=True)
@require_POST
def webhook_remove(request: WorkspaceRequest, webhook_pk) -> HttpResponse:
    webhook = get_in_workspace(Webhook, request.workspace, pk=webhook_pk)
    services.webhook_remove(webhook=webhook, actor=request.user)
    messages.success(request, f"Webhook {webhook} removed.")
    return _back(request)


@workspace_view(admin_only=True)
@require_POST
def webhook_test(request: WorkspaceRequest, webhook_pk) -> HttpResponse:
    webhook = get_in_workspace(Webhook, request.workspace, pk=webhook_pk)
    return _send_test(request, webhook=webhook)


@workspace_view(admin_only=True)
@require_POST
def webhook_rotate(request: WorkspaceRequest, webhook_pk) -> HttpResponse:
    webhook = get_in_workspace(Webhook, request.workspace, pk=webhook_pk)
    secret = services.webhook_rotate_secret(webhook=webhook, actor=request.user)
    return _page(request, new_secret=secret, secret_webhook=webhook)
