"""Trigram indexes for the incident search (title and comments) on PostgreSQL.

`icontains` is `UPPER(col::text) LIKE UPPER('%word%')`; a GIN trigram index on that
expression answers it without reading a million rows. pg_trgm is a trusted extension, so
the database owner may create it; where that is refused the search still works, slower,
and the migration says so. SQLite has nothing to do.
"""

import logging

from django.db import migrations, transaction

log = logging.getLogger(__name__)

INDEXES = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS incidents_title_trgm ON incidents_incident "
    "USING gin ((UPPER(title::text)) gin_trgm_ops)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS incidents_event_text_trgm ON incidents_incidentevent "
    "USING gin ((UPPER(text::text)) gin_trgm_ops)",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - a refused extension only makes search slower
        log.warning("pg_trgm is not available (%s): incident search will scan", exc)
        return
    for sql in INDEXES:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS incidents_title_trgm")
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS incidents_event_text_trgm")


class Migration(migrations.Migration):
    # CONCURRENTLY: a big incident table keeps taking writes while the indexes build, and
    # that cannot run inside a transaction.
    atomic = False

    dependencies = [("incidents", "0007_opened_at_index")]

    operations = [migrations.RunPython(create, drop)]
