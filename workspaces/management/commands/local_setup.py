import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from workspaces.models import Workspace
from workspaces.services import workspace_create

ADMIN_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "For the local run: make a first workspace and admin once, then say how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        password_file = Path(settings.BASE_DIR) / ".local-admin-password"
        if not Workspace.objects.exists():
            password = secrets.token_urlsafe(12)
            workspace_create(name="My Workspace", admin_email=ADMIN_EMAIL, admin_password=password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        self.stdout.write("")
        self.stdout.write(f"  Open {url}")
        if password_file.exists():
            self.stdout.write(f"  Sign in as {ADMIN_EMAIL} / {password_file.read_text().strip()}")
        else:
            self.stdout.write("  Sign in with an existing account (see create_workspace).")
        self.stdout.write("")
