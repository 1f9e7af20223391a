"""Schema migrations: numbered steps per component, recorded in one version table.

Each database that crest writes (a SQLite file, a PostgreSQL database) holds a table
``crest_schema_version(component, version, applied_at)``: one row per component (``store``,
``inbox``), the number of the last step applied. Opening a store or an inbox upgrades its
component; ``crest db upgrade`` does the same ahead of a deployment. An upgrade takes the
database's write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock) before it reads
the version, so processes starting together run each step exactly once, and a step and its
version row commit together or not at all.

Steps are plain SQL in :mod:`crest.migrations.steps`; the runners are in
:mod:`crest.migrations.sqlite` and :mod:`crest.migrations.postgres`.
"""

from __future__ import annotations

from dataclasses import dataclass

from crest.errors import StoreError

__all__ = ["VERSION_TABLE", "Migration", "check_plan", "pending"]

VERSION_TABLE = "crest_schema_version"


@dataclass(frozen=True)
class Migration:
    """Step ``version`` of a component: statements run in one transaction, in order."""

    version: int
    description: str
    statements: tuple[str, ...]


def check_plan(migrations: tuple[Migration, ...]) -> None:
    """Steps must be numbered 1, 2, 3... with no gap, or a database could skip one."""
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migration steps must be numbered 1..n in order, got {numbers}")


def pending(component: str, current: int, migrations: tuple[Migration, ...]) -> tuple[Migration, ...]:
    """The steps after ``current``; an error when the database is newer than this code."""
    latest = len(migrations)
    if current > latest:
        raise StoreError(
            f"the database's {component} schema is version {current}, newer than this crest knows ({latest})",
            hint="Upgrade b24-crest on this host: another host has already migrated the database.",
        )
    return migrations[current:]
