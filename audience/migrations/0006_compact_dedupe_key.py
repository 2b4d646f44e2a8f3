"""Event dedupe keys: 64 hex characters -> a 16-byte uuid (the first 128 bits of the same
SHA-256), so the unique index every event write checks is less than half the size.

A stored key keeps its first 32 hex digits, which is exactly what the new code computes
for the same row, so a replay after the upgrade still writes nothing. Going back restores
the column as text with those 32 digits: the older code hashes to 64, so after a downgrade
a replayed event is stored a second time."""

from django.db import migrations, models


def shorten_keys(apps, schema_editor):
    connection = schema_editor.connection
    table = connection.ops.quote_name(apps.get_model("audience", "Event")._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One rewrite: the type change converts the kept digits to uuid as it goes.
            cursor.execute(
                f"ALTER TABLE {table} ALTER COLUMN dedupe_key TYPE uuid "
                "USING substr(dedupe_key, 1, 32)::uuid"
            )
        else:
            # Django's UUIDField keeps 32 hex digits (no dashes) where there is no uuid type.
            cursor.execute(f"UPDATE {table} SET dedupe_key = lower(substr(dedupe_key, 1, 32))")


def widen_keys(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return  # the column is text there already
    table = connection.ops.quote_name(apps.get_model("audience", "Event")._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN dedupe_key TYPE varchar(64) "
            "USING replace(dedupe_key::text, '-', '')"
        )


class Migration(migrations.Migration):
    dependencies = [("audience", "0005_identity_1024")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(shorten_keys, widen_keys)],
            state_operations=[
                migrations.AlterField(
                    model_name="event", name="dedupe_key", field=models.UUIDField()
                )
            ],
        )
    ]
