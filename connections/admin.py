from django.contrib import admin

from connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Read-only view for operators; the encrypted key is not even listed."""

    list_display = ["name", "workspace", "project_id", "dataset_id", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "project_id", "dataset_id", "client_email"]
    exclude = ["encrypted_key", "last_test_result"]
    readonly_fields = [
        f.name
        for f in Connection._meta.fields
        if f.name not in {"encrypted_key", "last_test_result"}
    ]

    def has_add_permission(self, request) -> bool:
        return False
