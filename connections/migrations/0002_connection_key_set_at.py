import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def keys_set_when_connected(apps, schema_editor):
    """Existing keys: the best known date is when the connection was made."""
    Connection = apps.get_model("connections", "Connection")
    Connection.objects.update(key_set_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="key_set_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="Key saved on"
            ),
        ),
        migrations.RunPython(keys_set_when_connected, migrations.RunPython.noop),
    ]
