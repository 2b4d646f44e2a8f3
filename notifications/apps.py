from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from imports.signals import run_finished
        from notifications.receivers import on_run_finished

        run_finished.connect(on_run_finished, dispatch_uid="notifications.run_finished")
