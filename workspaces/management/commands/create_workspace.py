import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from workspaces.services import workspace_create


class Command(BaseCommand):
    help = "Create a workspace and its first admin (the user is created if the email is new)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Workspace name, e.g. 'Acme'.")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument(
            "--password",
            help="Password for a new admin user; one is generated and printed if omitted.",
        )
        parser.add_argument("--time-zone", default="UTC", help="IANA name, e.g. Europe/Berlin.")

    def handle(self, *args, name, admin_email, password, time_zone, **options):
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            workspace, user, created = workspace_create(
                name=name, admin_email=admin_email, admin_password=password, time_zone=time_zone
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Workspace '{workspace.name}' created (/w/{workspace.slug}/).")
        if created:
            shown = f" with password {password}" if generated else ""
            self.stdout.write(f"Admin user {user.username} created{shown}.")
        else:
            self.stdout.write(f"Existing user {user.username} is its admin.")
