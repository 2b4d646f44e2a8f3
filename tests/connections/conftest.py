import pytest

from connections import services
from connections.keyfile import parse_service_account_key
from tests.factories import GOOGLE_TOKEN_URI, key_info


def make_connection(workspace, user, name="Warehouse", *, info=None, **fields):
    import json

    info = info or key_info()
    key = parse_service_account_key(json.dumps(info), allowed_token_uris=[GOOGLE_TOKEN_URI])
    return services.connection_create(
        workspace=workspace,
        created_by=user,
        name=name,
        project_id=fields.get("project_id", "analytics-prod"),
        dataset_id=fields.get("dataset_id", "events_v2"),
        key=key,
    )


@pytest.fixture
def saved_key():
    return key_info()


@pytest.fixture
def connection_a(workspace_a, alice, saved_key):
    return make_connection(workspace_a, alice, info=saved_key)


@pytest.fixture
def connection_b(workspace_b, charlie):
    return make_connection(workspace_b, charlie, name="Globex warehouse")
