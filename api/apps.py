from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api import schema  # noqa: F401 - registers the token scheme with drf-spectacular
        from api.receivers import on_member_removed
        from workspaces.signals import member_removed

        member_removed.connect(on_member_removed, dispatch_uid="api-revoke-removed-members-tokens")
