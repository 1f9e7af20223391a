"""Ordering rules of renewal and of the inbox, forced through injected sync points.

The stress tests (test_client_oauth's process race, test_inbox's parallel claimers) catch an
ordering bug only when the scheduler happens to interleave badly. Here each actor is stopped
at a named point (crest.sync_points) and the interleaving the bug would lose is forced, or the
lock is probed from another thread at that point, so such a bug fails on every run:

* renewal: a renewer that waited for the store lock re-reads and adopts the winner's tokens
  instead of spending the single-use refresh token again; the lock is held from the re-read
  through the save;
* inbox: a claim's read and write, and a failed attempt's lease check and write, are one
  write transaction, so no rival worker can take the event in between.

Real parts throughout: the local portal's OAuth server, SQLite and JSON stores on disk, the
SQLite inbox file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crest.auth import AppAuth
from crest.errors import StoreError
from crest.inbox import Inbox
from crest.installation import Installation
from crest.oauth import OAuthClient
from crest.stores import open_store
from crest.sync_points import SyncPoint, no_sync
from portal.testing import PortalHandle
from tests.crest.test_client_oauth import app_settings, install, refreshes

WAIT = 30.0  # only ever reached when the code under test deadlocks or skips a point


class Points:
    """A sync point that records where its thread has been and runs a test action at chosen points."""

    def __init__(self, actions: dict[str, Callable[[], None]] | None = None) -> None:
        self.actions = actions or {}
        self.reached: list[str] = []
        self._events: dict[str, threading.Event] = {}
        self._guard = threading.Lock()

    def event(self, name: str) -> threading.Event:
        with self._guard:
            return self._events.setdefault(name, threading.Event())

    def __call__(self, name: str) -> None:
        self.reached.append(name)
        self.event(name).set()
        action = self.actions.get(name)
        if action is not None:
            action()


def wait_for(event: threading.Event) -> None:
    assert event.wait(WAIT), "an actor never reached the point the test waits for"


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def from_another_thread(attempt: Callable[[], Any]) -> Any:
    """What ``attempt`` returns (or raises, as the exception) when run by a different thread."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(attempt())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert out, "the probe did not finish"
    return out[0]


# --- renewal ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "json"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        f"sqlite:{tmp_path / 'crest.sqlite'}"
        if request.param == "sqlite"
        else f"json:{tmp_path / 'settings.json'}"
    )


def renewer(portal: PortalHandle, store_url: str, inst: Installation, sync: SyncPoint = no_sync) -> AppAuth:
    """One renewing party with its own store object and OAuth session, as another process has."""
    settings = app_settings(portal, store_url)
    return AppAuth(inst.member_id, open_store(store_url), OAuthClient.from_settings(settings), sync=sync)


def test_renewer_that_waited_for_the_lock_adopts_the_winners_tokens(
    portal: PortalHandle, store_url: str
) -> None:
    inst = install(portal, open_store(store_url))
    second = Points()
    # The first renewer holds the lock until the second has read the (stale) record: the
    # second must then find the new tokens by re-reading under the lock, not refresh again.
    first = Points({"renew.locked": lambda: wait_for(second.event("renew.read"))})
    a, b = renewer(portal, store_url, inst, first), renewer(portal, store_url, inst, second)

    thread_a, errors_a = in_thread(lambda: a.renew(inst.access_token))
    wait_for(first.event("renew.locked"))
    thread_b, errors_b = in_thread(lambda: b.renew(inst.access_token))
    thread_a.join(WAIT)
    thread_b.join(WAIT)

    assert errors_a == errors_b == []
    assert "renew.refreshing" in first.reached
    assert "renew.refreshing" not in second.reached  # it read, waited, re-read and stopped
    assert [r["status"] for r in refreshes(portal)] == [200]  # the refresh token was spent once
    final = open_store(store_url).find(inst.member_id)
    assert final is not None and not final.needs_reinstall
    assert a.token() == b.token() == final.access_token != inst.access_token


def test_renewal_holds_the_store_lock_from_the_re_read_through_the_save(
    portal: PortalHandle, store_url: str
) -> None:
    inst = install(portal, open_store(store_url))
    probe_store = open_store(store_url)
    held: dict[str, bool] = {}
    saved: dict[str, bool] = {}

    def lock_is_held() -> bool:
        def attempt() -> bool:
            with probe_store.lock(inst.member_id, timeout=0.2):
                return False

        return isinstance(from_another_thread(attempt), StoreError)

    def check(name: str) -> Callable[[], None]:
        def action() -> None:
            held[name] = lock_is_held()
            now = probe_store.find(inst.member_id)
            saved[name] = now is not None and now.access_token != inst.access_token

        return action

    names = ["renew.locked", "renew.refreshing", "renew.saving", "renew.saved"]
    auth = renewer(portal, store_url, inst, Points({n: check(n) for n in names}))
    assert auth.renew(inst.access_token)

    assert held == dict.fromkeys(names, True)
    # At the last point under the lock the new tokens are already stored: whoever takes the
    # lock next reads them.
    assert saved == {
        "renew.locked": False,
        "renew.refreshing": False,
        "renew.saving": False,
        "renew.saved": True,
    }
    assert not lock_is_held()  # and it is released afterwards


# --- the inbox -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def busy_or_item(rival: Inbox, worker: str) -> Any:
    """A rival worker's claim from another thread: the item it got, or "busy" if it had to wait."""

    def attempt() -> Any:
        try:
            return rival.claim(worker, lease=10)
        except sqlite3.OperationalError as exc:  # "database is locked" after its busy timeout
            return "busy" if "locked" in str(exc) else exc

    return from_another_thread(attempt)


def test_no_rival_can_claim_between_a_claims_read_and_its_write(tmp_path: Path) -> None:
    path, clock = tmp_path / "inbox.sqlite", Clock()
    rival = Inbox(path, clock=clock, busy_timeout=0.2)
    seen: list[Any] = []
    inbox = Inbox(
        path, clock=clock, sync=Points({"claim.selected": lambda: seen.append(busy_or_item(rival, "w2"))})
    )
    inbox.enqueue(b"event=ONCRMDEALUPDATE&n=1", event="ONCRMDEALUPDATE", member_id="m")

    item = inbox.claim("w1", lease=10)

    assert item is not None and item.attempts == 1
    assert seen == ["busy"]  # the rival could not even look while w1 chose the row
    assert rival.claim("w2", lease=10) is None  # and after w1's commit the row is leased
    assert inbox.ack(item.id, "w1")


def test_no_rival_can_claim_between_a_failures_lease_check_and_its_write(tmp_path: Path) -> None:
    path, clock = tmp_path / "inbox.sqlite", Clock()
    rival = Inbox(path, clock=clock, busy_timeout=0.2)
    seen: list[Any] = []
    inbox = Inbox(
        path, clock=clock, sync=Points({"fail.checked": lambda: seen.append(busy_or_item(rival, "w2"))})
    )
    inbox.enqueue(b"event=ONCRMDEALUPDATE&n=2", event="ONCRMDEALUPDATE", member_id="m")
    item = inbox.claim("w1", lease=10)
    assert item is not None
    clock.now += 11  # w1's lease ran out: the event is claimable by anyone from now on

    # w1 reports its failure while still listed as the owner; a rival claiming in between would
    # see its fresh lease wiped by w1's write and the event run twice at once.
    assert inbox.fail(item.id, "w1", "handler failed") == "pending"

    assert seen == ["busy"]
    assert rival.claim("w2", lease=10) is None  # backing off, not running anywhere
    clock.now += 3600
    again = rival.claim("w2", lease=10)
    assert again is not None and again.id == item.id and again.attempts == 2
