"""Offline checks of an uploaded service-account JSON key.

google-auth checks almost nothing: it ignores `type`, POSTs a signed assertion
to whatever `token_uri` the file names, accepts EC keys that only fail when
signing, and puts response bodies into exception text. So the file is checked
here, before any network call, and every failure gets a fixed message that
never repeats any part of the upload.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.core.exceptions import ValidationError

MAX_KEY_BYTES = 64 * 1024
GOOGLE_TOKEN_URIS = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
)
GOOGLE_UNIVERSE_DOMAIN = "googleapis.com"

# In the order a downloaded key lists them, so messages name them stably.
REQUIRED_FIELDS = ("project_id", "private_key_id", "private_key", "client_email", "token_uri")
_OPTIONAL_FIELDS = (
    "client_id",
    "auth_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
)
_KNOWN_FIELDS = frozenset((*REQUIRED_FIELDS, *_OPTIONAL_FIELDS, "type"))
_MAX_OPTIONAL_FIELD_CHARS = 2048
# An RSA-8192 PKCS#8 PEM is about 6.4 KB; loading validates the key, and that
# cost grows quickly with size, so far larger "keys" are refused unread.
_MAX_PRIVATE_KEY_CHARS = 16_000

_PEM_LINE_BREAKS = "\r\n"

_KEY_PATH = "IAM & Admin > Service Accounts > Keys > Add key > JSON."
_CREATE_KEY = f"Create a service account key: {_KEY_PATH}"

# Default service accounts (…@developer.gserviceaccount.com,
# …@appspot.gserviceaccount.com) and domain-scoped projects
# (…@example.com:proj.iam.gserviceaccount.com) all end the same way.
_CLIENT_EMAIL_RE = re.compile(
    r"[a-z0-9][a-z0-9._+-]{0,99}@[a-z0-9][a-z0-9.:-]{0,200}\.gserviceaccount\.com"
)
_PRIVATE_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_KEY_PROJECT_ID_RE = re.compile(r"[a-z0-9][a-z0-9.:-]{0,127}")

_OTHER_CREDENTIAL_TYPES = {
    "authorized_user": (
        "This is a user credential (gcloud auth application-default login), "
        f"not a service account key. {_CREATE_KEY}",
        "authorized_user",
    ),
    "external_account": (
        f"This is a Workload Identity Federation configuration; it holds no key. {_CREATE_KEY}",
        "external_account",
    ),
    "external_account_authorized_user": (
        f"This is a Workforce Identity Federation user credential; it holds no key. {_CREATE_KEY}",
        "external_account",
    ),
    "impersonated_service_account": (
        "This is an impersonation configuration (gcloud auth application-default login "
        f"--impersonate-service-account), not a key. {_CREATE_KEY}",
        "impersonated_service_account",
    ),
    "gdch_service_account": (
        f"This is a Google Distributed Cloud key, which BigQuery does not accept. {_CREATE_KEY}",
        "gdch_service_account",
    ),
}


class KeyFileError(ValidationError):
    """A key file was refused; `.message` is safe to show, `.code` is stable."""

    def __init__(self, message: str, code: str, params: dict[str, Any] | None = None) -> None:
        # `params` only keeps the exception picklable (Exception rebuilds from args).
        super().__init__(message, code=code, params=params)


@dataclass(frozen=True)
class ServiceAccountKey:
    """A checked key. `info` holds the private key, so it stays out of repr."""

    info: dict[str, str] = field(repr=False, hash=False)
    client_email: str
    private_key_id: str
    project_id: str
    token_uri: str

    def to_json_bytes(self) -> bytes:
        """Serialise for encrypted storage; only the fields google-auth reads are kept."""
        return json.dumps(self.info, sort_keys=True, separators=(",", ":")).encode("ascii")


class _DuplicateField(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _NonFiniteNumber(Exception):
    pass


def parse_service_account_key(
    raw: bytes | str, *, allowed_token_uris: Iterable[str]
) -> ServiceAccountKey:
    """Check an uploaded or pasted key file and return its typed form, or raise KeyFileError.

    `allowed_token_uris` comes from settings so tests and the demo can add a
    local stand-in; Google's endpoints are `GOOGLE_TOKEN_URIS`.
    """
    text = _decode(_as_bytes(raw))
    info = _load_json_object(text)
    _check_credential_type(info)

    universe = info.get("universe_domain", GOOGLE_UNIVERSE_DOMAIN)
    if universe != GOOGLE_UNIVERSE_DOMAIN:
        raise KeyFileError("Sovereign cloud keys are not supported.", "universe_domain")

    missing = [name for name in REQUIRED_FIELDS if _is_blank(info.get(name))]
    if missing:
        noun = "field" if len(missing) == 1 else "fields"
        raise KeyFileError(
            f"The key file is missing the {noun} {', '.join(missing)}.", "missing_fields"
        )
    not_text = [name for name in REQUIRED_FIELDS if not isinstance(info[name], str)]
    if not_text:
        raise KeyFileError(f"These key fields must be text: {', '.join(not_text)}.", "field_type")
    _check_control_characters(info)

    client_email = info["client_email"]
    if not _CLIENT_EMAIL_RE.fullmatch(client_email):
        raise KeyFileError(
            "The key's client_email must be a service account address ending in "
            ".gserviceaccount.com.",
            "client_email",
        )
    if not _PRIVATE_KEY_ID_RE.fullmatch(info["private_key_id"]):
        raise KeyFileError(
            "The key's private_key_id is not a key ID. Upload the key file as Google gave it.",
            "private_key_id",
        )
    if not _KEY_PROJECT_ID_RE.fullmatch(info["project_id"]):
        raise KeyFileError(
            "The key's project_id is not a project ID. Upload the key file as Google gave it.",
            "key_project_id",
        )
    # google-auth POSTs to this address and echoes the reply in its errors.
    if info["token_uri"] not in tuple(allowed_token_uris):
        raise KeyFileError(
            "The key's token_uri must be Google's token endpoint "
            "(https://oauth2.googleapis.com/token).",
            "token_uri",
        )
    _check_private_key(info["private_key"])

    kept = {name: info[name] for name in (*REQUIRED_FIELDS, "type")}
    for name in _OPTIONAL_FIELDS:
        value = info.get(name)
        if isinstance(value, str) and value.isascii() and len(value) <= _MAX_OPTIONAL_FIELD_CHARS:
            kept[name] = value
    return ServiceAccountKey(
        info=kept,
        client_email=client_email,
        private_key_id=info["private_key_id"],
        project_id=info["project_id"],
        token_uri=info["token_uri"],
    )


def _as_bytes(raw: bytes | str) -> bytes:
    # Pasted text goes through the same byte path as an upload, so a BOM or an
    # encoding problem gets the same answer either way.
    if isinstance(raw, str):
        if len(raw) > MAX_KEY_BYTES:
            raise key_too_large()
        try:
            return raw.encode("utf-8")
        except UnicodeEncodeError:
            raise KeyFileError("The key file is not valid UTF-8 text.", "not_utf8") from None
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    raise TypeError("raw must be bytes or str")


def key_too_large() -> KeyFileError:
    return KeyFileError(
        "The key file is larger than 64 KiB; a service account key is about 2.3 KB.",
        "too_large",
    )


def _decode(data: bytes) -> str:
    if len(data) > MAX_KEY_BYTES:
        raise key_too_large()
    # json.loads(bytes) would quietly accept UTF-16 while pasted text could not be.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:2]:
        raise KeyFileError(
            "The key file is saved as UTF-16. Save it as UTF-8, as Google provides it.",
            "utf16",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if data[:1] == b"\x30":
            # DER starts with a SEQUENCE tag; a P12 key has no JSON loader anywhere.
            raise KeyFileError(
                f"This looks like a P12 key. Create a JSON key instead: {_KEY_PATH}",
                "p12",
            ) from None
        raise KeyFileError(
            "The key file is not UTF-8 text. Upload the JSON key file Google gave you.",
            "not_utf8",
        ) from None
    stripped = text.strip()
    if not stripped:
        raise KeyFileError("The key file is empty.", "empty")
    if not stripped.startswith("{"):
        _refuse_known_non_json(stripped)
    return text


def _refuse_known_non_json(text: str) -> None:
    if text.startswith("AIza"):
        raise KeyFileError(
            f"This is an API key, not a service account key. {_CREATE_KEY}", "api_key"
        )
    if text.startswith("ya29."):
        raise KeyFileError(
            f"This is an access token, not a service account key. {_CREATE_KEY}",
            "access_token",
        )
    if text.startswith("-----BEGIN"):
        raise KeyFileError(
            "This is a bare PEM key. Upload the whole JSON key file Google gave you.",
            "pem_only",
        )
    if text.startswith(("ey", "ew")) and "." not in text:
        # base64 of '{"' or '{\n' (and no dots, unlike a JWT): keys are often
        # kept base64-encoded in CI or Kubernetes secrets.
        raise KeyFileError(
            "This is a base64-encoded key file. Decode it and upload the JSON it contains.",
            "base64_json",
        )
    if text.startswith("MII"):
        raise KeyFileError(
            f"This looks like a P12 key. Create a JSON key instead: {_KEY_PATH}",
            "p12",
        )


def _load_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except _DuplicateField as exc:
        # Name the field only when it is one of ours: other names came from the upload.
        which = f"the field {exc.name}" if exc.name in _KNOWN_FIELDS else "a field"
        raise KeyFileError(
            f"The key file has {which} twice. Upload the key file as Google gave it.",
            "duplicate_field",
        ) from None
    except _NonFiniteNumber:
        raise KeyFileError(
            "The key file contains NaN or Infinity, which JSON does not allow.", "json_constant"
        ) from None
    except json.JSONDecodeError as exc:
        # exc.msg is the decoder's fixed wording; exc.doc (the upload) is never shown.
        raise KeyFileError(
            f"The key file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            "invalid_json",
        ) from None
    except RecursionError:
        raise KeyFileError(
            "The key file is nested too deeply to be a service account key.", "too_deep"
        ) from None
    except ValueError:
        # Integers over Python's 4,300-digit limit.
        raise KeyFileError(
            "The key file contains a number too large to read.", "invalid_json"
        ) from None
    if isinstance(value, str):
        _refuse_known_non_json(value.strip())
    if not isinstance(value, dict):
        raise KeyFileError(
            "The key file must be a JSON object ({ … }), as Google's key files are.", "not_object"
        )
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The stdlib keeps the last duplicate silently; google-auth would then see
    # a different key from the one a reviewer reads first.
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateField(name)
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _NonFiniteNumber(name)


def _check_credential_type(info: dict[str, Any]) -> None:
    if "type" not in info:
        if "installed" in info or "web" in info:
            raise KeyFileError(
                f"This is an OAuth client ID file, not a service account key. {_CREATE_KEY}",
                "oauth_client",
            )
        raise KeyFileError(
            'The key file has no "type" field; a service account key has '
            '"type": "service_account".',
            "missing_type",
        )
    kind = info["type"]
    if kind == "service_account":
        return
    if isinstance(kind, str) and kind in _OTHER_CREDENTIAL_TYPES:
        message, code = _OTHER_CREDENTIAL_TYPES[kind]
        raise KeyFileError(message, code)
    raise KeyFileError(
        f'The key file\'s "type" must be "service_account". {_CREATE_KEY}', "bad_type"
    )


def _check_control_characters(info: dict[str, Any]) -> None:
    """Refuse control characters in any field we keep, naming the field.

    Only the PEM has line breaks. Others would ride along unseen: the PEM loader ignores
    whatever follows its END line (a NUL, say), and an address or ID with one is not the
    one the reviewer sees.
    """
    for name in (*REQUIRED_FIELDS, *_OPTIONAL_FIELDS):
        value = info.get(name)
        if not isinstance(value, str):
            continue
        allowed = _PEM_LINE_BREAKS if name == "private_key" else ""
        bad = next((c for c in value if c not in allowed and _is_control(c)), None)
        if bad is not None:
            raise KeyFileError(
                f"The key's {name} contains a control character (U+{ord(bad):04X}), which "
                "a key made by Google never has. Upload the key file as Google gave it.",
                "control_character",
            )


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_private_key(pem: str) -> None:
    if len(pem) > _MAX_PRIVATE_KEY_CHARS:
        raise _unreadable_pem()
    if "\\n" in pem:
        # Copying the JSON string value by hand (or through an env variable)
        # leaves the escape sequences in place of line breaks.
        raise KeyFileError(
            "The private_key has the characters \\n where it should have line breaks. "
            "Upload the key file as Google gave it instead of copying the key out of it.",
            "pem_escaped_newlines",
        )
    if not pem.isascii():
        raise _unreadable_pem()
    try:
        key = load_pem_private_key(pem.encode("ascii"), password=None)
    except TypeError:
        raise KeyFileError(
            "The private_key is protected by a password; Google's JSON keys are not. "
            "Create a new JSON key.",
            "pem_encrypted",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if "PRIVATE KEY-----" not in pem and (
            "PUBLIC KEY-----" in pem or "CERTIFICATE-----" in pem
        ):
            raise KeyFileError(
                "The private_key holds a public key or certificate, not a private key.",
                "pem_public",
            ) from None
        raise _unreadable_pem() from None
    if not isinstance(key, rsa.RSAPrivateKey):
        # google-auth loads these but fails only when it signs the first token.
        raise KeyFileError(
            f"The private_key must be an RSA key, as Google's are; this one is {_key_kind(key)}.",
            "pem_not_rsa",
        )


def _unreadable_pem() -> KeyFileError:
    return KeyFileError(
        "The private_key is not a readable PEM private key. Create a new JSON key.",
        "pem_invalid",
    )


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "an EC key"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 key"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "an Ed448 key"
    if isinstance(key, dsa.DSAPrivateKey):
        return "a DSA key"
    return "another kind of key"
