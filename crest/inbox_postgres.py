"""The event inbox in PostgreSQL: one queue for every app host and worker (T20, T21).

The same behaviour as the SQLite :class:`crest.inbox.Inbox`, for many hosts:

* ``enqueue`` commits before it returns (the receiver answers 200 only then) and
  de-duplicates on the SHA-256 of the raw body (a unique column), as the SQLite inbox does;
* ``claim`` takes the oldest due row with ``FOR UPDATE SKIP LOCKED``: claimers on any number
  of hosts never wait for each other and never get the same row; the row is leased to the
  worker, and a lease that runs out (the worker was killed, its host lost) makes the event
  due again, or ``failed`` if that was its last attempt;
* ``ack``/``fail`` only count for the lease's owner; ``fail`` backs off exponentially;
* ``purge`` forgets processed events older than the retention, after which a replay is new;
* ``enqueue`` and ``retry`` send ``NOTIFY crest_inbox`` in their transaction, and
  ``wait_for_event`` ``LISTEN``\\ s, so an idle worker wakes as soon as an event is committed
  instead of at its next poll (the poll stays, for leases that run out and retries coming due).

Schema steps: :data:`crest.migrations.steps.POSTGRES_INBOX`, applied on first use or by
``crest db upgrade``. Connections are one per thread, re-opened in a forked child.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from crest.errors import StoreError
from crest.inbox import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    FailedEvent,
    InboxItem,
    RetryPolicy,
    change_key_of,
    is_copy,
)
from crest.migrations.postgres import upgrade_postgres
from crest.migrations.steps import POSTGRES_INBOX
from crest.stores.postgres import _first_line, _psycopg, connect, is_postgres_url, redact

__all__ = ["CHANNEL", "PostgresInbox"]

#: The NOTIFY channel that wakes idle workers.
CHANNEL = "crest_inbox"

_CLAIMABLE = (
    "SELECT id, body, content_type, event, member_id, source, attempts, received_at, state"
    " FROM crest_inbox"
    " WHERE (state = %(pending)s AND due_at <= %(now)s) OR (state = %(running)s AND lease_until <= %(now)s)"
    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)


class PostgresInbox:
    """The inbox tables in a PostgreSQL database; safe for any number of threads, processes, hosts."""

    def __init__(
        self,
        url: str,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not is_postgres_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redact(url)}")
        self.url = url
        self.policy = retry or RetryPolicy()
        self.clock = clock
        self._local = threading.local()
        with self._connection() as db:
            try:
                upgrade_postgres(db, "inbox", POSTGRES_INBOX)
            except _psycopg().Error as exc:
                raise StoreError(f"cannot prepare the inbox in {redact(url)}: {_first_line(exc)}") from None

    @property
    def path(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"PostgresInbox({redact(self.url)!r})"

    # --- connections -------------------------------------------------------------------------

    def _thread_connection(self, role: str) -> Any:
        connection = getattr(self._local, role, None)
        if connection is not None and not connection.closed and self._local.pid == os.getpid():
            return connection
        connection = connect(self.url)
        if role == "listener":
            connection.execute(f"LISTEN {CHANNEL}")
        setattr(self._local, role, connection)
        self._local.pid = os.getpid()
        return connection

    @contextlib.contextmanager
    def _connection(self) -> Any:
        """This thread's connection; a broken one is dropped so the next call reconnects."""
        psycopg = _psycopg()
        connection = self._thread_connection("connection")
        try:
            yield connection
        except psycopg.OperationalError as exc:
            if connection.closed or connection.broken:
                self._local.connection = None
            raise StoreError(f"the inbox in {redact(self.url)} failed: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"the inbox in {redact(self.url)} failed: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        with self._connection() as db, db.transaction():
            yield db

    def close(self) -> None:
        for role in ("connection", "listener"):
            connection = getattr(self._local, role, None)
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
                setattr(self._local, role, None)

    # --- the receiving side ------------------------------------------------------------------

    def enqueue(
        self,
        body: bytes,
        *,
        event: str,
        member_id: str,
        content_type: str = "application/x-www-form-urlencoded",
        source: str = "online",
    ) -> int | None:
        """Store a verified event; its id, or ``None`` when this change is stored already (the
        same body, or another copy of the same change: the rules of :func:`crest.inbox.is_copy`)."""
        digest = hashlib.sha256(body).hexdigest()
        key = change_key_of(body, content_type)
        now = self.clock()
        with self._transaction() as db:
            if key is not None:
                # One change at a time: copies of it arriving together are decided in turn.
                db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                states = [
                    (str(r[0]), str(r[1]))
                    for r in db.execute(
                        "SELECT state, source FROM crest_inbox WHERE change_key = %s", (key,)
                    ).fetchall()
                ]
                if is_copy(states, source):
                    return None
            row = db.execute(
                "INSERT INTO crest_inbox"
                " (body_hash, body, content_type, event, member_id, source, due_at, received_at, change_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (body_hash) DO NOTHING RETURNING id",
                (digest, body, content_type, event, member_id, source, now, now, key),
            ).fetchone()
            if row is None:
                return None
            db.execute("SELECT pg_notify(%s, '')", (CHANNEL,))  # delivered at commit
            return int(row[0])

    def renew(self, item_id: int, worker_id: str, lease: float) -> bool:
        """Extend a running event's lease to ``lease`` seconds from now; ``False`` if it was lost."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE crest_inbox SET lease_until = %s WHERE id = %s AND state = %s AND lease_owner = %s",
                (self.clock() + lease, item_id, RUNNING, worker_id),
            )
            return bool(cur.rowcount == 1)

    def forget_portal(self, member_id: str) -> int:
        """Delete every event of one portal and its offline bookkeeping (a verified uninstall)."""
        with self._transaction() as db:
            gone = db.execute("DELETE FROM crest_inbox WHERE member_id = %s", (member_id,)).rowcount
            db.execute("DELETE FROM crest_offline_process WHERE member_id = %s", (member_id,))
            return int(gone)

    # --- the working side --------------------------------------------------------------------

    def claim(self, worker_id: str, lease: float = 60.0) -> InboxItem | None:
        """The oldest due event, leased to ``worker_id``; ``None`` if none is due (or all are taken)."""
        now = self.clock()
        with self._transaction() as db:
            while True:
                row = db.execute(_CLAIMABLE, {"pending": PENDING, "running": RUNNING, "now": now}).fetchone()
                if row is None:
                    return None
                if row[8] == RUNNING and row[6] >= self.policy.max_attempts:
                    db.execute(
                        "UPDATE crest_inbox SET state = %s, lease_owner = NULL, lease_until = NULL,"
                        " last_error = %s WHERE id = %s",
                        (FAILED, "worker lease expired on the last attempt", row[0]),
                    )
                    continue
                db.execute(
                    "UPDATE crest_inbox SET state = %s, lease_owner = %s, lease_until = %s,"
                    " attempts = attempts + 1 WHERE id = %s",
                    (RUNNING, worker_id, now + lease, row[0]),
                )
                return InboxItem(
                    id=int(row[0]),
                    body=bytes(row[1]),
                    content_type=row[2],
                    event=row[3],
                    member_id=row[4],
                    source=row[5],
                    attempts=int(row[6]) + 1,
                    received_at=float(row[7]),
                )

    def ack(self, item_id: int, worker_id: str) -> bool:
        """Mark done; ``False`` when the lease was lost (another worker has the event now)."""
        with self._connection() as db:
            cursor = db.execute(
                "UPDATE crest_inbox SET state = %s, done_at = %s, lease_owner = NULL, lease_until = NULL,"
                " last_error = NULL WHERE id = %s AND state = %s AND lease_owner = %s",
                (DONE, self.clock(), item_id, RUNNING, worker_id),
            )
            return bool(cursor.rowcount == 1)

    def fail(self, item_id: int, worker_id: str, error: str) -> str | None:
        """Record a failed attempt: pending after a backoff, or ``failed`` for good; ``None``: lease lost."""
        now = self.clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM crest_inbox WHERE id = %s AND state = %s AND lease_owner = %s FOR UPDATE",
                (item_id, RUNNING, worker_id),
            ).fetchone()
            if row is None:
                return None
            attempts = int(row[0])
            state = FAILED if attempts >= self.policy.max_attempts else PENDING
            db.execute(
                "UPDATE crest_inbox SET state = %s, due_at = %s, last_error = %s, lease_owner = NULL,"
                " lease_until = NULL WHERE id = %s",
                (state, now + self.policy.delay(attempts), error[:2000], item_id),
            )
            return state

    def wait_for_event(self, timeout: float, stop: threading.Event) -> None:
        """Sleep until a NOTIFY, ``stop``, or ``timeout``; a notification sent meanwhile is kept."""
        deadline = time.monotonic() + timeout
        try:
            listener = self._thread_connection("listener")
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # Short slices, so a stop request is seen promptly.
                for _ in listener.notifies(timeout=min(left, 0.2), stop_after=1):
                    return
        except _psycopg().Error:
            # No wake-ups without the listener: fall back to a plain poll, reconnect next time.
            self._local.listener = None
            stop.wait(max(0.0, deadline - time.monotonic()))

    # --- inspection --------------------------------------------------------------------------

    def list_failed(self, *, include_retrying: bool = False) -> list[FailedEvent]:
        """Events failed for good (and, if asked, those waiting for a retry after an error)."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT id, event, member_id, state, attempts, COALESCE(last_error, ''), received_at, due_at"
                " FROM crest_inbox WHERE state = %s OR (%s AND state = %s AND last_error IS NOT NULL)"
                " ORDER BY id",
                (FAILED, include_retrying, PENDING),
            ).fetchall()
        return [FailedEvent(*row) for row in rows]

    def retry(self, item_id: int) -> bool:
        """Put a failed event back in the queue with a fresh attempt budget."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE crest_inbox SET state = %s, attempts = 0, due_at = %s WHERE id = %s AND state = %s",
                (PENDING, self.clock(), item_id, FAILED),
            )
            if cursor.rowcount != 1:
                return False
            db.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            return True

    def counts(self) -> dict[str, int]:
        with self._connection() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM crest_inbox GROUP BY state").fetchall()
        return {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0, **{state: int(n) for state, n in rows}}

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest processed events, newest first, without bodies (they hold tokens)."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT id, event, member_id, source, attempts, received_at, done_at FROM crest_inbox"
                " WHERE state = %s ORDER BY done_at DESC, id DESC LIMIT %s",
                (DONE, max(1, min(limit, 500))),
            ).fetchall()
        keys = ("id", "event", "member_id", "source", "attempts", "received_at", "done_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def body(self, item_id: int) -> tuple[bytes, str] | None:
        """The stored raw body and content type of one event (for tests and tools)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT body, content_type FROM crest_inbox WHERE id = %s", (item_id,)
            ).fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    def purge(self, older_than: float) -> int:
        """Forget events done before ``older_than`` (Unix time). A replay after that is new again."""
        with self._connection() as db:
            cursor = db.execute(
                "DELETE FROM crest_inbox WHERE state = %s AND done_at < %s", (DONE, older_than)
            )
            return int(cursor.rowcount)

    # --- offline recovery bookkeeping --------------------------------------------------------

    def offline_process(self, member_id: str) -> str | None:
        """The ``process_id`` of an offline batch begun but not cleared (a crash in between)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT process_id FROM crest_offline_process WHERE member_id = %s", (member_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def begin_offline_process(self, member_id: str, process_id: str) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO crest_offline_process (member_id, process_id, started_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (member_id) DO UPDATE SET process_id = excluded.process_id,"
                " started_at = excluded.started_at",
                (member_id, process_id, self.clock()),
            )

    def end_offline_process(self, member_id: str, process_id: str) -> None:
        with self._connection() as db:
            db.execute(
                "DELETE FROM crest_offline_process WHERE member_id = %s AND process_id = %s",
                (member_id, process_id),
            )
