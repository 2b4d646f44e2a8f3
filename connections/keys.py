"""A saved connection's key, decrypted for the BigQuery seam (beside connections.crypto, so
the runner and the table browser need nothing of connections.services)."""

import json
from typing import Any

from connections import crypto
from connections.bigquery import BigQuerySession
from connections.models import Connection


def connection_key_info(connection: Connection) -> dict[str, Any]:
    """The decrypted key JSON, for the BigQuery seam only. Never render or log it."""
    return json.loads(crypto.decrypt_key(connection.encrypted_key))


def connection_session(connection: Connection) -> BigQuerySession:
    """A BigQuery session as the connection's service account: data in its project, jobs
    and read sessions in its billing project (the same project when it has none)."""
    return BigQuerySession(
        connection_key_info(connection),
        connection.project_id,
        billing_project_id=connection.billing_project_id,
    )
