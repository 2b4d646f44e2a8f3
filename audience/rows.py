"""The rows an import hands to audience's writers, and the one JSON form they store.

Audience owns these types so that its writers depend on nothing above them: the imports'
mapping builds them, the writers store them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson


@dataclass
class ProfileRow:
    identity: str
    properties: dict[str, Any]
    seen_at: datetime
    # The properties as canonical JSON, when the mapping already encoded them (in the
    # reader's thread, so the writer's COPY does not).
    properties_json: str = field(default="", compare=False)


@dataclass
class EventRow:
    identity: str
    name: str
    timestamp: datetime
    properties: dict[str, Any]
    dedupe_key: uuid.UUID
    # The properties as canonical JSON, when the mapping already encoded them for the key.
    properties_json: str = ""


def stored_json(row: ProfileRow | EventRow) -> str:
    """The row's properties as the canonical JSON its table stores: the mapping's text when
    it encoded them already, else encoded here."""
    return row.properties_json or canonical_json(row.properties)


_stdlib_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: what an event's dedupe key hashes and jsonb stores."""
    return canonical_json_bytes(value).decode()


def canonical_json_bytes(value: Any) -> bytes:
    """canonical_json's text in UTF-8, the form a dedupe key hashes.

    orjson is an order of magnitude faster than the standard library, which matters
    for a function that runs once per imported event; the rare value it refuses (an
    integer beyond 64 bits) goes through the standard library instead.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _stdlib_canonical(value).encode()
