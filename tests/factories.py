"""Test data: realistic service-account key files, made with a real RSA key."""

import functools
import json
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


@functools.lru_cache(maxsize=4)
def rsa_pem(slot: int = 0) -> str:
    """A PKCS#8 PEM; a few are cached because generating RSA keys is slow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_info(
    *,
    email: str = "importer@analytics-prod.iam.gserviceaccount.com",
    project_id: str = "analytics-prod",
    slot: int = 0,
    **overrides,
) -> dict:
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": rsa_pem(slot),
        "client_email": email,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": GOOGLE_TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/importer",
        "universe_domain": "googleapis.com",
    }
    info.update(overrides)
    return info


def key_json(**kwargs) -> str:
    return json.dumps(key_info(**kwargs), indent=2)


def pem_lines(info: dict) -> list[str]:
    """The base64 body lines of the key's PEM: none may ever appear in a page."""
    return [
        line for line in info["private_key"].splitlines() if line and not line.startswith("-----")
    ]
