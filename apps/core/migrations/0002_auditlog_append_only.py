"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit log, whatever the caller.

TRUNCATE stays possible: it is what a database flush (tests, a wiped install) uses, and no
application code path issues it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION core_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'core_auditlog is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS core_auditlog_append_only ON core_auditlog;
CREATE TRIGGER core_auditlog_append_only
    BEFORE UPDATE OR DELETE ON core_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION core_auditlog_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS core_auditlog_append_only ON core_auditlog;
DROP FUNCTION IF EXISTS core_auditlog_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # None: psycopg must not read the % in the SQL as a parameter


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
