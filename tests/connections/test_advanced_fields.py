"""The connection form's Advanced part: Billing project, Scratch dataset, Scratch KMS key and
Maximum bytes billed, each validated with its own message before anything is saved."""

import pytest

from connections.models import Connection
from tests.factories import key_json
from workspaces.models import AuditEntry

ADD = "/w/acme/settings/partners/bigquery/add/"
KMS = "projects/acme-keys/locations/europe-west1/keyRings/imports/cryptoKeys/results"


def add_data(**advanced):
    return {
        "name": "Warehouse",
        "project_id": "analytics-prod",
        "dataset_id": "events_v2",
        "key_text": key_json(),
        **advanced,
    }


def edit_url(connection, suffix="edit/"):
    return f"/w/{connection.workspace.slug}/settings/partners/bigquery/{connection.pk}/{suffix}"


def test_add_database_saves_the_advanced_fields(alice_client):
    response = alice_client.post(
        ADD,
        add_data(
            billing_project_id="acme-billing",
            scratch_dataset_id="import_scratch",
            scratch_kms_key_name=KMS,
            maximum_bytes_billed="1.5 TiB",
        ),
    )

    assert response.status_code == 302, response.context["form"].errors
    connection = Connection.objects.get()
    assert connection.billing_project_id == "acme-billing"
    assert connection.scratch_dataset_id == "import_scratch"
    assert connection.scratch_kms_key_name == KMS
    assert connection.maximum_bytes_billed == int(1.5 * 2**40)


def test_blank_advanced_fields_mean_the_defaults(alice_client):
    response = alice_client.post(ADD, add_data())

    assert response.status_code == 302
    connection = Connection.objects.get()
    assert (connection.billing_project_id, connection.scratch_dataset_id) == ("", "")
    assert connection.maximum_bytes_billed is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("billing_project_id", "Acme-Billing", "Billing project must be lowercase."),
        ("billing_project_id", "123456789", "Use the project ID, not the project number."),
        ("billing_project_id", "a/../../x", "Billing project may contain only lowercase"),
        ("scratch_dataset_id", "proj.scratch", "Enter the dataset ID alone"),
        ("scratch_dataset_id", "scratch-data", "Scratch dataset may contain only letters"),
        ("scratch_dataset_id", "a" * 1025, "Scratch dataset must be at most 1,024 characters."),
        ("scratch_kms_key_name", "my-key", "Scratch KMS key must be a Cloud KMS key name"),
        ("scratch_kms_key_name", KMS + "/cryptoKeyVersions/1", "Scratch KMS key must be"),
        (
            "scratch_kms_key_name",
            "projects/p/../other/locations/eu/keyRings/r/cryptoKeys/k",
            "Scratch KMS key must be",
        ),
        (
            "scratch_kms_key_name",
            "projects/p/locations/eu/keyRings/r.v2/cryptoKeys/k",
            "Scratch KMS key must be",
        ),
        ("maximum_bytes_billed", "ten gigs", "Maximum bytes billed: Enter a size such as"),
        ("maximum_bytes_billed", "10 XB", "units: bytes, KB, MB, GB, TB, PB"),
        ("maximum_bytes_billed", "0", "Maximum bytes billed: Enter at least 10 MB"),
        ("maximum_bytes_billed", "-5 GB", "Maximum bytes billed: Enter a size such as"),
        ("maximum_bytes_billed", "99999 PiB", "Maximum bytes billed: Enter at most 1024 PB."),
    ],
)
def test_a_bad_advanced_value_gets_its_own_message_and_nothing_is_saved(
    alice_client, field, value, message
):
    response = alice_client.post(ADD, add_data(**{field: value}))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not Connection.objects.exists()
    page = response.content.decode()
    assert '<details class="advanced" open>' in page  # the error is not hidden


def kms_key_name(length: int) -> str:
    """A well-formed Cloud KMS key name `length` characters long."""
    name = "projects/{}/locations/europe-west1/keyRings/imports/cryptoKeys/results"
    return name.format("p" * (length - len(name) + 2))


def test_a_kms_key_name_fits_its_column_and_a_longer_one_is_refused(alice_client):
    refused = alice_client.post(ADD, add_data(scratch_kms_key_name=kms_key_name(513)))
    kept = alice_client.post(ADD, add_data(scratch_kms_key_name=kms_key_name(512)))

    assert refused.status_code == 200
    assert refused.context["form"].errors == {
        "scratch_kms_key_name": ["Ensure this value has at most 512 characters (it has 513)."]
    }
    assert kept.status_code == 302
    assert Connection.objects.get().scratch_kms_key_name == kms_key_name(512)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500000000", 500_000_000), ("10 GB", 10 * 2**30), ("10GiB", 10 * 2**30),
     ("1,000 MB", 1000 * 2**20), ("0" * 30 + "1073741824", 2**30)],  # 40 characters, the most
)  # fmt: skip
def test_human_units_are_accepted(alice_client, text, expected):
    alice_client.post(ADD, add_data(maximum_bytes_billed=text))

    assert Connection.objects.get().maximum_bytes_billed == expected


def test_editing_shows_changes_and_audits_the_advanced_fields(alice_client, connection_a):
    Connection.objects.filter(pk=connection_a.pk).update(status=Connection.Status.OK)
    page = alice_client.get(edit_url(connection_a)).content.decode()
    assert '<details class="advanced">' in page  # closed while all are blank

    response = alice_client.post(
        edit_url(connection_a),
        {
            "name": connection_a.name,
            "project_id": connection_a.project_id,
            "dataset_id": connection_a.dataset_id,
            "billing_project_id": "acme-billing",
            "maximum_bytes_billed": "100 GiB",
        },
    )

    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.billing_project_id == "acme-billing"
    assert connection_a.status == Connection.Status.UNTESTED  # jobs now run elsewhere
    entry = AuditEntry.objects.filter(action="connection.updated").get()
    assert entry.details["billing_project_id"] == {"from": "", "to": "acme-billing"}
    assert entry.details["maximum_bytes_billed"] == {"from": None, "to": 100 * 2**30}
    page = alice_client.get(edit_url(connection_a)).content.decode()
    assert '<details class="advanced" open>' in page
    assert 'value="100 GB"' in page


@pytest.mark.parametrize(
    ("field", "value", "untested"),
    [
        ("scratch_dataset_id", "imports_scratch", True),  # Test Connection checks it
        ("scratch_kms_key_name", "projects/p/locations/us/keyRings/r/cryptoKeys/k", False),
        ("maximum_bytes_billed", "5 GB", False),  # a limit changes no check's answer
    ],
)
def test_only_a_change_test_connection_checks_asks_for_a_new_test(
    alice_client, connection_a, field, value, untested
):
    Connection.objects.filter(pk=connection_a.pk).update(status=Connection.Status.OK)

    response = alice_client.post(
        edit_url(connection_a),
        {
            "name": connection_a.name,
            "project_id": connection_a.project_id,
            "dataset_id": connection_a.dataset_id,
            field: value,
        },
    )

    assert response.status_code == 302
    connection_a.refresh_from_db()
    expected = Connection.Status.UNTESTED if untested else Connection.Status.OK
    assert connection_a.status == expected
