from django.core.management.base import BaseCommand

from notifications.services import webhooks_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every webhook URL and signing secret with the newest key in FERNET_KEYS "
        "(run after rotate_connection_keys, before dropping an old key)."
    )

    def handle(self, *args, **options):
        count = webhooks_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} webhook(s)."))
