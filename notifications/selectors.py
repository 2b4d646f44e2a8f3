from django.db.models import QuerySet

from notifications.models import Delivery, Recipient, Webhook
from workspaces.models import Workspace


def recipients_for_workspace(*, workspace: Workspace) -> list[Recipient]:
    return list(Recipient.objects.filter(workspace=workspace).order_by("email"))


def webhooks_for_workspace(*, workspace: Workspace) -> list[Webhook]:
    return list(
        Webhook.objects.filter(workspace=workspace)
        .defer("encrypted_url", "encrypted_secret")
        .order_by("created_at", "pk")
    )


def deliveries_for_workspace(*, workspace: Workspace) -> QuerySet[Delivery]:
    """Newest first; the list is paged by keys (common.pagination.page_by_keys)."""
    return (
        Delivery.objects.filter(workspace=workspace)
        .select_related("alert")
        .defer("alert__payload")
        .order_by("-created_at", "-pk")
    )
