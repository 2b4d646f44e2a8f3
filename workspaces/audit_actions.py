"""What the audit log calls each action. Apps record actions as `<thing>.<verb>`; one that is
not listed here is shown in words made from its name, so a new action is never hidden."""

from __future__ import annotations

LABELS = {
    "connection.created": "Connection added",
    "connection.updated": "Connection changed",
    "connection.key_rotated": "Connection key replaced",
    "connection.deleted": "Connection deleted",
    "import.created": "Import created",
    "import.updated": "Import changed",
    "import.run_now": "Import run started (Run now)",
    "import.paused": "Import paused",
    "import.resumed": "Import resumed",
    "import.stopped": "Import stopped",
    "import.reimport": "Import re-import (watermark moved back)",
    "import.deleted": "Import deleted",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "member.invited": "Member invited",
    "member.invitation_revoked": "Invitation withdrawn",
    "member.joined": "Member joined",
    "member.role_changed": "Member role changed",
    "member.removed": "Member removed",
    "workspace.updated": "Workspace settings changed",
}


def action_label(action: str) -> str:
    if action in LABELS:
        return LABELS[action]
    thing, _, verb = action.partition(".")
    words = f"{thing.replace('_', ' ')} {verb.replace('_', ' ')}".strip()
    return words[:1].upper() + words[1:]


def action_group(action: str) -> str:
    """The menu group of an action: "Connection", "Import", "Api token"…"""
    thing = action.partition(".")[0].replace("_", " ")
    return "API token" if thing == "api token" else thing.capitalize()
