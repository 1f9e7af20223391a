"""``crest db``: the schema of the store and the event inbox (``upgrade``, ``status``).

Stores and inboxes upgrade their own schema on first use, so ``upgrade`` is never required;
it is there to migrate once, on purpose, before new code rolls out to many hosts (and to see
that it worked). A PostgreSQL store's database also gets the shared limiter's tables. Both commands read the store and inbox from the settings (``--store`` and
``--inbox`` override them). JSON and memory stores keep no schema and are reported as such.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from crest.errors import CrestError
from crest.migrations import Migration
from crest.migrations.steps import (
    POSTGRES_INBOX,
    POSTGRES_LIMITER,
    POSTGRES_STORE,
    SQLITE_INBOX,
    SQLITE_STORE,
)

__all__ = ["Target", "db_group", "targets", "upgrade_target"]


@dataclass(frozen=True)
class Target:
    """One component's schema in one database: ``kind`` is ``"sqlite"`` or ``"postgres"``."""

    component: str
    kind: str
    where: str

    def label(self) -> str:
        if self.kind == "postgres":
            from crest.stores.postgres import redact

            return f"{self.component}: PostgreSQL {redact(self.where)}"
        return f"{self.component}: SQLite {self.where}"

    @property
    def plan(self) -> tuple[Migration, ...]:
        plans = {
            ("store", "sqlite"): SQLITE_STORE,
            ("inbox", "sqlite"): SQLITE_INBOX,
            ("store", "postgres"): POSTGRES_STORE,
            ("inbox", "postgres"): POSTGRES_INBOX,
            ("limiter", "postgres"): POSTGRES_LIMITER,
        }
        return plans[(self.component, self.kind)]


def _is_postgres(text: str) -> bool:
    return text.lower().startswith(("postgresql://", "postgres://"))


def targets(store: str, inbox: str | None) -> tuple[list[Target], list[str]]:
    """The schemas a store and inbox setting name, and notes on the parts that have none."""
    from crest.inbox import inbox_path
    from crest.stores import SqliteStore, open_store

    found: list[Target] = []
    notes: list[str] = []
    if _is_postgres(store):
        found.append(Target("store", "postgres", store))
        # The shared limiter (CREST_LIMITER) usually lives in the store's database too.
        found.append(Target("limiter", "postgres", store))
    else:
        opened = open_store(store)  # only parses the setting: nothing is opened yet
        if isinstance(opened, SqliteStore):
            found.append(Target("store", "sqlite", str(opened.path)))
        else:
            notes.append(f"store: {type(opened).__name__} keeps no schema")
    where = inbox or store
    if _is_postgres(where):
        found.append(Target("inbox", "postgres", where))
    else:
        path = Path(where) if inbox else inbox_path(store)
        if path is None:
            notes.append("inbox: a temporary file, made fresh by each process")
        else:
            found.append(Target("inbox", "sqlite", str(path)))
    return found, notes


def _with_connection(target: Target, work: Callable[[Any], int]) -> int:
    if target.kind == "postgres":
        from crest.stores.postgres import connect

        with connect(target.where) as connection:
            return work(connection)
    from crest.stores.sqlite import create_private_file

    Path(target.where).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private_file(target.where)
    db = sqlite3.connect(target.where, isolation_level=None, timeout=30.0)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # what the store and inbox set on open
        return work(db)
    finally:
        db.close()


def current_of(target: Target) -> int:
    if target.kind == "postgres":
        from crest.migrations.postgres import current_version as pg_version

        return _with_connection(target, lambda c: pg_version(c, target.component))
    from crest.migrations.sqlite import current_version as sqlite_version

    return _with_connection(target, lambda c: sqlite_version(c, target.component))


def upgrade_target(target: Target) -> tuple[int, int]:
    """Bring one schema up to date; (version before, version after)."""
    if target.kind == "postgres":
        from crest.migrations.postgres import current_version as pg_version
        from crest.migrations.postgres import upgrade_postgres

        def pg(connection: Any) -> int:
            before = pg_version(connection, target.component)
            upgrade_postgres(connection, target.component, target.plan)
            return before

        return _with_connection(target, pg), len(target.plan)
    from crest.migrations.sqlite import current_version as sqlite_version
    from crest.migrations.sqlite import upgrade_sqlite

    def lite(db: sqlite3.Connection) -> int:
        before = sqlite_version(db, target.component)
        upgrade_sqlite(db, target.component, target.plan)
        return before

    return _with_connection(target, lite), len(target.plan)


def _resolve(settings_path: str | None, store: str | None, inbox: str | None) -> tuple[str, str | None]:
    if store is not None:
        return store, inbox
    from crest.settings import Settings

    settings = Settings.load(settings_path)
    return settings.store, inbox if inbox is not None else settings.inbox


def _database_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [CrestError, sqlite3.Error, OSError]
    try:
        import psycopg
    except ImportError:
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)


_options = [
    click.option("--settings", "settings_path", default=None, help="settings.py to load."),
    click.option("--store", default=None, help="Store setting (default: from the settings)."),
    click.option("--inbox", default=None, help="Inbox file or URL (default: beside or inside the store)."),
]


def _with_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_options):
        command = option(command)
    return command


@click.group("db")
def db_group() -> None:
    """The schema of the store and the event inbox."""


@db_group.command("upgrade")
@_with_options
def upgrade_command(settings_path: str | None, store: str | None, inbox: str | None) -> None:
    """Apply the schema steps the store and inbox lack (safe to run on many hosts at once)."""
    try:
        store_setting, inbox_setting = _resolve(settings_path, store, inbox)
        found, notes = targets(store_setting, inbox_setting)
        for target in found:
            before, after = upgrade_target(target)
            state = "up to date" if before == after else f"upgraded from {before}"
            click.echo(f"{target.label()}: version {after} ({state})")
    except _database_errors() as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(note)


@db_group.command("status")
@_with_options
def status_command(settings_path: str | None, store: str | None, inbox: str | None) -> None:
    """Show each schema's version and whether steps are waiting (changes nothing)."""
    behind = False
    try:
        store_setting, inbox_setting = _resolve(settings_path, store, inbox)
        found, notes = targets(store_setting, inbox_setting)
        for target in found:
            if target.kind == "sqlite" and not os.path.exists(target.where):
                current = 0
            else:
                current = current_of(target)
            latest = len(target.plan)
            behind = behind or current < latest
            state = "up to date" if current == latest else f"{latest - current} step(s) waiting"
            if current > latest:
                state = f"newer than this crest ({latest}): upgrade b24-crest"
            click.echo(f"{target.label()}: version {current} ({state})")
    except _database_errors() as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(note)
    if behind:
        raise SystemExit(1)  # for deploy scripts: "run crest db upgrade"
