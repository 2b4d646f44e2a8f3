from django.core.management.base import BaseCommand, CommandError

from connections.crypto import KeyDecryptionError
from connections.services import connections_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored service-account key with the first key in FERNET_KEYS. "
        "Run after putting a new key in front; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        try:
            count = connections_reencrypt()
        except KeyDecryptionError as exc:
            raise CommandError(str(exc)) from exc
        keys = "connection key" if count == 1 else "connection keys"
        self.stdout.write(f"Re-encrypted {count} {keys} with the newest Fernet key.")
