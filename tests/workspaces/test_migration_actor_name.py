"""The audit entries written before actor_name existed get the name of their actor, so they
keep it when the account is deleted later; the system's entries stay without one."""

import pytest

from tests.fixtures.migrations import migrate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_schema"),
]

BEFORE = [("workspaces", "0002_invitation")]
AFTER = [("workspaces", "0003_auditentry_actor_name")]


def test_entries_written_before_the_upgrade_get_their_actors_name():
    old = migrate(BEFORE)
    workspace = old.get_model("workspaces", "Workspace").objects.create(
        name="Acme", slug="acme-actor-name"
    )
    user = old.get_model("auth", "User").objects.create(username="ada@acme.test")
    Entry = old.get_model("workspaces", "AuditEntry")
    for actor in (user, None):
        Entry.objects.create(
            workspace=workspace, actor=actor, action="connection.tested",
            target_type="connection", target_id="1", target_label="Warehouse",
        )  # fmt: skip

    new = migrate(AFTER)

    names = new.get_model("workspaces", "AuditEntry").objects.filter(workspace_id=workspace.pk)
    assert sorted(names.values_list("actor_name", flat=True)) == ["", "ada@acme.test"]
