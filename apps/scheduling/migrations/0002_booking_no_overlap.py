"""On PostgreSQL, no two confirmed bookings of one resource may overlap: an exclusion
constraint over (resource, [start, end)) with btree_gist, whatever writes the rows. SQLite
has no such constraint; there the services' check runs inside an IMMEDIATE transaction."""

from django.db import migrations

CONSTRAINT = "scheduling_booking_no_overlap"


def add_exclusion(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("scheduling", "Booking")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        '(resource_id WITH =, tstzrange("start", "end", \'[)\') WITH &&) '
        "WHERE (status = 'confirmed')"
    )


def drop_exclusion(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("scheduling", "Booking")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(add_exclusion, drop_exclusion, elidable=False)]
