"""Run migrations on a SQLite connection (autocommit mode, ``isolation_level=None``)."""

from __future__ import annotations

import sqlite3
import time

from crest.migrations import Migration, pending

__all__ = ["current_version", "upgrade_sqlite"]

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS crest_schema_version (
    component  TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    applied_at REAL NOT NULL
)
"""


def current_version(db: sqlite3.Connection, component: str) -> int:
    """The component's recorded version; 0 when the file has none yet."""
    try:
        row = db.execute(
            "SELECT version FROM crest_schema_version WHERE component = ?", (component,)
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    return int(row[0]) if row else 0


def upgrade_sqlite(db: sqlite3.Connection, component: str, migrations: tuple[Migration, ...]) -> int:
    """Apply the steps this file lacks; returns the version it is at afterwards."""
    if not pending(component, current_version(db, component), migrations):
        return len(migrations)  # the common case: no write lock taken at all
    # IMMEDIATE: the write lock before reading the version, so two processes never both apply.
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_CREATE_TABLE)
        steps = pending(component, current_version(db, component), migrations)
        for step in steps:
            for statement in step.statements:
                db.execute(statement)
        db.execute(
            "INSERT INTO crest_schema_version (component, version, applied_at) VALUES (?, ?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
            (component, len(migrations), time.time()),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(migrations)
