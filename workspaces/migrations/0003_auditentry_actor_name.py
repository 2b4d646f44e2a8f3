from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def name_the_actors(apps, schema_editor):
    """Entries written before: the name of an actor whose account still exists."""
    AuditEntry = apps.get_model("workspaces", "AuditEntry")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    AuditEntry.objects.filter(actor__isnull=False).update(
        actor_name=Subquery(User.objects.filter(pk=OuterRef("actor_id")).values("username")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("workspaces", "0002_invitation"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="actor_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunPython(name_the_actors, migrations.RunPython.noop),
    ]
