from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"

    def ready(self) -> None:
        from imports.workspace_zone import on_time_zone_changed
        from workspaces.signals import time_zone_changed

        time_zone_changed.connect(on_time_zone_changed, dispatch_uid="imports-follow-time-zone")
