from django.contrib import admin

from workspaces.models import AuditEntry, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "target_type", "target_label"]
    list_filter = ["action", "target_type"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
