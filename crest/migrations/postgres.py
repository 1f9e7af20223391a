"""Run migrations on a PostgreSQL connection (psycopg 3), under a database-wide advisory lock."""

from __future__ import annotations

import time
from typing import Any

from crest.migrations import Migration, pending

__all__ = ["MIGRATION_LOCK", "current_version", "upgrade_postgres"]

#: The advisory lock key of schema upgrades (any constant unlikely to clash with an app's own).
MIGRATION_LOCK = 0x637265737431  # "crest1"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS crest_schema_version (
    component  text PRIMARY KEY,
    version    integer NOT NULL,
    applied_at double precision NOT NULL
)
"""


def current_version(connection: Any, component: str) -> int:
    """The component's recorded version; 0 when the database has none yet."""
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", ("crest_schema_version",)).fetchone()
    if not row[0]:
        return 0
    found = connection.execute(
        "SELECT version FROM crest_schema_version WHERE component = %s", (component,)
    ).fetchone()
    return int(found[0]) if found else 0


def upgrade_postgres(connection: Any, component: str, migrations: tuple[Migration, ...]) -> int:
    """Apply the steps this database lacks, in one transaction; returns the version afterwards.

    ``connection`` is a psycopg connection in autocommit mode. The advisory lock serialises
    upgrades from every host; ``CREATE TABLE IF NOT EXISTS`` alone is not safe concurrently.
    """
    if not pending(component, current_version(connection, component), migrations):
        return len(migrations)
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute(_CREATE_TABLE)
        for step in pending(component, current_version(connection, component), migrations):
            for statement in step.statements:
                connection.execute(statement)
        connection.execute(
            "INSERT INTO crest_schema_version (component, version, applied_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
            (component, len(migrations), time.time()),
        )
    return len(migrations)
