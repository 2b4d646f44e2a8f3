from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from workspaces.models import AuditEntry, Membership, Workspace
from workspaces.signals import time_zone_changed

# An account is named by its email address (its username): a longer address could be typed,
# invited or given to create_workspace, but never make an account.
ACCOUNT_ADDRESS_MAX_LENGTH = cast(int, User._meta.get_field("username").max_length)


@transaction.atomic
def workspace_create(
    *, name: str, admin_email: str, admin_password: str | None, time_zone: str = "UTC"
) -> tuple[Workspace, User, bool]:
    """Create a workspace with its first admin; reuse the user if the email exists.

    Returns (workspace, user, user_created).
    """
    User = get_user_model()
    _check_admin_email(admin_email)
    base = slugify(name)[:40] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    workspace = Workspace(name=name, slug=slug, time_zone=time_zone)
    workspace.full_clean()
    workspace.save()
    existing = User.objects.filter(username__iexact=admin_email).first()
    created = existing is None
    user = existing or User.objects.create_user(
        username=admin_email, email=admin_email, password=admin_password
    )
    Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.ADMIN)
    return workspace, user, created


def _check_admin_email(address: str) -> None:
    """The admin signs in by the address, which names the account: refuse what could not."""
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            f"{address!r} is not an email address: give the admin's, such as ada@example.com."
        ) from None
    if len(address) > ACCOUNT_ADDRESS_MAX_LENGTH:
        raise ValidationError(
            f"The admin's email address may have at most {ACCOUNT_ADDRESS_MAX_LENGTH} "
            f"characters, as the account is named by it; this one has {len(address)}."
        )


def audit_record(
    *,
    workspace: Workspace,
    actor: User | None,
    action: str,
    target: Any,
    details: dict | None = None,
) -> AuditEntry:
    """Write one audit entry. `details` must hold display values only, never secrets.

    `target` is a saved object, or (type, label) for something that has no row yet (the
    Add Database form's values)."""
    if isinstance(target, tuple):
        target_type, target_id, target_label = target[0], "", target[1]
    else:
        target_type, target_id, target_label = target._meta.model_name, str(target.pk), str(target)
    person = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        workspace=workspace,
        actor=person,
        actor_name=person.get_username() if person is not None else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:255],
        details=details or {},
    )


@transaction.atomic
def workspace_update(*, workspace: Workspace, actor: User, name: str, time_zone: str) -> Workspace:
    """Change the workspace's name and time zone; audited. A new zone moves the next runs
    of recurring schedules (see imports.workspace_zone), in the same transaction."""
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    changes = {
        field: {"from": getattr(workspace, field), "to": value}
        for field, value in (("name", name), ("time_zone", time_zone))
        if getattr(workspace, field) != value
    }
    if not changes:
        return workspace
    old_time_zone = workspace.time_zone
    workspace.name, workspace.time_zone = name, time_zone
    workspace.full_clean(exclude=["slug"])
    workspace.save(update_fields=["name", "time_zone"])
    audit_record(
        workspace=workspace,
        actor=actor,
        action="workspace.updated",
        target=workspace,
        details=changes,
    )
    if "time_zone" in changes:
        time_zone_changed.send(sender=Workspace, workspace=workspace, old_time_zone=old_time_zone)
    return workspace
