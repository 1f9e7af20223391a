"""The worker: runs inbox events through the router, and recovers missed events.

At least once: an event is acknowledged only after every handler returned; a handler that
raises gets a retry with backoff (see :class:`crest.inbox.RetryPolicy`). While a handler runs,
a heartbeat renews the worker's lease every third of it, so a slow handler keeps its event
however long it takes; a worker that dies mid-event stops renewing, its lease runs out within
``lease`` seconds, and another worker takes the event. The inbox stores each change once
(online and offline copies alike, see :mod:`crest.event_identity`), but a handler killed
half-way runs again: handlers must still be idempotent, which Bitrix24 asks of them anyway (T21).

Offline recovery (T20): Bitrix24 does not re-send an event its handler missed, so the app
also binds its events with ``event_type=offline``; the portal keeps those changes in a queue
that :class:`OfflineRecovery` drains with ``event.offline.get(clear=0)`` → enqueue (durable,
de-duplicated) → ``event.offline.clear(process_id)``. The ``process_id`` is chosen and stored
before the ``get``, so a crash anywhere in between re-reads the *same* batch next time instead
of leaving it reserved for a process that no longer exists.

Logs name the event, the inbox id and the portal, never the payload: bodies hold tokens.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crest.auth import AppAuth
from crest.confirm import PortalWitness
from crest.errors import CrestError
from crest.events import Event, EventContext, EventRouter, ensure_bindings, parse_body
from crest.inbox import InboxItem
from crest.inboxes import EventInbox

if TYPE_CHECKING:
    from crest.client import Client
    from crest.stores.base import InstallationStore

__all__ = ["Bindings", "OfflineRecovery", "Worker", "keep_chains_alive", "offline_body"]

log = logging.getLogger("crest.worker")

ClientFactory = Callable[[str], "Client"]

#: Stored bodies passed the receiver's limits already; this only guards against a corrupt row.
_STORED_MAX = 64 * 1024 * 1024


@dataclass(frozen=True)
class Bindings:
    """The handlers the app keeps bound on every portal it is installed on."""

    handler_url: str
    online: tuple[str, ...] = ()
    offline: tuple[str, ...] = ()

    def ensure(self, client: Client) -> list[str]:
        return ensure_bindings(client, self.handler_url, self.online, self.offline)


def offline_body(row: Mapping[str, Any], member_id: str, domain: str = "") -> bytes:
    """A stored event body for one ``event.offline.get`` row.

    Deterministic (sorted keys, no process id), so the same row fetched again after a crash
    hashes the same and the inbox stores it once. No token goes in: it is not needed, because
    the row came from the portal over an authenticated call.
    """
    additional = row.get("EVENT_ADDITIONAL")
    user_id = additional.get("user_id", "") if isinstance(additional, Mapping) else ""
    payload = {
        "event": str(row.get("EVENT_NAME", "")),
        "data": row.get("EVENT_DATA") or {},
        "ts": str(row.get("TIMESTAMP_X", "")),
        "auth": {"member_id": member_id, "domain": domain, "user_id": str(user_id or "")},
        "offline": {
            "ID": str(row.get("ID", "")),
            "MESSAGE_ID": str(row.get("MESSAGE_ID", "")),
            "TIMESTAMP_X": str(row.get("TIMESTAMP_X", "")),
        },
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class OfflineRecovery:
    """Drains each portal's offline event queue into the inbox."""

    def __init__(
        self,
        inbox: EventInbox,
        clients: ClientFactory,
        store: InstallationStore,
        *,
        limit: int = 50,
        max_batches: int = 200,
        new_process_id: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.inbox = inbox
        self.clients = clients
        self.store = store
        self.limit = limit
        self.max_batches = max_batches
        self.new_process_id = new_process_id

    def run(self, member_id: str) -> int:
        """Fetch, store and clear every waiting offline event of one portal; returns how many."""
        installation = self.store.find(member_id)
        if installation is None:
            return 0
        client = self.clients(member_id)
        stored = 0
        for _ in range(self.max_batches):
            process_id = self.inbox.offline_process(member_id)
            if process_id is None:
                process_id = self.new_process_id()
                self.inbox.begin_offline_process(member_id, process_id)
            result = client.call(
                "event.offline.get", {"clear": 0, "process_id": process_id, "limit": self.limit}
            )
            result = result if isinstance(result, Mapping) else {}
            given = str(result.get("process_id") or process_id)
            if given != process_id:
                # The portal chose its own id: remember that one, it is what clear needs.
                self.inbox.begin_offline_process(member_id, given)
                process_id = given
            rows = [r for r in result.get("events") or [] if isinstance(r, Mapping)]
            for row in rows:
                body = offline_body(row, member_id, installation.domain)
                if self.inbox.enqueue(
                    body,
                    event=str(row.get("EVENT_NAME", "")).upper(),
                    member_id=member_id,
                    content_type="application/json",
                    source="offline",
                ):
                    stored += 1
            if rows:
                # Only now, with every row committed to the inbox, may the portal forget them.
                client.call("event.offline.clear", {"process_id": process_id})
            self.inbox.end_offline_process(member_id, process_id)
            if len(rows) < self.limit:
                break
        if stored:
            log.info("recovered %d offline event(s) for portal %s", stored, member_id)
        return stored

    def run_all(self, member_ids: Iterable[str] | None = None) -> int:
        """:meth:`run` for every installed portal; one portal's failure does not stop the others."""
        ids = (
            list(member_ids)
            if member_ids is not None
            else [i.member_id for i in self.store.all_installations() if i.member_id]
        )
        total = 0
        for member_id in ids:
            try:
                total += self.run(member_id)
            except CrestError as exc:
                log.warning("offline recovery for portal %s failed: %s", member_id, _describe(exc))
        return total


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", "")
    text = getattr(exc, "description", "") or str(exc)
    return f"{type(exc).__name__}{f' {code}' if code else ''}: {text}"[:2000]


@dataclass
class Worker:
    """Processes inbox events one at a time; run several for parallelism (threads or processes)."""

    inbox: EventInbox
    router: EventRouter
    clients: ClientFactory | None = None
    recovery: OfflineRecovery | None = None
    bindings: Bindings | None = None
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{secrets.token_hex(4)}")
    #: Seconds a claimed event stays ours without a renewal: how soon another worker takes over
    #: the events of a worker that died. Renewed every ``lease / 3`` while the handler runs.
    lease: float = 30.0
    #: Seconds to wait when the inbox is empty.
    poll: float = 0.5
    #: Seconds between offline recoveries (the first runs at start).
    recovery_interval: float = 300.0
    #: Processed events are forgotten after this many seconds (their bodies hold users'
    #: tokens); a replay older than that is new again. None keeps them forever.
    retention: float | None = 7 * 86400.0
    #: Seconds between purges of processed events.
    purge_interval: float = 3600.0
    #: Called once a day to keep idle token chains alive (see :func:`keep_chains_alive`).
    keepalive: Callable[[], object] | None = None
    keepalive_interval: float = 86400.0
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time

    def purge(self) -> int:
        """Forget processed events older than ``retention``; returns how many went."""
        if self.retention is None:
            return 0
        return self.inbox.purge(self.wall_clock() - self.retention)

    def run_once(self) -> bool:
        """Claim and process one due event; False when none was due."""
        item = self.inbox.claim(self.worker_id, self.lease)
        if item is None:
            return False
        try:
            with self._lease_kept(item):
                self._process(item)
        except Exception as exc:  # a handler's failure is data for the retry, not a crash
            state = self.inbox.fail(item.id, self.worker_id, _describe(exc))
            log.warning(
                "event #%d %s for portal %s failed on attempt %d (%s): %s",
                item.id,
                item.event,
                item.member_id,
                item.attempts,
                state or "lease lost",
                _describe(exc),
            )
        else:
            if not self.inbox.ack(item.id, self.worker_id):
                log.warning("event #%d %s: lease lost before ack; it may run again", item.id, item.event)
        return True

    @contextmanager
    def _lease_kept(self, item: InboxItem) -> Iterator[None]:
        """Renew ``item``'s lease in the background for as long as the body runs."""
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(self.lease / 3):
                try:
                    kept = self.inbox.renew(item.id, self.worker_id, self.lease)
                except Exception:  # a busy or failing disk: try again on the next beat
                    log.exception("renewing the lease of event #%d failed", item.id)
                    continue
                if not kept:
                    log.warning("event #%d %s: lease lost while its handler ran", item.id, item.event)
                    return

        beat = threading.Thread(target=heartbeat, name=f"crest-lease-{item.id}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def drain(self, limit: int = 10_000) -> int:
        """Process due events until none is left (or ``limit``); returns how many ran."""
        count = 0
        while count < limit and self.run_once():
            count += 1
        return count

    def _process(self, item: InboxItem) -> None:
        event = parse_body(item.body, item.content_type, max_length=_STORED_MAX, max_depth=64)
        if event.name == "ONOFFLINEEVENT":
            # The portal's wake-up call: offline events are waiting.
            if self.recovery is not None:
                self.recovery.run(event.member_id)
            return
        if event.name == "ONAPPUPDATE":
            if not self._update_confirmed(event):
                return  # forged: no re-binding, no handler sees it
            if self.bindings is not None and self.clients is not None:
                # Bitrix24 removes an app's handlers when it is updated (reference 5.5).
                self.bindings.ensure(self.clients(event.member_id))
        self.router.dispatch(event, EventContext(event, self.clients))

    def _update_confirmed(self, event: Event) -> bool:
        """The portal, asked with the stored tokens, reports the version the event claims.

        ``application_token`` reaches every user of the app, so an ONAPPUPDATE body alone is no
        proof. An outage raises, so the event is retried later rather than dropped.
        """
        if self.clients is None:
            return False
        claimed = str(event.data.get("VERSION", ""))
        actual = PortalWitness(self.clients).version(event.member_id)
        if actual is None or actual != claimed:
            log.warning(
                "refused a forged ONAPPUPDATE for portal %s (claims version %r, the portal says %r)",
                event.member_id,
                claimed,
                actual,
            )
            return False
        return True

    def start_up(self) -> None:
        """Re-bind handlers and recover missed events for every portal; failures are logged."""
        if self.recovery is None:
            return
        if self.bindings is not None and self.clients is not None:
            for installation in self.recovery.store.all_installations():
                if not installation.member_id:
                    continue
                try:
                    self.bindings.ensure(self.clients(installation.member_id))
                except CrestError as exc:
                    log.warning(
                        "binding events on portal %s failed: %s", installation.member_id, _describe(exc)
                    )
        self.recovery.run_all()

    def run_forever(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; the offline recovery runs at start and then periodically."""
        next_recovery = next_purge = next_keepalive = self.clock()
        started = False
        while not stop.is_set():
            if self.keepalive is not None and self.clock() >= next_keepalive:
                try:
                    self.keepalive()
                except Exception:  # a dead chain is logged; events still get processed
                    log.exception("keeping token chains alive failed")
                next_keepalive = self.clock() + self.keepalive_interval
            if self.clock() >= next_purge:
                try:
                    self.purge()
                except Exception:  # housekeeping must not stop event processing
                    log.exception("purging processed events failed")
                next_purge = self.clock() + self.purge_interval
            if self.recovery is not None and self.clock() >= next_recovery:
                try:
                    if started:
                        self.recovery.run_all()
                    else:
                        self.start_up()
                except Exception:  # never let a recovery problem stop event processing
                    log.exception("offline recovery failed")
                started = True
                next_recovery = self.clock() + self.recovery_interval
            try:
                busy = self.run_once()
            except Exception:  # the inbox itself failed (disk, lock): wait, then try again
                log.exception("inbox unavailable")
                busy = False
            if not busy:
                # A PostgreSQL inbox wakes us on NOTIFY; a SQLite one just waits out the poll.
                self.inbox.wait_for_event(self.poll, stop)


def dispatch_one(router: EventRouter, event: Event, clients: ClientFactory | None = None) -> int:
    """Run one event's handlers now, outside the inbox (tests, tools)."""
    return router.dispatch(event, EventContext(event, clients))


def keep_chains_alive(store: InstallationStore, clients: ClientFactory) -> list[str]:
    """Refresh every stored portal whose refresh token has been idle too long; their member_ids."""
    renewed = []
    for inst in store.all_installations():
        auth = clients(inst.member_id).auth
        if isinstance(auth, AppAuth) and auth.keepalive():
            renewed.append(inst.member_id)
    return renewed
