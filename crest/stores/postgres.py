"""The store for many hosts: one PostgreSQL database shared by every app host and worker.

``CREST_STORE=postgresql://user:password@db.internal/crest`` (``postgres://`` too; any libpq
URL). Needs the ``postgres`` extra (psycopg 3); ``crest`` itself imports without it.

Layout. ``crest_installations(member_id text PRIMARY KEY, data jsonb, updated_at)``: one row
per portal, ``data`` being :meth:`Installation.to_dict`. The schema's steps are
:data:`crest.migrations.steps.POSTGRES_STORE`, applied once on first use (or by
``crest db upgrade``). Each ``save`` is one upsert, atomic for every reader.

Locking. ``lock(member_id)`` is a transaction holding ``pg_advisory_xact_lock`` on a hash of
``member_id``: one holder per portal across all hosts, released by the server at commit or
when the holder's connection dies (a SIGKILLed process, a lost host), so nothing is left
locked. While a thread holds it, that thread's ``find``/``save``/``delete`` run *in* the lock's
transaction, so a renewal (re-read, refresh once, save) commits as one unit at unlock. The
wait is bounded by ``lock_timeout``; past it :class:`StoreError` is raised. Threads of one
process queue on an in-process lock first, so a process holds at most one server connection
per portal lock. A hash collision between two portals only makes them share a lock.

Connections. One autocommit connection per thread (re-opened in a forked child, whose
inherited sockets are pointed at ``/dev/null`` first so that closing them there never ends
the parent's sessions), plus one per lock being held; a released lock's connection waits,
with at most three others, for the next lock of any portal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from crest.errors import StoreError
from crest.installation import Installation
from crest.migrations.postgres import upgrade_postgres
from crest.migrations.steps import POSTGRES_STORE
from crest.stores.base import DEFAULT_LOCK_TIMEOUT, LockRegistry, ReentrantLock, single_installation

__all__ = ["PostgresStore", "connect", "is_postgres_url", "redact"]

#: First half of the two-key advisory lock: marks crest's renewal locks ("CRES").
_LOCK_CLASS = 0x43524553
_CONNECT_TIMEOUT = 10

_URL_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)

_REGISTRY = LockRegistry()
_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()


#: Idle lock connections per URL, reused by the next lock of any portal: a process serving
#: thousands of portals must not keep a connection open for each one it ever renewed.
class _IdleLockConnections:
    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.by_url: dict[str, list[Any]] = {}


_IDLE = _IdleLockConnections()
_IDLE_MAX = 4


def is_postgres_url(text: str) -> bool:
    return text.lower().startswith(_URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and ``repr``."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", url))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a postgresql:// store needs psycopg 3",
            hint="pip install 'b24-crest[postgres]'",
        ) from None
    return psycopg


def connect(url: str, *, autocommit: bool = True) -> Any:
    """A psycopg connection to ``url``; a clear :class:`StoreError` when it cannot be had."""
    psycopg = _psycopg()
    try:
        connection = psycopg.connect(url, autocommit=autocommit, connect_timeout=_CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redact(url)}: {_first_line(exc)}") from None
    _OPEN.add(connection)
    return connection


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _orphan_inherited_connections() -> None:
    # A forked child shares its parent's sockets. Closing a psycopg connection (explicitly or
    # when it is garbage-collected) sends the server a Terminate message, which would end the
    # *parent's* session; pointing the child's copy of each socket at /dev/null makes that
    # harmless while the parent's descriptor stays untouched.
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for connection in list(_OPEN):
            with contextlib.suppress(Exception):
                os.dup2(devnull, connection.fileno())
    finally:
        os.close(devnull)
    _OPEN.clear()
    # Fresh, not cleared: another thread may have held the guard at the fork.
    _IDLE.__init__()  # type: ignore[misc]


os.register_at_fork(after_in_child=_orphan_inherited_connections)


def _lock_key(member_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(member_id.encode(), digest_size=4).digest(), "big", signed=True)


class _Holding(threading.local):
    """Per thread: the lock transactions it holds, innermost last, as (url, connection)."""

    def __init__(self) -> None:
        self.transactions: list[tuple[str, Any]] = []


_HOLDING = _Holding()


class _AdvisoryLock:
    """The inter-process half of ``lock()``: a transaction holding the portal's advisory lock."""

    def __init__(self, url: str, member_id: str) -> None:
        self._url = url
        self._key = _lock_key(member_id)
        self._connection: Any = None

    def _take_connection(self) -> Any:
        with _IDLE.guard:
            idle = _IDLE.by_url.get(self._url, [])
            while idle:
                connection = idle.pop()
                if not connection.closed:
                    return connection
        return connect(self._url, autocommit=False)

    def _give_back(self, connection: Any) -> None:
        with _IDLE.guard:
            idle = _IDLE.by_url.setdefault(self._url, [])
            if len(idle) < _IDLE_MAX:
                idle.append(connection)
                return
        with contextlib.suppress(Exception):
            connection.close()

    def acquire(self, timeout: float) -> None:
        psycopg = _psycopg()
        connection = self._take_connection()
        # lock_timeout = 0 would mean "wait forever": a zero timeout is one millisecond.
        milliseconds = max(1, int(timeout * 1000))
        try:
            connection.execute(f"SET LOCAL lock_timeout = {milliseconds}")
            connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._key))
        except psycopg.errors.LockNotAvailable:
            connection.rollback()
            self._give_back(connection)
            raise StoreError(
                f"timed out after {timeout:g} s waiting for the lock in {redact(self._url)}"
            ) from None
        except psycopg.Error as exc:
            with contextlib.suppress(Exception):
                connection.close()
            raise StoreError(f"cannot lock in {redact(self._url)}: {_first_line(exc)}") from None
        self._connection = connection
        _HOLDING.transactions.append((self._url, connection))

    def release(self) -> None:
        connection, self._connection = self._connection, None
        transactions = _HOLDING.transactions
        if transactions and transactions[-1][1] is connection:
            transactions.pop()
        if connection is None:
            return
        try:
            # Commit, not roll back: a renewal's save inside the lock must survive its unlock.
            connection.commit()
        except Exception:
            # A dead connection: the server has rolled back and released the lock already.
            with contextlib.suppress(Exception):
                connection.close()
            raise StoreError(
                f"the lock's transaction in {redact(self._url)} was lost before commit"
            ) from None
        self._give_back(connection)

    def forget(self) -> None:
        self._connection = None  # its socket was orphaned at fork; the child opens its own


class PostgresStore:
    """Installations in PostgreSQL, shared by any number of hosts. See the module docstring."""

    def __init__(self, url: str) -> None:
        if not is_postgres_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redact(url)}")
        self.url = url
        self._local = threading.local()
        self._mine: list[Any] = []
        self._guard = threading.Lock()
        self._migrated = False

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)!r})"

    # -- connections

    def _thread_connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid() and not connection.closed:
            return connection
        connection = connect(self.url)
        if not self._migrated:
            try:
                upgrade_postgres(connection, "store", POSTGRES_STORE)
            except _psycopg().Error as exc:
                connection.close()
                raise StoreError(f"cannot prepare {redact(self.url)}: {_first_line(exc)}") from None
            self._migrated = True
        self._local.connection = connection
        self._local.pid = os.getpid()
        with self._guard:
            self._mine.append(connection)
        return connection

    def _in_lock(self) -> Any:
        for url, connection in reversed(_HOLDING.transactions):
            if url == self.url:
                return connection
        return None

    def _run(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement: in this thread's lock transaction if it holds one, else autocommit.

        Outside a lock a connection broken by a server restart is replaced once and the
        statement repeated (each statement is idempotent); inside one it cannot be, since the
        lock went with the connection.
        """
        psycopg = _psycopg()
        held = self._in_lock()
        for attempt in (1, 2):
            connection = held if held is not None else self._thread_connection()
            try:
                cursor = connection.execute(sql, params)
                return list(cursor.fetchall()) if cursor.description is not None else []
            except psycopg.OperationalError as exc:
                if held is None and attempt == 1 and connection.closed:
                    self._local.connection = None
                    continue
                raise StoreError(f"cannot {what} in {redact(self.url)}: {_first_line(exc)}") from None
            except psycopg.Error as exc:
                raise StoreError(f"cannot {what} in {redact(self.url)}: {_first_line(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every connection this store opened in this thread pool (not the lock ones)."""
        with self._guard:
            connections, self._mine = self._mine, []
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()
        self._local = threading.local()

    # -- records

    def _parse(self, member_id: str, data: Any) -> Installation:
        try:
            return Installation.from_dict(data if isinstance(data, dict) else json.loads(data))
        except (ValueError, TypeError, AttributeError) as exc:
            raise StoreError(f"{redact(self.url)}: installation {member_id!r} is unreadable: {exc}") from None

    def save(self, installation: Installation) -> None:
        data = json.dumps(installation.to_dict(), ensure_ascii=False, allow_nan=False)
        self._run(
            "save",
            "INSERT INTO crest_installations (member_id, data, updated_at) VALUES (%s, %s::jsonb, %s)"
            " ON CONFLICT (member_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (installation.member_id, data, time.time()),
        )

    def find(self, member_id: str | None = None) -> Installation | None:
        if member_id is None:
            rows = self._run("read", "SELECT member_id, data FROM crest_installations LIMIT 2")
            return single_installation(self._parse(key, data) for key, data in rows)
        rows = self._run(
            "read", "SELECT member_id, data FROM crest_installations WHERE member_id = %s", (member_id,)
        )
        return self._parse(rows[0][0], rows[0][1]) if rows else None

    def all_installations(self) -> list[Installation]:
        rows = self._run("read", "SELECT member_id, data FROM crest_installations ORDER BY member_id")
        return [self._parse(key, data) for key, data in rows]

    def delete(self, member_id: str) -> None:
        self._run(
            "delete an installation", "DELETE FROM crest_installations WHERE member_id = %s", (member_id,)
        )

    # -- locking

    def _gate(self, member_id: str) -> ReentrantLock:
        # Ensure the schema first: the lock's own transaction must not be the one that migrates.
        self._thread_connection()
        return _REGISTRY.get(
            f"{self.url}\0{member_id}",
            lambda _key: _AdvisoryLock(self.url, member_id),
            name=f"{member_id} in {redact(self.url)}",
        )

    @contextlib.contextmanager
    def lock(self, member_id: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """This portal's lock on every host: see the module docstring."""
        with self._gate(member_id).hold(timeout):
            yield
