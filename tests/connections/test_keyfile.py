import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections.forms import pasted_key_error
from connections.keyfile import (
    GOOGLE_TOKEN_URIS,
    MAX_KEY_BYTES,
    KeyFileError,
    ServiceAccountKey,
    parse_service_account_key,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_NO_PASSWORD = serialization.NoEncryption()
PKCS8_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _NO_PASSWORD
).decode()
PKCS1_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, _NO_PASSWORD
).decode()
PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
# Body lines of both encodings: none of them may ever appear in a message.
SECRET_LINES = [
    line
    for pem in (PKCS8_PEM, PKCS1_PEM)
    for line in pem.splitlines()
    if line and not line.startswith("-----")
]


def _pem(key, fmt=serialization.PrivateFormat.PKCS8, encryption=_NO_PASSWORD):
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))
ED25519_PEM = _pem(ed25519.Ed25519PrivateKey.generate())
ENCRYPTED_PKCS8_PEM = _pem(
    RSA_KEY, encryption=serialization.BestAvailableEncryption(b"correct horse")
)
ENCRYPTED_PKCS1_PEM = _pem(
    RSA_KEY,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.BestAvailableEncryption(b"correct horse"),
)
OPENSSH_PEM = _pem(RSA_KEY, serialization.PrivateFormat.OpenSSH)


def _unknown_algorithm_pem():
    """A PKCS#8 key whose algorithm identifier no loader knows (1.3.101.99)."""
    der = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, _NO_PASSWORD
    )
    der = der.replace(bytes.fromhex("06032b6570"), bytes.fromhex("06032b6563"))
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n"


UNKNOWN_ALGORITHM_PEM = _unknown_algorithm_pem()

CLIENT_EMAIL = "importer@acme-analytics.iam.gserviceaccount.com"
KEY_ID = "3f1c0b8e2d9a47f6b5c4e3d2a1908f7e6d5c4b3a"


def key_info(**changes):
    info = {
        "type": "service_account",
        "project_id": "acme-analytics",
        "private_key_id": KEY_ID,
        "private_key": PKCS8_PEM,
        "client_email": CLIENT_EMAIL,
        "client_id": "104592837461029384756",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            "https://www.googleapis.com/robot/v1/metadata/x509/"
            "importer%40acme-analytics.iam.gserviceaccount.com"
        ),
        "universe_domain": "googleapis.com",
    }
    for name, value in changes.items():
        if value is _DROP:
            info.pop(name, None)
        else:
            info[name] = value
    return info


_DROP = object()


def key_json(**changes):
    return json.dumps(key_info(**changes), indent=2)


def parse(raw, allowed=GOOGLE_TOKEN_URIS):
    return parse_service_account_key(raw, allowed_token_uris=allowed)


def assert_no_secret(message):
    assert not any(line in message for line in SECRET_LINES)
    assert "PRIVATE KEY" not in message


GOOD = key_json()
DEEP_ARRAY = "[" * 30_000 + "]" * 30_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000

BAD_INPUTS = [
    # size, encoding, wrong file
    ("empty bytes", b"", "empty"),
    ("whitespace", " \r\n\t ", "empty"),
    ("bom only", b"\xef\xbb\xbf", "empty"),
    ("bom then spaces (str)", "\ufeff  ", "empty"),
    ("too large bytes", b"{" + b" " * MAX_KEY_BYTES + b"}", "too_large"),
    ("too large str", "{" + " " * MAX_KEY_BYTES + "}", "too_large"),
    ("too large multibyte str", "{" + "\u00e9" * (MAX_KEY_BYTES // 2 + 1) + "}", "too_large"),
    # the size is the first answer, even for text that could not be encoded anyway
    ("too large str with a lone surrogate", "\ud800" + " " * MAX_KEY_BYTES, "too_large"),
    ("p12 der", b"\x30\x82\x09\xab\x02\x01\x03\x30\x82\x09\x71\x06\x09\x2a\x86", "p12"),
    ("p12 base64", "MIIJqQIBAzCCCW8GCSqGSIb3DQEHAaCCCWAEgglcMIIJWDCCBA8GCSqGSIb3", "p12"),
    ("p12 base64 of a longer file", "MIIKOAIBAzCCCfQGCSqGSIb3DQEHAaCCCeUEggnhMIIJ3TCCBXEG", "p12"),
    (
        "latin-1",
        json.dumps(key_info(project_id="caf\u00e9"), ensure_ascii=False).encode("latin-1"),
        "not_utf8",
    ),
    ("binary junk", b"\xff\xd8\xff\xe0\x00\x10JFIF", "not_utf8"),
    ("utf-16 with bom", GOOD.encode("utf-16"), "utf16"),
    ("utf-16-le no bom", GOOD.encode("utf-16-le"), "utf16"),
    ("utf-16-be no bom", GOOD.encode("utf-16-be"), "utf16"),
    ("utf-16-be with bom", b"\xfe\xff" + GOOD.encode("utf-16-be"), "utf16"),
    ("utf-32", GOOD.encode("utf-32"), "utf16"),
    ("lone surrogate str", '{"type": "\ud800"}', "not_utf8"),
    ("api key", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "api_key"),
    ("api key json string", '"AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"', "api_key"),
    ("access token", "ya29.a0AfH6SMBx3example-token", "access_token"),
    # a JWT also starts with "ey", but has dots: it is no base64-encoded key file
    ("jwt", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "invalid_json"),
    ("bare pem", PKCS8_PEM, "pem_only"),
    ("base64 json", base64.b64encode(GOOD.encode()), "base64_json"),
    ("base64 compact json", base64.b64encode(json.dumps(key_info()).encode()), "base64_json"),
    # JSON syntax
    ("truncated json", GOOD[: len(GOOD) // 2], "invalid_json"),
    ("trailing comma", '{"type": "service_account",}', "invalid_json"),
    ("single quotes", "{'type': 'service_account'}", "invalid_json"),
    ("python dict repr", str(key_info()), "invalid_json"),
    ("two bom", "\ufeff\ufeff" + GOOD, "invalid_json"),
    ("huge integer", '{"type": ' + "9" * 5000 + "}", "invalid_json"),
    ("duplicate private_key", GOOD[:-2] + ',\n  "private_key": "x"\n}', "duplicate_field"),
    ("duplicate other field", '{"type": "service_account", "zz": 1, "zz": 2}', "duplicate_field"),
    ("NaN", '{"type": "service_account", "x": NaN}', "json_constant"),
    ("-Infinity", '{"type": "service_account", "x": -Infinity}', "json_constant"),
    ("deep array", DEEP_ARRAY, "too_deep"),
    ("deep object", DEEP_OBJECT, "too_deep"),
    ("array", json.dumps([key_info()]), "not_object"),
    ("string", '"service_account"', "not_object"),
    ("number", "42", "not_object"),
    ("null", "null", "not_object"),
    # other credential kinds
    (
        "authorized_user",
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "7640-6qr4p6gpi6hn.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "refresh_token": "1//0gexample",
            }
        ),
        "authorized_user",
    ),
    (
        "external_account",
        json.dumps(
            {
                "type": "external_account",
                "audience": "//iam.googleapis.com/projects/1/locations/global/x",
                "token_url": "https://sts.googleapis.com/v1/token",
                "credential_source": {"file": "/var/run/secrets/token"},
            }
        ),
        "external_account",
    ),
    (
        "external_account_authorized_user",
        json.dumps({"type": "external_account_authorized_user", "audience": "x"}),
        "external_account",
    ),
    (
        "impersonated_service_account",
        json.dumps(
            {
                "type": "impersonated_service_account",
                "service_account_impersonation_url": "https://iamcredentials.googleapis.com/x",
                "source_credentials": {"type": "authorized_user"},
            }
        ),
        "impersonated_service_account",
    ),
    (
        "gdch_service_account",
        json.dumps({"type": "gdch_service_account", "format_version": "1"}),
        "gdch_service_account",
    ),
    (
        "oauth installed client",
        json.dumps({"installed": {"client_id": "1-abc.apps.googleusercontent.com"}}),
        "oauth_client",
    ),
    (
        "oauth web client",
        json.dumps({"web": {"client_id": "1-abc.apps.googleusercontent.com"}}),
        "oauth_client",
    ),
    ("type missing", key_json(type=_DROP), "missing_type"),
    ("type capitalised", key_json(type="Service_Account"), "bad_type"),
    ("type number", key_json(type=1), "bad_type"),
    ("type list", key_json(type=["service_account"]), "bad_type"),
    ("type unknown", key_json(type="api_key"), "bad_type"),
    # universe
    ("sovereign universe", key_json(universe_domain="apis-tpczero.goog"), "universe_domain"),
    ("null universe", key_json(universe_domain=None), "universe_domain"),
    # fields
    ("private_key missing", key_json(private_key=_DROP), "missing_fields"),
    ("private_key null", key_json(private_key=None), "missing_fields"),
    ("private_key empty", key_json(private_key=""), "missing_fields"),
    ("project_id blank", key_json(project_id="   "), "missing_fields"),
    ("client_email int", key_json(client_email=12), "field_type"),
    # false is there, just not text
    ("client_email false", key_json(client_email=False), "field_type"),
    ("private_key list", key_json(private_key=PKCS8_PEM.splitlines()), "field_type"),
    ("token_uri object", key_json(token_uri={"url": "x"}), "field_type"),
    ("gmail address", key_json(client_email="someone@gmail.com"), "client_email"),
    ("uppercase email", key_json(client_email=CLIENT_EMAIL.upper()), "client_email"),
    (
        "uppercase account name",
        key_json(client_email="impOrter@acme-analytics.iam.gserviceaccount.com"),
        "client_email",
    ),
    (
        "hyphen for the dot before gserviceaccount",
        key_json(client_email="importer@acme-analytics.iam-gserviceaccount.com"),
        "client_email",
    ),
    # a format character is not a control character: the address is simply not one
    (
        "zero-width space in the email",
        key_json(client_email="importer\u200b@acme-analytics.iam.gserviceaccount.com"),
        "client_email",
    ),
    ("email with newline", key_json(client_email=CLIENT_EMAIL + "\n"), "control_character"),
    # control characters: only the PEM has line breaks
    ("nul after the pem", key_json(private_key=PKCS8_PEM + "\x00"), "control_character"),
    (
        "nul inside the pem",
        key_json(private_key=PKCS8_PEM.replace("\n", "\n\x00", 1)),
        "control_character",
    ),
    (
        "tab in the pem",
        key_json(private_key=PKCS8_PEM.replace("\n", "\t\n", 1)),
        "control_character",
    ),
    ("escape in the key id", key_json(private_key_id=KEY_ID + "\x1b"), "control_character"),
    ("c1 control in the project", key_json(project_id="acme\x85"), "control_character"),
    (
        "del in the token_uri",
        key_json(token_uri="https://oauth2.googleapis.com/token\x7f"),
        "control_character",
    ),
    ("nul in an optional field", key_json(client_id="1234\x00"), "control_character"),
    (
        "lookalike domain",
        key_json(client_email="x@p.iam.gserviceaccount.com.evil.example"),
        "client_email",
    ),
    ("private_key_id with spaces", key_json(private_key_id="not an id"), "private_key_id"),
    ("project_id with slash", key_json(project_id="a/../b"), "key_project_id"),
    ("metadata token_uri", key_json(token_uri="http://169.254.169.254/token"), "token_uri"),
    ("loopback token_uri", key_json(token_uri="http://127.0.0.1:8080/token"), "token_uri"),
    (
        "http google token_uri",
        key_json(token_uri="http://oauth2.googleapis.com/token"),
        "token_uri",
    ),
    (
        "google token_uri with slash",
        key_json(token_uri="https://oauth2.googleapis.com/token/"),
        "token_uri",
    ),
    ("file token_uri", key_json(token_uri="file:///etc/passwd"), "token_uri"),
    # private key
    (
        "escaped newlines",
        json.dumps(key_info(private_key=PKCS8_PEM.replace("\n", "\\n"))),
        "pem_escaped_newlines",
    ),
    (
        "escaped newline only before the end line",
        json.dumps(key_info(private_key=PKCS8_PEM.replace("\n-----END", "\\n-----END"))),
        "pem_escaped_newlines",
    ),
    ("encrypted pkcs8", key_json(private_key=ENCRYPTED_PKCS8_PEM), "pem_encrypted"),
    ("encrypted pkcs1", key_json(private_key=ENCRYPTED_PKCS1_PEM), "pem_encrypted"),
    ("public key", key_json(private_key=PUBLIC_PEM), "pem_public"),
    (
        "certificate",
        key_json(private_key="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
        "pem_public",
    ),
    (
        "damaged private key followed by a certificate",
        key_json(
            private_key="-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        ),
        "pem_invalid",
    ),
    ("unknown key algorithm", key_json(private_key=UNKNOWN_ALGORITHM_PEM), "pem_invalid"),
    ("ec key", key_json(private_key=EC_PEM), "pem_not_rsa"),
    ("ed25519 key", key_json(private_key=ED25519_PEM), "pem_not_rsa"),
    ("openssh key", key_json(private_key=OPENSSH_PEM), "pem_invalid"),
    ("garbage pem", key_json(private_key="-----BEGIN PRIVATE KEY-----\nabc\n"), "pem_invalid"),
    ("truncated pem", key_json(private_key=PKCS8_PEM[:400]), "pem_invalid"),
    ("pem body only", key_json(private_key="".join(SECRET_LINES[:20])), "pem_invalid"),
    ("non-ascii pem", key_json(private_key=PKCS8_PEM.replace("A", "\u0410", 1)), "pem_invalid"),
    ("oversized pem", key_json(private_key=PKCS8_PEM * 10), "pem_invalid"),
]


@pytest.mark.parametrize(
    ("raw", "code"), [pytest.param(raw, code, id=name) for name, raw, code in BAD_INPUTS]
)
def test_it_rejects_bad_input_with_a_specific_code(raw, code):
    with pytest.raises(KeyFileError) as info:
        parse(raw)
    assert info.value.code == code
    assert_no_secret(info.value.message)
    assert len(info.value.message) < 300


def test_there_are_at_least_forty_bad_inputs():
    assert len(BAD_INPUTS) >= 40


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (("private_key",), "The key file is missing the field private_key."),
        (
            ("private_key_id", "project_id"),
            "The key file is missing the fields project_id, private_key_id.",
        ),
        (
            ("token_uri", "client_email", "project_id"),
            "The key file is missing the fields project_id, client_email, token_uri.",
        ),
        (
            ("token_uri", "client_email", "private_key", "private_key_id", "project_id"),
            "The key file is missing the fields project_id, private_key_id, private_key, "
            "client_email, token_uri.",
        ),
    ],
)
def test_it_names_every_missing_field_in_a_stable_order(missing, message):
    with pytest.raises(KeyFileError) as info:
        parse(key_json(**dict.fromkeys(missing, _DROP)))
    assert info.value.message == message


def test_it_names_every_field_that_is_not_text():
    with pytest.raises(KeyFileError) as info:
        parse(key_json(token_uri={"url": "x"}, client_email=12))
    assert info.value.message == "These key fields must be text: client_email, token_uri."


def test_it_gives_line_and_column_for_bad_json():
    with pytest.raises(KeyFileError) as info:
        parse('{\n  "type": "service_account",\n  "x": oops\n}')
    assert "line 3, column 8" in info.value.message
    assert "oops" not in info.value.message


def test_a_control_character_is_refused_naming_the_field_and_the_character():
    with pytest.raises(KeyFileError) as info:
        parse(key_json(private_key=PKCS8_PEM + "\x00"))

    assert info.value.message == (
        "The key's private_key contains a control character (U+0000), which a key made by "
        "Google never has. Upload the key file as Google gave it."
    )


def test_a_duplicate_optional_field_is_named():
    raw = key_json()[:-2] + ',\n  "client_id": "1"\n}'
    with pytest.raises(KeyFileError) as info:
        parse(raw)
    assert info.value.message == (
        "The key file has the field client_id twice. Upload the key file as Google gave it."
    )


@pytest.mark.parametrize(
    ("private_key", "kind"),
    [
        (_pem(dsa.generate_private_key(key_size=2048)), "a DSA key"),
        (_pem(ed448.Ed448PrivateKey.generate()), "an Ed448 key"),
        (ED25519_PEM, "an Ed25519 key"),
        (EC_PEM, "an EC key"),
    ],
)
def test_a_key_of_another_algorithm_is_refused_naming_it(private_key, kind):
    with pytest.raises(KeyFileError) as info:
        parse(key_json(private_key=private_key))
    assert info.value.message == (
        f"The private_key must be an RSA key, as Google's are; this one is {kind}."
    )


def test_a_key_file_of_exactly_64_kib_is_read_and_one_byte_more_is_not():
    padded = GOOD + " " * (64 * 1024 - len(GOOD))

    assert parse(padded.encode()).client_email == CLIENT_EMAIL
    assert parse(padded).client_email == CLIENT_EMAIL
    with pytest.raises(KeyFileError) as info:
        parse((padded + " ").encode())
    assert info.value.code == "too_large"


def test_a_private_key_of_up_to_16000_characters_is_loaded():
    """Longer keys than Google's (RSA-4096, trailing line breaks) still load; past 16,000
    characters the key is refused unread."""
    rsa_4096 = _pem(rsa.generate_private_key(public_exponent=65537, key_size=4096))
    padded = PKCS8_PEM + "\n" * (16_000 - len(PKCS8_PEM))

    assert parse(key_json(private_key=rsa_4096)).client_email == CLIENT_EMAIL
    assert parse(key_json(private_key=padded)).client_email == CLIENT_EMAIL
    with pytest.raises(KeyFileError) as info:
        parse(key_json(private_key=padded + "\n"))
    assert info.value.code == "pem_invalid"


def test_an_optional_field_is_kept_up_to_2048_characters():
    url = "https://www.googleapis.com/robot/v1/metadata/x509/"
    longest = url + "a" * (2048 - len(url))

    assert parse(key_json(client_x509_cert_url=longest)).info["client_x509_cert_url"] == longest
    assert "client_x509_cert_url" not in parse(key_json(client_x509_cert_url=longest + "a")).info


def test_an_optional_field_that_is_not_ascii_is_not_kept():
    """Google's values are ASCII; a look-alike (fullwidth digits) is dropped, not stored."""
    assert parse(key_json(client_id="104857600123")).info["client_id"] == "104857600123"
    assert "client_id" not in parse(key_json(client_id="10485760012\uff13")).info


def test_it_does_not_echo_unknown_field_names_or_values():
    raw = '{"type": "service_account", "hunter2-secret": 1, "hunter2-secret": 2}'
    with pytest.raises(KeyFileError) as info:
        parse(raw)
    assert "hunter2" not in info.value.message
    with pytest.raises(KeyFileError) as info:
        parse(key_json(type="hunter2-type"))
    assert "hunter2" not in info.value.message


def test_it_explains_a_user_credential_and_what_to_create():
    with pytest.raises(KeyFileError) as info:
        parse(json.dumps({"type": "authorized_user", "refresh_token": "1//x"}))
    assert info.value.message == (
        "This is a user credential (gcloud auth application-default login), not a service "
        "account key. Create a service account key: IAM & Admin > Service Accounts > Keys > "
        "Add key > JSON."
    )


def test_it_explains_the_token_uri_rule():
    with pytest.raises(KeyFileError) as info:
        parse(key_json(token_uri="https://evil.example/token"))
    assert info.value.message == (
        "The key's token_uri must be Google's token endpoint (https://oauth2.googleapis.com/token)."
    )


def test_anything_but_bytes_or_text_is_a_programming_error_not_a_refusal():
    with pytest.raises(TypeError, match="raw must be bytes or str"):
        parse(None)


def test_key_file_error_is_a_validation_error():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        parse(b"")


# --- valid keys -----------------------------------------------------------------------


def _crlf_file():
    return GOOD.replace("\n", "\r\n").encode()


VALID_INPUTS = [
    ("bytes", GOOD.encode()),
    ("str", GOOD),
    ("bytes with bom", b"\xef\xbb\xbf" + GOOD.encode()),
    ("str with bom", "\ufeff" + GOOD),
    ("compact", json.dumps(key_info(), separators=(",", ":"))),
    ("surrounding whitespace", "\n\n  " + GOOD + "\n\n"),
    ("pkcs1", key_json(private_key=PKCS1_PEM)),
    ("crlf in pem", key_json(private_key=PKCS8_PEM.replace("\n", "\r\n"))),
    ("crlf file", _crlf_file()),
    ("old token_uri", key_json(token_uri="https://accounts.google.com/o/oauth2/token")),
    ("no universe_domain", key_json(universe_domain=_DROP)),
    ("no optional fields", key_json(client_id=_DROP, auth_uri=_DROP, client_x509_cert_url=_DROP)),
    ("bytearray", bytearray(GOOD.encode())),
    ("memoryview", memoryview(GOOD.encode())),
]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=name) for name, raw in VALID_INPUTS])
def test_it_accepts_a_real_key(raw):
    key = parse(raw)
    assert key.client_email == CLIENT_EMAIL
    assert key.private_key_id == KEY_ID
    assert key.project_id == "acme-analytics"
    assert key.token_uri in GOOGLE_TOKEN_URIS
    assert key.info["type"] == "service_account"


@pytest.mark.parametrize(
    "email",
    [
        "123456789012-compute@developer.gserviceaccount.com",
        "acme-analytics@appspot.gserviceaccount.com",
        "svc@example.com:legacy-proj.iam.gserviceaccount.com",
    ],
)
def test_it_accepts_default_and_domain_scoped_service_accounts(email):
    assert parse(key_json(client_email=email)).client_email == email


def test_it_accepts_a_domain_scoped_project_id_in_the_key():
    assert parse(key_json(project_id="example.com:legacy-proj")).project_id == (
        "example.com:legacy-proj"
    )


def test_it_accepts_a_token_uri_the_allow_list_adds():
    standin = "http://127.0.0.1:9999/token"
    key = parse(key_json(token_uri=standin), allowed=(*GOOGLE_TOKEN_URIS, standin))
    assert key.token_uri == standin


def test_googles_own_token_uri_is_refused_when_the_allow_list_leaves_it_out():
    """The allow-list is the whole rule: an operator who drops an endpoint drops it."""
    with pytest.raises(KeyFileError) as info:
        parse(GOOD, allowed=["https://accounts.google.com/o/oauth2/token"])
    assert info.value.code == "token_uri"


def test_it_keeps_only_the_fields_google_auth_reads():
    raw = key_json(extra={"credential_source": {"file": "/etc/shadow"}}, client_id=123)
    key = parse(raw)
    assert set(key.info) == {
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    }


def test_stored_json_round_trips():
    key = parse(GOOD)
    stored = key.to_json_bytes()
    assert json.loads(stored) == key.info
    assert parse(stored) == key


def test_repr_and_str_never_show_the_private_key():
    key = parse(GOOD)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert_no_secret(text)
        assert CLIENT_EMAIL in text


def test_a_parsed_key_is_hashable_and_frozen():
    key = parse(GOOD)
    assert hash(key) == hash(parse(GOOD.encode()))
    with pytest.raises(AttributeError):
        key.client_email = "other@x.iam.gserviceaccount.com"


def test_bytes_and_text_give_the_same_key():
    assert parse(GOOD) == parse(GOOD.encode()) == parse(b"\xef\xbb\xbf" + GOOD.encode())
    assert isinstance(parse(GOOD), ServiceAccountKey)


# --- properties -----------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(raw):
    try:
        return parse(raw)
    except KeyFileError as exc:
        return exc.code


@given(st.binary(max_size=4096))
def test_random_bytes_only_ever_raise_key_file_error(raw):
    assert isinstance(_outcome(raw), str)


@given(st.text(max_size=2048))
def test_random_text_only_ever_raises_key_file_error(raw):
    assert isinstance(_outcome(raw), str)


@given(_json_values)
def test_random_json_only_ever_raises_key_file_error(value):
    assert isinstance(_outcome(json.dumps(value)), str)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(key_info())), _json_values)
def test_a_key_with_any_one_field_replaced_is_refused_or_still_valid(name, value):
    outcome = _outcome(json.dumps(key_info(**{name: value})))
    assert isinstance(outcome, str | ServiceAccountKey)


@settings(deadline=None)
@given(st.text(max_size=512) | st.sampled_from([GOOD, "\ufeff" + GOOD, " " + GOOD]))
def test_pasted_text_and_uploaded_bytes_agree(text):
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert _outcome(text) == _outcome(encoded)


@pytest.mark.parametrize(
    ("raw", "code"), [pytest.param(raw, code, id=name) for name, raw, code in BAD_INPUTS]
)
def test_every_refusal_reads_in_the_custom_key_tabs_words(raw, code):
    """The Custom key tab has no file: each message the parser has is worded for the paste
    (a message added to the parser without its pasted words fails here)."""
    with pytest.raises(KeyFileError) as info:
        parse(raw)

    pasted = pasted_key_error(info.value)

    assert pasted.code == code
    assert "upload" not in pasted.message.lower()
    assert "The key file" not in pasted.message
