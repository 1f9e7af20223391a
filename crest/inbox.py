"""The durable event inbox: persist, then acknowledge (T20).

Bitrix24 never re-sends an event (docs/protocol.md, events), so the HTTP handler writes the raw body to this
table and commits *before* it answers 200; workers then process it at least once:

* ``enqueue`` de-duplicates on the SHA-256 of the raw body, so a replayed identical body is
  stored (and processed) once, and on the change's identity
  (:func:`crest.event_identity.change_key`: ``EVENT|member_id|record|unix-second``), so the
  online POST and the offline-queue copy of one change, or a re-delivery with fresh tokens,
  are stored once too (T21; the rules are in :func:`_is_copy`);
* ``claim`` hands one due event to one worker under a lease, inside ``BEGIN IMMEDIATE`` so two
  workers (threads or processes) never claim the same row; the worker renews the lease
  while its handler runs, so a lease that runs out means the worker died (crashed or was
  killed) and the event is claimable again;
* ``ack`` marks it done; ``fail`` schedules a retry with exponential backoff, and after
  ``max_attempts`` keeps it as ``failed`` for ``crest events --failed`` / ``--retry``.

It is a table in the SQLite store's own database file when the store is SQLite (one file to
back up), otherwise a file of its own next to the store (:func:`inbox_path`). The offline
recovery keeps the ``process_id`` it is working on here too, so a crash between
``event.offline.get`` and ``event.offline.clear`` resumes the same batch.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crest.errors import CrestError
from crest.event_identity import change_key
from crest.events import parse_body
from crest.migrations.sqlite import upgrade_sqlite
from crest.migrations.steps import SQLITE_INBOX
from crest.stores.sqlite import create_private_file
from crest.sync_points import SyncPoint, no_sync

__all__ = ["FailedEvent", "Inbox", "InboxItem", "RetryPolicy", "inbox_path"]

#: Stored bodies passed the receiver's limits already; these only guard against a corrupt row.
_STORED_MAX, _STORED_DEPTH = 64 * 1024 * 1024, 64

# As in crest.stores.open_store: two letters at least, so "C:\\x" is a path, not a scheme.
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+):(.*)\Z", re.DOTALL)
_OWN_FILE = "crest-inbox.sqlite"

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff of failing handlers: ``base * 2**(attempt-1)``, capped."""

    max_attempts: int = 5
    base: float = 5.0
    cap: float = 3600.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class InboxItem:
    """A claimed event: the raw body as received, and how often it has been tried."""

    id: int
    body: bytes
    content_type: str
    event: str
    member_id: str
    source: str
    attempts: int
    received_at: float

    def __repr__(self) -> str:  # the body holds tokens: never show it
        return f"InboxItem(id={self.id}, event={self.event!r}, member_id={self.member_id!r}, attempts={self.attempts})"


@dataclass(frozen=True)
class FailedEvent:
    """An event that is kept for inspection: failed for good, or still waiting to retry."""

    id: int
    event: str
    member_id: str
    state: str
    attempts: int
    last_error: str
    received_at: float
    due_at: float


def is_copy(states: list[tuple[str, str]], source: str) -> bool:
    """Whether a body is another copy of a change the inbox holds already, given the
    ``(state, source)`` of the stored events of that change.

    * An offline-queue copy is, whenever the change came in online (in any state): the queue
      holds the latest state of a record, which the online events of that second delivered.
    * Any copy is, while a stored event of that change still waits for its handler: the handler
      has not read the record yet, so it will see this change too.

    An online copy whose twin already ran is stored: within one second it may be a second change
    that the handler did not see (Bitrix24 sends only the record's ID); running twice is
    safe for an idempotent handler, missing a change is not.
    """
    if not states:
        return False
    return source == "offline" or any(state == PENDING for state, _ in states)


def _is_copy(db: sqlite3.Connection, key: str, source: str) -> bool:
    states = [
        (str(row[0]), str(row[1]))
        for row in db.execute("SELECT state, source FROM crest_inbox WHERE change_key = ?", (key,))
    ]
    return is_copy(states, source)


def change_key_of(body: bytes, content_type: str) -> str | None:
    """The change's identity, or None for a body that does not parse (kept by its hash alone)."""
    try:
        event = parse_body(body, content_type, max_length=_STORED_MAX, max_depth=_STORED_DEPTH)
    except CrestError:
        return None
    return change_key(event)


def inbox_path(
    store_url: str | os.PathLike[str], fallback_dir: str | os.PathLike[str] = "var"
) -> Path | None:
    """Where the inbox lives for a store setting, read with :func:`crest.stores.open_store`'s rules.

    A SQLite store (``sqlite:PATH``, ``sqlite:///abs``, a bare path): the same file, so the
    inbox and the tokens are backed up and moved together. A JSON store (``json:PATH``, a path
    ending ``.json``): ``crest-inbox.sqlite`` next to it. ``memory:``: ``None``, meaning a
    temporary file, as short-lived as the store (tests, demos). Anything else (a server
    database): ``fallback_dir/crest-inbox.sqlite``.
    """
    text = os.fspath(store_url)
    match = _SCHEME.match(text)
    if match is None:
        path = Path(text)
        return path.parent / _OWN_FILE if text.lower().endswith(".json") else path
    scheme, rest = match.group(1).lower(), match.group(2)
    rest = rest[2:] if rest.startswith("//") else rest
    if scheme in {"sqlite", "sqlite3"} and rest:
        return Path(rest)
    if scheme == "json" and rest:
        return Path(rest).parent / _OWN_FILE
    if scheme == "memory":
        return None
    return Path(fallback_dir) / _OWN_FILE


class Inbox:
    """The inbox table in one SQLite file; safe to share between threads and processes.

    Every operation opens its own short connection, so threads never share one and a process
    killed mid-operation leaves nothing behind but an uncommitted transaction SQLite rolls back.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
        sync: SyncPoint = no_sync,
    ) -> None:
        if path is None:
            # A store that forgets everything at exit gets an inbox that does too.
            path = Path(tempfile.mkdtemp(prefix="crest-inbox-")) / _OWN_FILE
        self.path = Path(path)
        self.policy = retry or RetryPolicy()
        self.clock = clock
        self.busy_timeout = busy_timeout
        self._sync = sync  # tests force interleavings of claim and lease here (crest.sync_points)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Often the store's own file: created 0600 before SQLite would create it with umask bits.
        create_private_file(str(self.path))
        with self._connect() as db:
            # WAL lets the HTTP handler commit while a worker reads; it is a property of the
            # file, so setting it here is harmless when the SQLite store already did.
            db.execute("PRAGMA journal_mode=WAL")
            upgrade_sqlite(db, "inbox", SQLITE_INBOX)  # schema steps: crest.migrations.steps

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            # FULL: an event acknowledged with 200 must survive a power cut too, not only a kill.
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so two claimers cannot both read a row as free."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

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
        """Store a verified event; returns its id, or ``None`` when this change is stored already
        (the same body, or another copy of the same change: see the module docstring).

        Returns only after the transaction is committed, so the caller may acknowledge.
        """
        digest = hashlib.sha256(body).hexdigest()
        key = change_key_of(body, content_type)
        now = self.clock()
        with self._write() as db:
            if key is not None and _is_copy(db, key, source):
                return None
            cur = db.execute(
                "INSERT OR IGNORE INTO crest_inbox"
                " (body_hash, body, content_type, event, member_id, source, due_at, received_at, change_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (digest, body, content_type, event, member_id, source, now, now, key),
            )
            return cur.lastrowid if cur.rowcount else None

    # --- the working side --------------------------------------------------------------------

    def claim(self, worker_id: str, lease: float = 60.0) -> InboxItem | None:
        """The oldest due event, leased to ``worker_id`` for ``lease`` seconds; ``None`` if none is due.

        A running event whose lease has run out is due again: its worker is presumed dead. If
        that was its last attempt it is marked failed instead of being handed out again.
        """
        now = self.clock()
        with self._write() as db:
            while True:
                row = db.execute(
                    "SELECT id, body, content_type, event, member_id, source, attempts, received_at, state"
                    " FROM crest_inbox"
                    " WHERE (state = ? AND due_at <= ?) OR (state = ? AND lease_until <= ?)"
                    " ORDER BY id LIMIT 1",
                    (PENDING, now, RUNNING, now),
                ).fetchone()
                if row is None:
                    return None
                self._sync("claim.selected")
                if row[8] == RUNNING and row[6] >= self.policy.max_attempts:
                    db.execute(
                        "UPDATE crest_inbox SET state = ?, lease_owner = NULL, lease_until = NULL,"
                        " last_error = ? WHERE id = ?",
                        (FAILED, "worker lease expired on the last attempt", row[0]),
                    )
                    continue
                db.execute(
                    "UPDATE crest_inbox SET state = ?, lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                    " WHERE id = ?",
                    (RUNNING, worker_id, now + lease, row[0]),
                )
                return InboxItem(
                    id=row[0],
                    body=bytes(row[1]),
                    content_type=row[2],
                    event=row[3],
                    member_id=row[4],
                    source=row[5],
                    attempts=row[6] + 1,
                    received_at=row[7],
                )

    def renew(self, item_id: int, worker_id: str, lease: float) -> bool:
        """Extend a running event's lease to ``lease`` seconds from now; ``False`` if it was lost."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE crest_inbox SET lease_until = ? WHERE id = ? AND state = ? AND lease_owner = ?",
                (self.clock() + lease, item_id, RUNNING, worker_id),
            )
            return cur.rowcount == 1

    def ack(self, item_id: int, worker_id: str) -> bool:
        """Mark done; ``False`` when the lease was lost (another worker has the event now)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE crest_inbox SET state = ?, done_at = ?, lease_owner = NULL, lease_until = NULL,"
                " last_error = NULL WHERE id = ? AND state = ? AND lease_owner = ?",
                (DONE, self.clock(), item_id, RUNNING, worker_id),
            )
            return cur.rowcount == 1

    def fail(self, item_id: int, worker_id: str, error: str) -> str | None:
        """Record a failed attempt: back to pending after a backoff, or ``failed`` for good.

        Returns the new state, or ``None`` when the lease was lost.
        """
        now = self.clock()
        with self._write() as db:
            row = db.execute(
                "SELECT attempts FROM crest_inbox WHERE id = ? AND state = ? AND lease_owner = ?",
                (item_id, RUNNING, worker_id),
            ).fetchone()
            if row is None:
                return None
            self._sync("fail.checked")
            attempts = int(row[0])
            state = FAILED if attempts >= self.policy.max_attempts else PENDING
            db.execute(
                "UPDATE crest_inbox SET state = ?, due_at = ?, last_error = ?, lease_owner = NULL,"
                " lease_until = NULL WHERE id = ?",
                (state, now + self.policy.delay(attempts), error[:2000], item_id),
            )
            return state

    # --- inspection --------------------------------------------------------------------------

    def list_failed(self, *, include_retrying: bool = False) -> list[FailedEvent]:
        """Events failed for good (and, if asked, those waiting for a retry after an error)."""
        query = (
            "SELECT id, event, member_id, state, attempts, COALESCE(last_error, ''), received_at, due_at"
            " FROM crest_inbox WHERE state = ? OR (? AND state = ? AND last_error IS NOT NULL) ORDER BY id"
        )
        with self._connect() as db:
            rows = db.execute(query, (FAILED, include_retrying, PENDING)).fetchall()
        return [FailedEvent(*row) for row in rows]

    def retry(self, item_id: int) -> bool:
        """Put a failed event back in the queue with a fresh attempt budget."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE crest_inbox SET state = ?, attempts = 0, due_at = ? WHERE id = ? AND state = ?",
                (PENDING, self.clock(), item_id, FAILED),
            )
            return cur.rowcount == 1

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM crest_inbox GROUP BY state").fetchall()
        return {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0, **{state: n for state, n in rows}}

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest processed events, newest first, without bodies (they hold tokens)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, event, member_id, source, attempts, received_at, done_at FROM crest_inbox"
                " WHERE state = ? ORDER BY done_at DESC, id DESC LIMIT ?",
                (DONE, max(1, min(limit, 500))),
            ).fetchall()
        keys = ("id", "event", "member_id", "source", "attempts", "received_at", "done_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def body(self, item_id: int) -> tuple[bytes, str] | None:
        """The stored raw body and content type of one event (for tests and tools)."""
        with self._connect() as db:
            row = db.execute("SELECT body, content_type FROM crest_inbox WHERE id = ?", (item_id,)).fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    def purge(self, older_than: float) -> int:
        """Forget events done before ``older_than`` (Unix time). A replay after that is new again."""
        with self._write() as db:
            return db.execute(
                "DELETE FROM crest_inbox WHERE state = ? AND done_at < ?", (DONE, older_than)
            ).rowcount

    def forget_portal(self, member_id: str) -> int:
        """Delete every event of one portal, in any state, and its offline bookkeeping.

        For a verified ``ONAPPUNINSTALL``: the stored bodies hold that portal's users' tokens,
        and nothing of a portal the app was removed from may run or stay. Returns how many went.
        """
        with self._write() as db:
            gone = db.execute("DELETE FROM crest_inbox WHERE member_id = ?", (member_id,)).rowcount
            db.execute("DELETE FROM crest_offline_process WHERE member_id = ?", (member_id,))
            return gone

    # --- offline recovery bookkeeping --------------------------------------------------------

    def offline_process(self, member_id: str) -> str | None:
        """The ``process_id`` of an offline batch begun but not cleared (a crash in between)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT process_id FROM crest_offline_process WHERE member_id = ?", (member_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def begin_offline_process(self, member_id: str, process_id: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO crest_offline_process (member_id, process_id, started_at) VALUES (?, ?, ?)",
                (member_id, process_id, self.clock()),
            )

    def end_offline_process(self, member_id: str, process_id: str) -> None:
        with self._write() as db:
            db.execute(
                "DELETE FROM crest_offline_process WHERE member_id = ? AND process_id = ?",
                (member_id, process_id),
            )

    # --- waiting -----------------------------------------------------------------------------

    def wait_for_event(self, timeout: float, stop: threading.Event) -> None:
        """An idle worker's pause: SQLite has no wake-up signal, so this waits out the poll."""
        stop.wait(timeout)
