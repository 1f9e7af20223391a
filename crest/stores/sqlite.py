"""The default store: one SQLite file, safe for many threads and processes on one host.

Layout. ``installations(member_id TEXT PRIMARY KEY, data TEXT, updated_at REAL)`` holds one
row per portal, ``data`` being :meth:`Installation.to_dict` as JSON, so a new field needs no
migration. The schema's steps are :data:`crest.migrations.steps.SQLITE_STORE`, recorded in the
file's ``crest_schema_version`` table (the event inbox, often in the same file, has its own row).

Durability. WAL with ``synchronous=FULL``: each ``save`` is one autocommit upsert that is on
disk when it returns. Refresh tokens are single-use, so losing the newest pair after a power
cut would kill the portal's chain; the extra fsync per refresh is cheap.

Locking. ``lock()`` holds an open ``BEGIN IMMEDIATE`` transaction on a second, otherwise
empty SQLite file next to the database (``<path>.lock``). SQLite takes its write lock with
``fcntl`` locks, which the kernel releases when the holder dies, even by SIGKILL, so a killed
holder never deadlocks the others; waiting uses SQLite's busy timeout, and a wait past the
timeout raises :class:`StoreError`. Holding the transaction on a *separate* file, not on the
database itself, matters: the database stays writable while a refresh is in flight (other
portals' saves, and the save inside the lock, commit at once instead of at unlock), and a
slow OAuth server cannot make unrelated writers hit their busy timeout. The lock covers the
whole store, not one portal: refreshes are rare and short, and SQLite has no finer lock that
the kernel would release on death. Threads of one process queue on an in-process lock first,
so only one connection per process ever waits on the file.

Connections are one per thread (and re-opened in a forked child). Keep the file on a local
disk: SQLite's locking is unreliable over NFS.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from crest.errors import StoreError
from crest.installation import Installation
from crest.migrations.sqlite import upgrade_sqlite
from crest.migrations.steps import SQLITE_STORE
from crest.stores.base import DEFAULT_LOCK_TIMEOUT, LockRegistry, ReentrantLock, single_installation

__all__ = ["SqliteStore"]

#: Writers to the database itself hold it for one upsert; waiting this long means trouble.
_BUSY_TIMEOUT_MS = 30_000

_REGISTRY = LockRegistry()


def create_private_file(path: str) -> None:
    """Create ``path`` with mode 0600 unless it exists, so SQLite never creates it with umask bits.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so they follow.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from exc
    os.close(fd)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED} or (
        "locked" in str(exc) or "busy" in str(exc)
    )


class _WriteTransactionLock:
    """``BEGIN IMMEDIATE`` held on the lock file: one holder across all processes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            create_private_file(self._path)
            # Used by one thread at a time: ReentrantLock lets only its owner reach here.
            self._connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._pid = os.getpid()
        return self._connection

    def acquire(self, timeout: float) -> None:
        try:
            connection = self._connect()
            connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise StoreError(f"timed out after {timeout:g} s waiting for {self._path}") from None
            raise StoreError(f"cannot lock {self._path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lock {self._path}: {exc}") from exc

    def forget(self) -> None:
        # fcntl locks belong to a process, so a forked child never holds the parent's lock;
        # SQLite forbids using (or closing) a connection across fork, so just drop it.
        self._connection = None

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute("ROLLBACK")  # nothing was written; this only unlocks
            except sqlite3.Error:
                # The connection is unusable; closing it releases the lock all the same.
                self._connection.close()
                self._connection = None


class SqliteStore:
    """Installations in SQLite (the default store). See the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_guard = threading.Lock()
        self._migrated = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- connections

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        # A connection inherited through fork must not be used in the child; open a new one.
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            create_private_file(str(self.path))
            info = os.stat(self.path, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                raise StoreError(f"{self.path} is not a regular file")
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            if not self._migrated:
                self._migrate(connection)
                self._migrated = True
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from exc
        self._local.connection = connection
        self._local.pid = os.getpid()
        with self._all_guard:
            self._all.append(connection)
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        # Concurrently safe and a no-op when up to date (crest.migrations).
        upgrade_sqlite(connection, "store", SQLITE_STORE)

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._all_guard:
            connections, self._all = self._all, []
        for connection in connections:
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        self._local = threading.local()

    # -- records

    def _parse(self, member_id: str, data: str) -> Installation:
        try:
            installation = Installation.from_dict(json.loads(data))
        except (ValueError, TypeError, AttributeError) as exc:
            raise StoreError(f"{self.path}: installation {member_id!r} is unreadable: {exc}") from None
        return installation

    def save(self, installation: Installation) -> None:
        data = json.dumps(installation.to_dict(), ensure_ascii=False, allow_nan=False)
        try:
            self._connection().execute(
                "INSERT INTO installations (member_id, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (member_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (installation.member_id, data, time.time()),
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save to {self.path}: {exc}") from exc

    def find(self, member_id: str | None = None) -> Installation | None:
        try:
            if member_id is None:
                rows = (
                    self._connection().execute("SELECT member_id, data FROM installations LIMIT 2").fetchall()
                )
                return single_installation(self._parse(key, data) for key, data in rows)
            row = (
                self._connection()
                .execute("SELECT member_id, data FROM installations WHERE member_id = ?", (member_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        return self._parse(row[0], row[1]) if row is not None else None

    def all_installations(self) -> list[Installation]:
        try:
            rows = self._connection().execute("SELECT member_id, data FROM installations ORDER BY member_id")
            return [self._parse(key, data) for key, data in rows.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def delete(self, member_id: str) -> None:
        try:
            self._connection().execute("DELETE FROM installations WHERE member_id = ?", (member_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete an installation in {self.path}: {exc}") from exc

    # -- locking

    def _gate(self) -> ReentrantLock:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Resolve the directory only: the lock file itself must be opened with O_NOFOLLOW.
        key = os.path.join(os.path.realpath(self.lock_path.parent), self.lock_path.name)
        return _REGISTRY.get(key, _WriteTransactionLock, name=str(self.lock_path))

    @contextlib.contextmanager
    def lock(self, member_id: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """The whole store's lock (``member_id`` does not narrow it): see the module docstring."""
        with self._gate().hold(timeout):
            yield
