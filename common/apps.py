from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Helpers every app may use and that use no app: widgets, pagination, the sliding-window
    limits, streamed CSV, validators, and the project's middleware and cache backend."""

    name = "common"
