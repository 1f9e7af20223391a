"""The schema steps, per database kind and component. Append new steps; never edit old ones.

Step 1 of each SQLite component uses ``IF NOT EXISTS``: files made before the version table
existed already hold those tables, and adopting them must not fail.
"""

from __future__ import annotations

from crest.migrations import Migration, check_plan

__all__ = ["POSTGRES_INBOX", "POSTGRES_LIMITER", "POSTGRES_STORE", "SQLITE_INBOX", "SQLITE_STORE"]

SQLITE_STORE: tuple[Migration, ...] = (
    Migration(
        1,
        "installations: one JSON record per portal",
        (
            """
            CREATE TABLE IF NOT EXISTS installations (
                member_id  TEXT PRIMARY KEY,
                data       TEXT NOT NULL,   -- Installation.to_dict() as JSON
                updated_at REAL NOT NULL    -- Unix seconds of the last save
            )
            """,
        ),
    ),
)

SQLITE_INBOX: tuple[Migration, ...] = (
    Migration(
        1,
        "event inbox and offline-recovery bookkeeping",
        (
            """
            CREATE TABLE IF NOT EXISTS crest_inbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                body_hash TEXT NOT NULL UNIQUE,
                body BLOB NOT NULL,
                content_type TEXT NOT NULL,
                event TEXT NOT NULL,
                member_id TEXT NOT NULL,
                source TEXT NOT NULL DEFAULT 'online',
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                due_at REAL NOT NULL,
                lease_owner TEXT,
                lease_until REAL,
                last_error TEXT,
                received_at REAL NOT NULL,
                done_at REAL
            )
            """,
            "CREATE INDEX IF NOT EXISTS crest_inbox_due ON crest_inbox (state, due_at)",
            """
            CREATE TABLE IF NOT EXISTS crest_offline_process (
                member_id TEXT PRIMARY KEY,
                process_id TEXT NOT NULL,
                started_at REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        2,
        "the change each event is about, so copies of one change are stored once",
        (
            "ALTER TABLE crest_inbox ADD COLUMN change_key TEXT",
            "CREATE INDEX crest_inbox_change_key ON crest_inbox (change_key) WHERE change_key IS NOT NULL",
        ),
    ),
)

POSTGRES_STORE: tuple[Migration, ...] = (
    Migration(
        1,
        "installations: one JSON record per portal",
        (
            """
            CREATE TABLE crest_installations (
                member_id  text PRIMARY KEY,
                data       jsonb NOT NULL,             -- Installation.to_dict()
                updated_at double precision NOT NULL   -- Unix seconds of the last save
            )
            """,
        ),
    ),
)

POSTGRES_INBOX: tuple[Migration, ...] = (
    Migration(
        1,
        "event inbox and offline-recovery bookkeeping",
        (
            """
            CREATE TABLE crest_inbox (
                id bigserial PRIMARY KEY,
                body_hash text NOT NULL UNIQUE,        -- SHA-256 of the raw body: de-duplication
                body bytea NOT NULL,
                content_type text NOT NULL,
                event text NOT NULL,
                member_id text NOT NULL,
                source text NOT NULL DEFAULT 'online',
                state text NOT NULL DEFAULT 'pending',
                attempts integer NOT NULL DEFAULT 0,
                due_at double precision NOT NULL,
                lease_owner text,
                lease_until double precision,
                last_error text,
                received_at double precision NOT NULL,
                done_at double precision
            )
            """,
            "CREATE INDEX crest_inbox_due ON crest_inbox (state, due_at)",
            """
            CREATE TABLE crest_offline_process (
                member_id text PRIMARY KEY,
                process_id text NOT NULL,
                started_at double precision NOT NULL
            )
            """,
        ),
    ),
    Migration(
        2,
        "the change each event is about, so copies of one change are stored once",
        (
            "ALTER TABLE crest_inbox ADD COLUMN change_key text",
            "CREATE INDEX crest_inbox_change_key ON crest_inbox (change_key) WHERE change_key IS NOT NULL",
        ),
    ),
)

POSTGRES_LIMITER: tuple[Migration, ...] = (
    Migration(
        1,
        "one leaky bucket and one operating-time budget per portal, shared by every host",
        (
            """
            CREATE TABLE crest_rate_bucket (
                portal     text PRIMARY KEY,            -- the portal's host, lower case
                level      double precision NOT NULL,   -- reserved slots, drained at the plan's rate
                updated_at double precision NOT NULL    -- server time (Unix s) of the last change
            )
            """,
            """
            CREATE TABLE crest_operating_use (
                portal  text NOT NULL,
                method  text NOT NULL,
                at      double precision NOT NULL,      -- server time the answer was seen
                seconds double precision NOT NULL       -- the answer's time.processing
            )
            """,
            "CREATE INDEX crest_operating_use_window ON crest_operating_use (portal, method, at)",
            """
            CREATE TABLE crest_operating_state (
                portal          text NOT NULL,
                method          text NOT NULL,
                server_used     double precision NOT NULL DEFAULT 0,  -- time.operating
                server_reset_at double precision NOT NULL DEFAULT 0,  -- time.operating_reset_at
                paused_until    double precision NOT NULL DEFAULT 0,  -- after a 429
                PRIMARY KEY (portal, method)
            )
            """,
        ),
    ),
)

for _plan in (SQLITE_STORE, SQLITE_INBOX, POSTGRES_STORE, POSTGRES_INBOX, POSTGRES_LIMITER):
    check_plan(_plan)
