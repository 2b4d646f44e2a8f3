"""For the demo run: a service-account key for the local stand-ins and a ready connection."""

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connections.keyfile import GOOGLE_TOKEN_URIS, parse_service_account_key
from connections.models import Connection
from connections.services import connection_create
from workspaces.models import Membership

DEMO_PROJECT = "demo-project"
DEMO_DATASET = "demo"
DEMO_ACCOUNT = f"demo-importer@{DEMO_PROJECT}.iam.gserviceaccount.com"


def demo_key_info() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": DEMO_PROJECT,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": DEMO_ACCOUNT,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": GOOGLE_TOKEN_URIS[0],
        "universe_domain": "googleapis.com",
    }


class Command(BaseCommand):
    help = (
        "Make the demo key (if missing) and a 'Demo warehouse' connection in the first workspace."
    )

    def add_arguments(self, parser):
        parser.add_argument("--key-file", default=".demo/service-account.json")

    def handle(self, *args, key_file, **options):
        path = Path(settings.BASE_DIR) / key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(demo_key_info(), indent=2))
            path.chmod(0o600)
        membership = (
            Membership.objects.filter(role=Membership.Role.ADMIN)
            .select_related("workspace", "user")
            .order_by("created_at")
            .first()
        )
        if membership is None:
            raise CommandError("No workspace yet: run `manage.py local_setup` first.")
        workspace = membership.workspace
        if not Connection.objects.filter(
            workspace=workspace, name__iexact="Demo warehouse"
        ).exists():
            key = parse_service_account_key(path.read_bytes(), allowed_token_uris=GOOGLE_TOKEN_URIS)
            connection_create(
                workspace=workspace,
                created_by=membership.user,
                name="Demo warehouse",
                project_id=DEMO_PROJECT,
                dataset_id=DEMO_DATASET,
                key=key,
            )
        self.stdout.write(
            f"  Demo: connection 'Demo warehouse' ({DEMO_PROJECT}/{DEMO_DATASET}, tables users "
            "and events) is ready in the first workspace."
        )
