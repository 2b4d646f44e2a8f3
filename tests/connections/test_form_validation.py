"""Bad and tricky inputs for Add Database: each gets its own message on its own field,
and nothing is saved."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.core.files.uploadedfile import SimpleUploadedFile

from connections.models import Connection
from tests.factories import key_info, rsa_pem

ADD = "/w/acme/settings/partners/bigquery/add/"
CREATE = "Create a service account key: IAM & Admin > Service Accounts > Keys > Add key > JSON."


def pem(key, fmt=serialization.PrivateFormat.PKCS8, enc=None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, enc or serialization.NoEncryption()
    ).decode()


def without(*names):
    return json.dumps({k: v for k, v in key_info().items() if k not in names})


def with_(**fields):
    return json.dumps(key_info(**fields))


def public_pem():
    key = serialization.load_pem_private_key(rsa_pem().encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# (case id, form fields over a valid baseline, uploaded bytes or None, field, exact message)
CASES = [
    ("name-empty", {"name": ""}, None, "name", "Connection name is required."),
    ("name-spaces", {"name": "   "}, None, "name", "Connection name is required."),
    ("name-long", {"name": "x" * 101}, None, "name", "Connection name must be at most 100 characters."),
    ("name-null", {"name": "a\x00b"}, None, "name", "Connection name must not contain control characters."),
    ("name-control", {"name": "a\x07b"}, None, "name", "Connection name must not contain control characters."),
    ("project-empty", {"project_id": ""}, None, "project_id", "Project ID is required."),
    ("project-short", {"project_id": "abc"}, None, "project_id", "Project ID must be 6 to 30 characters."),
    ("project-long", {"project_id": "a" * 31}, None, "project_id", "Project ID must be 6 to 30 characters."),
    ("project-upper", {"project_id": "My-Project"}, None, "project_id", "Project ID must be lowercase."),
    ("project-digit-first", {"project_id": "1project"}, None, "project_id", "Project ID must start with a lowercase letter."),
    ("project-hyphen-end", {"project_id": "project-"}, None, "project_id", "Project ID must not end with a hyphen."),
    ("project-underscore", {"project_id": "my_project"}, None, "project_id", "Project ID may contain only lowercase letters, digits and hyphens."),
    ("project-number", {"project_id": "123456789012"}, None, "project_id", "Use the project ID, not the project number."),
    ("project-reserved", {"project_id": "my-google-proj"}, None, "project_id", "Project ID must not contain 'google'; Google reserves it."),
    ("project-traversal", {"project_id": "proj/../x"}, None, "project_id", "Project ID may contain only lowercase letters, digits and hyphens."),
    ("project-query", {"project_id": "project?all=1"}, None, "project_id", "Project ID may contain only lowercase letters, digits and hyphens."),
    ("project-space", {"project_id": "my project"}, None, "project_id", "Project ID may contain only lowercase letters, digits and hyphens."),
    ("project-cyrillic-o", {"project_id": "pr\u043eject-1"}, None, "project_id", "Project ID may contain only lowercase letters, digits and hyphens."),
    ("project-bad-domain", {"project_id": "example:my-project"}, None, "project_id", "In a domain-scoped project ID (example.com:my-project), the part before ':' must be a lowercase domain name."),
    ("project-too-long-field", {"project_id": "a" * 300}, None, "project_id", "Project ID must be at most 30 characters (plus a domain prefix)."),
    ("dataset-empty", {"dataset_id": ""}, None, "dataset_id", "Dataset ID is required."),
    ("dataset-hyphen", {"dataset_id": "my-dataset"}, None, "dataset_id", "Dataset ID may contain only letters, digits and underscores."),
    ("dataset-space", {"dataset_id": "my dataset"}, None, "dataset_id", "Dataset ID may contain only letters, digits and underscores."),
    ("dataset-with-project", {"dataset_id": "proj.ds"}, None, "dataset_id", "Enter the dataset ID alone, without the project (my_dataset, not my-project.my_dataset)."),
    ("dataset-traversal", {"dataset_id": "../x"}, None, "dataset_id", "Dataset ID may contain only letters, digits and underscores."),
    ("dataset-fragment", {"dataset_id": "d#frag"}, None, "dataset_id", "Dataset ID may contain only letters, digits and underscores."),
    ("dataset-accents", {"dataset_id": "donn\u00e9es"}, None, "dataset_id", "Dataset ID may contain only letters, digits and underscores."),
    ("dataset-long", {"dataset_id": "a" * 1025}, None, "dataset_id", "Dataset ID must be at most 1,024 characters."),
    ("key-none", {"key_text": ""}, None, "key_file", "Google Service Account Key is required: upload the JSON file or paste it as a custom key."),
    ("key-blank", {"key_text": "  \n\t"}, None, "key_file", "Google Service Account Key is required: upload the JSON file or paste it as a custom key."),
    ("key-both", {}, "VALID", "__all__", "Google Service Account Key: give the key either as an uploaded JSON file or as a custom key, not both."),
    ("key-not-json", {"key_text": "hello"}, None, "key_text", "The pasted key is not valid JSON (Expecting value at line 1, column 1)."),
    ("key-array", {"key_text": "[1, 2]"}, None, "key_text", "The pasted key must be a JSON object ({ … }), as Google's key files are."),
    ("key-string", {"key_text": '"abc"'}, None, "key_text", "The pasted key must be a JSON object ({ … }), as Google's key files are."),
    ("key-authorized-user", {"key_text": json.dumps({"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"})}, None, "key_text", "This is a user credential (gcloud auth application-default login), not a service account key. " + CREATE),
    ("key-external-account", {"key_text": json.dumps({"type": "external_account", "audience": "x", "credential_source": {"file": "/etc/passwd"}})}, None, "key_text", "This is a Workload Identity Federation configuration; it holds no key. " + CREATE),
    ("key-impersonated", {"key_text": json.dumps({"type": "impersonated_service_account", "source_credentials": {}})}, None, "key_text", "This is an impersonation configuration (gcloud auth application-default login --impersonate-service-account), not a key. " + CREATE),
    ("key-oauth-installed", {"key_text": json.dumps({"installed": {"client_id": "x.apps.googleusercontent.com"}})}, None, "key_text", "This is an OAuth client ID file, not a service account key. " + CREATE),
    ("key-oauth-web", {"key_text": json.dumps({"web": {"client_id": "x.apps.googleusercontent.com"}})}, None, "key_text", "This is an OAuth client ID file, not a service account key. " + CREATE),
    ("key-gdch", {"key_text": json.dumps({"type": "gdch_service_account"})}, None, "key_text", "This is a Google Distributed Cloud key, which BigQuery does not accept. " + CREATE),
    ("key-api-key", {"key_text": "AIzaSyA-1234567890abcdefghijklmnopqrstu"}, None, "key_text", "This is an API key, not a service account key. " + CREATE),
    ("key-access-token", {"key_text": "ya29.a0AfH6SMBx"}, None, "key_text", "This is an access token, not a service account key. " + CREATE),
    ("key-no-type", {"key_text": without("type")}, None, "key_text", 'The pasted key has no "type" field; a service account key has "type": "service_account".'),
    ("key-other-type", {"key_text": with_(type="user")}, None, "key_text", 'The pasted key\'s "type" must be "service_account". ' + CREATE),
    ("key-no-private-key", {"key_text": without("private_key")}, None, "key_text", "The pasted key is missing the field private_key."),
    ("key-no-email-token", {"key_text": without("client_email", "token_uri")}, None, "key_text", "The pasted key is missing the fields client_email, token_uri."),
    ("key-email-number", {"key_text": with_(client_email=5)}, None, "key_text", "These key fields must be text: client_email."),
    ("key-email-not-sa", {"key_text": with_(client_email="me@gmail.com")}, None, "key_text", "The key's client_email must be a service account address ending in .gserviceaccount.com."),
    ("key-token-uri-metadata", {"key_text": with_(token_uri="http://169.254.169.254/computeMetadata/v1/")}, None, "key_text", "The key's token_uri must be Google's token endpoint (https://oauth2.googleapis.com/token)."),
    ("key-token-uri-loopback", {"key_text": with_(token_uri="http://127.0.0.1:8000/token")}, None, "key_text", "The key's token_uri must be Google's token endpoint (https://oauth2.googleapis.com/token)."),
    ("key-token-uri-lookalike", {"key_text": with_(token_uri="https://oauth2.googleapis.com.evil.test/token")}, None, "key_text", "The key's token_uri must be Google's token endpoint (https://oauth2.googleapis.com/token)."),
    ("key-universe", {"key_text": with_(universe_domain="apis-tpczero.goog")}, None, "key_text", "Sovereign cloud keys are not supported."),
    ("key-escaped-newlines", {"key_text": with_(private_key=rsa_pem().replace("\n", "\\n"))}, None, "key_text", "The private_key has the characters \\n where it should have line breaks. Paste the whole key file as Google gave it instead of copying the key out of it."),
    ("key-pem-garbage", {"key_text": with_(private_key="-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")}, None, "key_text", "The private_key is not a readable PEM private key. Create a new JSON key."),
    ("key-ec", {"key_text": with_(private_key=pem(ec.generate_private_key(ec.SECP256R1())))}, None, "key_text", "The private_key must be an RSA key, as Google's are; this one is an EC key."),
    ("key-ed25519", {"key_text": with_(private_key=pem(ed25519.Ed25519PrivateKey.generate()))}, None, "key_text", "The private_key must be an RSA key, as Google's are; this one is an Ed25519 key."),
    ("key-encrypted", {"key_text": with_(private_key=pem(serialization.load_pem_private_key(rsa_pem(3).encode(), None), enc=serialization.BestAvailableEncryption(b"pw")))}, None, "key_text", "The private_key is protected by a password; Google's JSON keys are not. Create a new JSON key."),
    ("key-public", {"key_text": with_(private_key=public_pem())}, None, "key_text", "The private_key holds a public key or certificate, not a private key."),
    ("key-duplicate-field", {"key_text": '{"type": "service_account", "type": "service_account"}'}, None, "key_text", "The pasted key has the field type twice. Paste the whole key file as Google gave it."),
    ("key-nan", {"key_text": '{"type": "service_account", "x": NaN}'}, None, "key_text", "The pasted key contains NaN or Infinity, which JSON does not allow."),
    ("key-too-large", {"key_text": " " * 70_000 + "{}"}, None, "key_text", "The pasted key is larger than 64 KiB; a service account key is about 2.3 KB."),
    ("key-bad-key-id", {"key_text": with_(private_key_id="../../etc")}, None, "key_text", "The key's private_key_id is not a key ID. Paste the whole key file as Google gave it."),
    ("key-nul-after-pem", {"key_text": with_(private_key=rsa_pem() + "\x00")}, None, "key_text", "The key's private_key contains a control character (U+0000), which a key made by Google never has. Paste the whole key file as Google gave it."),
    ("key-nul", {"key_text": '{"type": "service_account"\x00}'}, None, "key_text", "The custom key contains NUL characters, which a JSON key file never does. Paste the file as Google gave it."),
    ("key-base64", {"key_text": base64.b64encode(json.dumps(key_info()).encode()).decode()}, None, "key_text", "This is a base64-encoded key file. Decode it and paste the JSON it contains."),
    ("upload-nul-after-pem", {"key_text": ""}, with_(private_key=rsa_pem() + "\x00").encode(), "key_file", "The key's private_key contains a control character (U+0000), which a key made by Google never has. Upload the key file as Google gave it."),
    ("key-bell-in-email", {"key_text": with_(client_email="loader\x07@analytics-prod.iam.gserviceaccount.com")}, None, "key_text", "The key's client_email contains a control character (U+0007), which a key made by Google never has. Paste the whole key file as Google gave it."),
    ("upload-p12", {"key_text": ""}, bytes([0x30, 0x82, 0x09, 0x8A, 0x02, 0x01, 0x03]) + b"\0" * 50, "key_file", "This looks like a P12 key. Create a JSON key instead: IAM & Admin > Service Accounts > Keys > Add key > JSON."),
    ("upload-utf16", {"key_text": ""}, "UTF16", "key_file", "The key file is saved as UTF-16. Save it as UTF-8, as Google provides it."),
    ("upload-latin1", {"key_text": ""}, '{"type": "caf\xe9"}'.encode("latin-1"), "key_file", "The key file is not UTF-8 text. Upload the JSON key file Google gave you."),
    ("upload-too-large", {"key_text": ""}, b" " * 70_000, "key_file", "The key file is larger than 64 KiB; a service account key is about 2.3 KB."),
    ("upload-empty", {"key_text": ""}, b"", "key_file", "The uploaded key file is empty."),
]  # fmt: skip


@pytest.mark.parametrize(
    "fields, upload, field, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_it_refuses_bad_input_with_a_specific_message(alice_client, fields, upload, field, message):
    data = {
        "name": "Warehouse",
        "project_id": "analytics-prod",
        "dataset_id": "events_v2",
        "key_text": json.dumps(key_info()),
        **fields,
    }
    if upload == "VALID":
        upload = json.dumps(key_info()).encode()
    elif upload == "UTF16":
        upload = json.dumps(key_info()).encode("utf-16")
    if upload is not None:
        data["key_file"] = SimpleUploadedFile("key.json", upload, "application/json")

    response = alice_client.post(ADD, data)

    assert response.status_code == 200
    errors = {k: [str(m) for m in v] for k, v in response.context["form"].errors.items()}
    assert errors == {field: [message]}
    assert not Connection.objects.exists()
    assert "PRIVATE KEY" not in response.content.decode()


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "project_id",
    ["example.com:my-project", "google.com:google-cluster-data", "my-project-123", "abcdef"],
)
def test_it_accepts_valid_project_ids_including_legacy_domain_ones(alice_client, project_id):
    response = alice_client.post(
        ADD,
        {
            "name": project_id,
            "project_id": project_id,
            "dataset_id": "_hidden_ds_1",
            "key_text": json.dumps(key_info()),
        },
    )

    assert response.status_code == 302
    assert Connection.objects.get().project_id == project_id


def test_a_name_is_unique_per_workspace_case_insensitively(
    alice_client, connection_a, connection_b
):
    data = {
        "name": "WAREHOUSE",
        "project_id": "analytics-prod",
        "dataset_id": "d",
        "key_text": json.dumps(key_info()),
    }

    response = alice_client.post(ADD, data)

    assert response.context["form"].errors == {
        "name": ["Connection name is already used by another connection in this workspace."]
    }
    assert Connection.objects.count() == 2
    # the same name in another workspace is fine
    data["name"] = "Globex warehouse"
    assert alice_client.post(ADD, data).status_code == 302


def test_a_refused_key_is_not_shown_back_and_the_form_says_to_give_it_again(alice_client):
    data = {"name": "Warehouse", "project_id": "analytics-prod", "dataset_id": "events_v2"}

    page = alice_client.post(ADD, {**data, "key_text": '{"type": "nope"}'}).content.decode()

    assert "nope" not in page
    assert "the key you gave is not shown back: correct it, then choose the file or paste" in page
