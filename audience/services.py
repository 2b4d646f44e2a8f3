"""Writes of the audience app other than the bulk row writers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.utils import timezone

from audience.models import PropertyType


def property_types_record(
    *,
    workspace_id: uuid.UUID | str,
    types: Mapping[str, str],
    import_id: uuid.UUID | str | None,
    import_name: str,
) -> dict[str, str]:
    """Keep `types` (property name -> type) for the properties the workspace has no type
    for yet, and return the workspace's type of each of those names.

    First seen wins, also between imports running at the same time: the insert skips a
    name another import recorded first (ON CONFLICT DO NOTHING on the unique name), and
    the answer is read back after it, so both imports see the winner's type.
    """
    if not types:
        return {}
    now = timezone.now()
    PropertyType.objects.bulk_create(
        [
            PropertyType(
                workspace_id=workspace_id,
                name=name,
                type=type_,
                defined_by_import_id=import_id,
                defined_by_import_name=import_name[:100],
                first_seen_at=now,
            )
            for name, type_ in types.items()
        ],
        ignore_conflicts=True,
    )
    return dict(
        PropertyType.objects.filter(workspace_id=workspace_id, name__in=list(types)).values_list(
            "name", "type"
        )
    )
