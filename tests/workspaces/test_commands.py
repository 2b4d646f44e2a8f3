import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from workspaces.models import Membership, Workspace


def test_create_workspace_makes_the_workspace_and_its_admin(db, capsys):
    call_command("create_workspace", "Acme Corp", "--admin-email", "ada@acme.test")

    workspace = Workspace.objects.get(slug="acme-corp")
    membership = Membership.objects.get(workspace=workspace)
    assert membership.user.username == "ada@acme.test"
    assert membership.role == Membership.Role.ADMIN
    assert "with password" in capsys.readouterr().out


def test_create_workspace_reuses_an_existing_user_and_a_free_slug(db, alice, workspace_a):
    call_command("create_workspace", "Acme", "--admin-email", "ALICE@acme.test")

    assert Workspace.objects.filter(slug="acme-2").exists()
    assert get_user_model().objects.count() == 1


def test_create_workspace_refuses_an_unknown_time_zone(db):
    with pytest.raises(CommandError, match="not a known IANA time zone"):
        call_command(
            "create_workspace", "X", "--admin-email", "x@x.test", "--time-zone", "Mars/Base"
        )
    assert not Workspace.objects.exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ada", "'ada' is not an email address: give the admin's, such as ada@example.com."),
        ("", "'' is not an email address"),
        (
            "a" * 141 + "@acme.test",
            "The admin's email address may have at most 150 characters, as the account is "
            "named by it; this one has 151.",
        ),
    ],
)
def test_create_workspace_refuses_an_admin_address_no_one_could_sign_in_with(db, address, message):
    with pytest.raises(CommandError) as refused:
        call_command("create_workspace", "Acme", "--admin-email", address)

    assert str(refused.value).startswith(message)
    assert not Workspace.objects.exists()
    assert not get_user_model().objects.exists()


def test_an_admin_address_of_150_characters_is_taken(db):
    address = "a" * 140 + "@acme.test"

    call_command("create_workspace", "Acme", "--admin-email", address)

    assert Membership.objects.get().user.username == address


def test_the_hosts_localtime_is_not_a_workspace_time_zone():
    from django.core.exceptions import ValidationError

    from workspaces.models import validate_time_zone

    validate_time_zone("Europe/Berlin")
    with pytest.raises(ValidationError):
        validate_time_zone("localtime")


def test_a_name_with_no_letters_for_a_slug_gets_a_plain_one(db):
    from workspaces.services import workspace_create

    first, _, _ = workspace_create(name="!!!", admin_email="a@example.test", admin_password="x")
    second, _, _ = workspace_create(name="日本", admin_email="a@example.test", admin_password="x")

    assert (first.slug, second.slug) == ("workspace", "workspace-2")
