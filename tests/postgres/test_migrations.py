"""Schema migrations: a version table per database, each step once, safe when hosts start together."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from crest.cli import main
from crest.errors import StoreError
from crest.inbox import Inbox
from crest.inbox_postgres import PostgresInbox
from crest.migrations import Migration
from crest.migrations.postgres import upgrade_postgres
from crest.migrations.sqlite import upgrade_sqlite
from crest.stores import SqliteStore
from crest.stores.contract import MEMBER_A, make_installation
from crest.stores.postgres import PostgresStore

# A plan whose every step leaves a trace: a step run twice would leave two.
COUNTED: tuple[Migration, ...] = (
    Migration(1, "a table", ("CREATE TABLE counted (step integer NOT NULL)",)),
    Migration(2, "step 2", ("INSERT INTO counted VALUES (2)",)),
    Migration(3, "step 3", ("INSERT INTO counted VALUES (3)",)),
)


def _upgrade_postgres_in_child(url: str, go: Any, out: Any) -> None:
    go.wait(60)
    with psycopg.connect(url, autocommit=True) as connection:
        out.put(upgrade_postgres(connection, "counted", COUNTED))


def _upgrade_sqlite_in_child(path: str, go: Any, out: Any) -> None:
    go.wait(60)
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        out.put(upgrade_sqlite(db, "counted", COUNTED))
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_hosts_starting_together_run_each_step_once(kind: str, postgres_url: str, tmp_path: Path) -> None:
    target = postgres_url if kind == "postgres" else str(tmp_path / "crest.sqlite")
    worker = _upgrade_postgres_in_child if kind == "postgres" else _upgrade_sqlite_in_child
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(target, go, out)) for _ in range(6)]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert results == [3] * 6
    if kind == "postgres":
        with psycopg.connect(postgres_url) as db:
            steps = [row[0] for row in db.execute("SELECT step FROM counted ORDER BY step")]
            versions = db.execute("SELECT component, version FROM crest_schema_version").fetchall()
    else:
        lite = sqlite3.connect(target)
        steps = [row[0] for row in lite.execute("SELECT step FROM counted ORDER BY step")]
        versions = lite.execute("SELECT component, version FROM crest_schema_version").fetchall()
        lite.close()
    assert steps == [2, 3]
    assert versions == [("counted", 3)]


def test_a_failing_step_leaves_the_version_and_the_data_as_they_were(postgres_url: str) -> None:
    broken = (*COUNTED, Migration(4, "bad", ("INSERT INTO counted VALUES (4)", "SELECT no_such_column")))
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        upgrade_postgres(connection, "counted", COUNTED)
        with pytest.raises(psycopg.Error):
            upgrade_postgres(connection, "counted", broken)
        assert connection.execute("SELECT count(*) FROM counted").fetchone() == (2,)
        version = connection.execute("SELECT version FROM crest_schema_version WHERE component = 'counted'")
        assert version.fetchone() == (3,)


def test_a_database_newer_than_the_code_is_refused_clearly(postgres_url: str, tmp_path: Path) -> None:
    PostgresStore(postgres_url).save(make_installation())
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE crest_schema_version SET version = 99 WHERE component = 'store'")
    with pytest.raises(StoreError, match="newer than this crest"):
        PostgresStore(postgres_url).find(MEMBER_A)
    path = tmp_path / "crest.sqlite"
    SqliteStore(path).save(make_installation())
    lite = sqlite3.connect(path)
    lite.execute("UPDATE crest_schema_version SET version = 99 WHERE component = 'store'")
    lite.commit()
    lite.close()
    with pytest.raises(StoreError, match="newer than this crest"):
        SqliteStore(path).find(MEMBER_A)


def _legacy_sqlite_file(path: Path) -> None:
    """A file as the code before the version table left it: user_version 1, the old DDL."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE installations (member_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);
        PRAGMA user_version = 1;
        CREATE TABLE IF NOT EXISTS crest_inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, body_hash TEXT NOT NULL UNIQUE, body BLOB NOT NULL,
            content_type TEXT NOT NULL, event TEXT NOT NULL, member_id TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'online', state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, due_at REAL NOT NULL, lease_owner TEXT,
            lease_until REAL, last_error TEXT, received_at REAL NOT NULL, done_at REAL
        );
        CREATE INDEX IF NOT EXISTS crest_inbox_due ON crest_inbox (state, due_at);
        CREATE TABLE IF NOT EXISTS crest_offline_process (
            member_id TEXT PRIMARY KEY, process_id TEXT NOT NULL, started_at REAL NOT NULL
        );
        """
    )
    db.execute(
        "INSERT INTO installations VALUES (?, ?, 0)", (MEMBER_A, json.dumps(make_installation().to_dict()))
    )
    db.execute(
        "INSERT INTO crest_inbox (body_hash, body, content_type, event, member_id, due_at, received_at)"
        " VALUES ('h', x'00', 'text/plain', 'E', ?, 0, 0)",
        (MEMBER_A,),
    )
    db.commit()
    db.close()


def test_crest_db_upgrade_adopts_a_file_made_before_migrations(tmp_path: Path) -> None:
    path = tmp_path / "crest.sqlite"
    _legacy_sqlite_file(path)
    runner = CliRunner()
    status = runner.invoke(main, ["db", "status", "--store", f"sqlite:{path}"])
    assert status.exit_code == 1 and "1 step(s) waiting" in status.output
    done = runner.invoke(main, ["db", "upgrade", "--store", f"sqlite:{path}"])
    assert done.exit_code == 0, done.output
    assert "store: SQLite" in done.output and "version 1 (upgraded from 0)" in done.output
    again = runner.invoke(main, ["db", "upgrade", "--store", f"sqlite:{path}"])
    assert again.output.count("(up to date)") == 2
    assert runner.invoke(main, ["db", "status", "--store", f"sqlite:{path}"]).exit_code == 0
    # Nothing was lost on the way.
    assert SqliteStore(path).find(MEMBER_A) == make_installation()
    assert Inbox(path).counts()["pending"] == 1


def test_crest_db_upgrade_on_postgres_from_the_environment(postgres_url: str) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["db", "upgrade"], env={"CREST_STORE": postgres_url})
    assert done.exit_code == 0, done.output
    assert done.output.count("upgraded from 0") == 3
    for component in ("store", "inbox", "limiter"):
        assert f"{component}: PostgreSQL" in done.output
    assert "secret" not in done.output
    status = runner.invoke(main, ["db", "status"], env={"CREST_STORE": postgres_url})
    assert status.exit_code == 0 and status.output.count("(up to date)") == 3
    # The schema is the one the store and the inbox use.
    PostgresStore(postgres_url).save(make_installation())
    assert PostgresInbox(postgres_url).counts()["pending"] == 0


def test_crest_db_upgrade_unreachable_server_is_one_clear_line() -> None:
    done = CliRunner().invoke(main, ["db", "upgrade", "--store", "postgresql://u:pw-s3cret@127.0.0.1:1/x"])
    assert done.exit_code == 1
    assert "cannot connect" in done.output
    assert "pw-s3cret" not in done.output and "Traceback" not in done.output


def test_json_and_memory_stores_have_no_schema(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["db", "upgrade", "--store", "memory:"])
    assert done.exit_code == 0 and "keeps no schema" in done.output
