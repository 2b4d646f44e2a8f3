"""Token scopes: read < run < admin, never above what the token's owner may do.

- read: every GET (connections, imports, runs, rejected rows; the audit log for admins);
- run: also trigger a run and Test Connection (what a pipeline step after a dbt job needs);
- admin: also pause, resume and stop imports (changes to the schedule).

A member of the workspace may only view, so a member's token reads, whatever its scope.
"""

from __future__ import annotations

from api.models import ApiToken
from workspaces.models import Membership

Scope = ApiToken.Scope
ORDER = [Scope.READ, Scope.RUN, Scope.ADMIN]


def scope_allows(have: str, need: str) -> bool:
    return ORDER.index(Scope(have)) >= ORDER.index(Scope(need))


def scope_effective(*, scope: str, role: str) -> str:
    """The scope a token acts with today: its own, capped by its owner's role."""
    return scope if role == Membership.Role.ADMIN else Scope.READ


def scopes_for_role(role: str) -> list[str]:
    """The scopes a user of `role` may give a new token."""
    return list(ORDER) if role == Membership.Role.ADMIN else [Scope.READ]
