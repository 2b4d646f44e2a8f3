"""The audit entries written before actor_name existed get the name of their actor, so they
keep it when the account is deleted later; the system's entries stay without one."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("workspaces", "0002_invitation")]
AFTER = [("workspaces", "0003_auditentry_actor_name")]


@pytest.fixture(autouse=True)
def back_to_the_latest_schema():
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


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
