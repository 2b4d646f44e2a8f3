"""Test Connection results on the Add Database / Edit form, kept for Save.

The key is never rendered back into the form, so the browser cannot be trusted to say which
key it tested, and the key itself must not be parked anywhere in clear. The server instead
remembers each result in the user's (server-side) session under an HMAC of exactly what was
tested: the workspace, the connection being edited (or none), the Project ID, the Dataset ID
and the key in its stored form. Save computes the same HMAC from what it is about to store;
only an exact match carries the result over, so a result can never be claimed for other
values, another key or another connection, and nothing in the session reveals the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.crypto import salted_hmac

from connections import crypto
from connections.keyfile import ServiceAccountKey
from connections.models import Connection
from workspaces.models import Workspace

SESSION_KEY = "connection_tests"
KEPT_FOR = dt.timedelta(hours=1)
MAX_KEPT = 5
_SALT = "connections.tested_values"


@dataclass(frozen=True)
class KeptTest:
    result: dict[str, Any]
    tested_at: dt.datetime


def values_digest(
    *,
    workspace: Workspace,
    connection: Connection | None,
    project_id: str,
    dataset_id: str,
    key: ServiceAccountKey | None,
    billing_project_id: str = "",
    scratch_dataset_id: str = "",
) -> str:
    """The HMAC of what Test Connection tests; `key` None means the connection's stored key."""
    if key is not None:
        key_bytes = key.to_json_bytes()
    elif connection is not None:
        try:
            key_bytes = crypto.decrypt_key(connection.encrypted_key)
        except crypto.KeyDecryptionError:  # no test can pass on it: match nothing typed
            key_bytes = b"undecryptable:" + connection.encrypted_key.encode()
    else:
        raise ValueError("a new connection needs a key")
    parts = [
        str(workspace.pk),
        str(connection.pk) if connection is not None else "new",
        project_id,
        dataset_id,
        billing_project_id,
        scratch_dataset_id,
        key_bytes.hex(),
    ]
    # The separator cannot occur in any part: IDs are validated, the key part is hex.
    return salted_hmac(_SALT, "\n".join(parts), algorithm="sha256").hexdigest()


def remember(session: SessionBase, *, digest: str, result: dict[str, Any]) -> None:
    """Keep `result` for a Save of the same values, replacing older or expired entries."""
    now = timezone.now()
    entries = {key: entry for key, entry in _entries(session).items() if _fresh(entry, now)}
    entries[digest] = {"result": result, "tested_at": now.isoformat()}
    newest = sorted(entries, key=lambda key: entries[key]["tested_at"])[-MAX_KEPT:]
    session[SESSION_KEY] = {key: entries[key] for key in newest}


def recall(session: SessionBase, *, digest: str) -> KeptTest | None:
    """The result kept for exactly these values while it is fresh; None otherwise.

    It stays in the session: a Save that fails (a name taken meanwhile) can be repeated.
    """
    entry = _entries(session).get(digest)
    if entry is None or not _fresh(entry, timezone.now()):
        return None
    return KeptTest(result=entry["result"], tested_at=dt.datetime.fromisoformat(entry["tested_at"]))


def _entries(session: SessionBase) -> dict[str, Any]:
    entries = session.get(SESSION_KEY)
    return dict(entries) if isinstance(entries, dict) else {}


def _fresh(entry: Any, now: dt.datetime) -> bool:
    try:
        return now - dt.datetime.fromisoformat(entry["tested_at"]) <= KEPT_FOR
    except (KeyError, TypeError, ValueError):
        return False
