"""crest.inbox and crest.worker: durable, de-duplicated, leased, retried with backoff (T20, T21)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from crest.events import Event, EventContext, EventRouter
from crest.forms import encode
from crest.inbox import Inbox, RetryPolicy, inbox_path
from crest.installation import Installation
from crest.stores.memory import MemoryStore
from crest.worker import OfflineRecovery, Worker

MEMBER = "c" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def event_body(entity: int, name: str = "ONCRMDEALUPDATE") -> bytes:
    return encode(
        {
            "event": name,
            "data": {"FIELDS": {"ID": str(entity)}},
            "ts": "1",
            "auth": {"member_id": MEMBER, "domain": "p.example", "application_token": "t" * 32},
        }
    ).encode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(tmp_path: Path, clock: Clock) -> Inbox:
    return Inbox(tmp_path / "crest.sqlite", retry=RetryPolicy(max_attempts=3, base=10, cap=25), clock=clock)


def put(inbox: Inbox, entity: int) -> int | None:
    return inbox.enqueue(event_body(entity), event="ONCRMDEALUPDATE", member_id=MEMBER)


def test_inbox_path_follows_the_store() -> None:
    assert inbox_path("sqlite:var/crest.sqlite") == Path("var/crest.sqlite")
    assert inbox_path("sqlite:///srv/app/crest.db") == Path("/srv/app/crest.db")
    assert inbox_path("sqlite:/srv/app/crest.db") == Path("/srv/app/crest.db")
    assert inbox_path("/srv/app/crest.db") == Path("/srv/app/crest.db")
    assert inbox_path("/srv/app/settings.json") == Path("/srv/app/crest-inbox.sqlite")
    assert inbox_path("json:conf/settings.json") == Path("conf/crest-inbox.sqlite")
    assert inbox_path("memory:") is None
    assert Inbox(None).path.name == "crest-inbox.sqlite"
    assert inbox_path("postgresql://h/db") == Path("var/crest-inbox.sqlite")


def test_identical_body_is_stored_once(inbox: Inbox) -> None:
    first = put(inbox, 1)
    assert first is not None
    assert put(inbox, 1) is None
    assert put(inbox, 2) is not None
    assert inbox.counts()["pending"] == 2


def test_enqueue_is_durable_across_connections(tmp_path: Path, clock: Clock) -> None:
    Inbox(tmp_path / "x.sqlite", clock=clock).enqueue(event_body(1), event="E", member_id=MEMBER)
    reopened = Inbox(tmp_path / "x.sqlite", clock=clock)
    item = reopened.claim("w")
    assert item is not None and item.body == event_body(1)
    assert "t" * 32 not in repr(item)


def test_claims_are_exclusive_and_in_order(inbox: Inbox) -> None:
    ids = [put(inbox, i) for i in range(3)]
    a, b = inbox.claim("a"), inbox.claim("b")
    assert a is not None and b is not None
    assert [a.id, b.id] == ids[:2]
    assert inbox.ack(a.id, "a") and not inbox.ack(b.id, "a")  # not b's worker


def test_parallel_claimers_never_share_an_event(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "p.sqlite")
    for i in range(60):
        put(inbox, i)
    got: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (item := inbox.claim(name)) is not None:
            with lock:
                got.append(item.id)
            inbox.ack(item.id, name)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(got) == sorted(set(got)) and len(got) == 60


def test_expired_lease_is_reclaimed_once(inbox: Inbox, clock: Clock) -> None:
    put(inbox, 1)
    crashed = inbox.claim("dead", lease=30)
    assert crashed is not None
    assert inbox.claim("alive", lease=30) is None  # still leased
    clock.now += 31
    again = inbox.claim("alive", lease=30)
    assert again is not None and again.id == crashed.id and again.attempts == 2
    assert inbox.ack(again.id, "alive")
    assert not inbox.ack(crashed.id, "dead")  # the dead worker's late ack changes nothing
    clock.now += 1000
    assert inbox.claim("alive") is None


def test_failures_back_off_then_stay_failed_and_can_be_retried(inbox: Inbox, clock: Clock) -> None:
    item_id = put(inbox, 1)
    assert item_id is not None
    delays = []
    for attempt in (1, 2, 3):
        item = inbox.claim("w")
        assert item is not None and item.attempts == attempt
        state = inbox.fail(item.id, "w", f"boom {attempt}")
        if attempt < 3:
            assert state == "pending"
            due = inbox.list_failed(include_retrying=True)[0].due_at
            delays.append(due - clock.now)
            assert inbox.claim("w") is None  # not before the backoff
            clock.now = due
    assert state == "failed"
    assert delays == [10, 20]
    [failed] = inbox.list_failed()
    assert (failed.id, failed.attempts, failed.last_error, failed.state) == (item_id, 3, "boom 3", "failed")
    assert inbox.claim("w") is None
    assert inbox.retry(item_id) and not inbox.retry(item_id)
    again = inbox.claim("w")
    assert again is not None and again.attempts == 1


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(base=5, cap=60)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]


def test_recent_lists_processed_events_without_bodies(inbox: Inbox) -> None:
    put(inbox, 1)
    item = inbox.claim("w")
    assert item is not None
    inbox.ack(item.id, "w")
    [row] = inbox.recent()
    assert row["event"] == "ONCRMDEALUPDATE" and "body" not in row


# --- the worker ---------------------------------------------------------------------------------


def recording_router(fail_times: int = 0) -> tuple[EventRouter, list[str]]:
    router = EventRouter()
    seen: list[str] = []
    remaining = [fail_times]

    @router.on("ONCRMDEALUPDATE")
    def handler(event: Event, ctx: EventContext) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise RuntimeError("portal said no")
        seen.append(event.entity_id or "")

    return router, seen


def test_worker_processes_and_acks(inbox: Inbox) -> None:
    router, seen = recording_router()
    for i in (1, 2, 1):
        put(inbox, i)
    worker = Worker(inbox, router)
    assert worker.drain() == 2
    assert seen == ["1", "2"]
    assert inbox.counts()["done"] == 2


def test_worker_retries_a_failing_handler_with_backoff(inbox: Inbox, clock: Clock) -> None:
    router, seen = recording_router(fail_times=2)
    put(inbox, 7)
    worker = Worker(inbox, router)
    assert worker.drain() == 1 and seen == []
    clock.now += 10
    assert worker.drain() == 1 and seen == []
    clock.now += 20
    assert worker.drain() == 1 and seen == ["7"]
    assert inbox.counts() == {"pending": 0, "running": 0, "done": 1, "failed": 0}


def test_worker_keeps_an_always_failing_event_as_failed(inbox: Inbox, clock: Clock) -> None:
    router, _ = recording_router(fail_times=99)
    put(inbox, 7)
    worker = Worker(inbox, router)
    for _ in range(5):
        worker.drain()
        clock.now += 100
    [failed] = inbox.list_failed()
    assert failed.attempts == 3 and "RuntimeError: portal said no" in failed.last_error


def test_crash_between_claim_and_ack_reprocesses_exactly_once(inbox: Inbox, clock: Clock) -> None:
    router, seen = recording_router()
    put(inbox, 5)
    # A worker claims the event and dies before acknowledging it (its process was killed).
    assert inbox.claim("killed", lease=60) is not None
    survivor = Worker(inbox, router, lease=60)
    assert survivor.drain() == 0  # the lease still holds
    clock.now += 61
    assert survivor.drain() == 1
    clock.now += 1000
    assert survivor.drain() == 0
    assert seen == ["5"]


def test_run_forever_stops(inbox: Inbox) -> None:
    router, seen = recording_router()
    put(inbox, 3)
    stop = threading.Event()
    worker = Worker(inbox, router, poll=0.01)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    for _ in range(500):
        if seen:
            break
        threading.Event().wait(0.01)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and seen == ["3"]


# --- offline recovery ---------------------------------------------------------------------------


class OfflinePortal:
    """Just enough of event.offline.* (reserve by process_id, clear) to test the loop."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = {r["ID"]: {**r, "PROCESS_ID": ""} for r in rows}
        self.crash_before_clear = False
        self.calls: list[str] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        params = params or {}
        self.calls.append(method)
        if method == "event.offline.get":
            pid = params["process_id"]
            mine = [r for r in self.rows.values() if r["PROCESS_ID"] == pid]
            free = [r for r in self.rows.values() if not r["PROCESS_ID"]]
            taken = (mine + free)[: params["limit"]]
            for r in taken:
                r["PROCESS_ID"] = pid
            return {
                "process_id": pid,
                "events": [{k: v for k, v in r.items() if k != "PROCESS_ID"} for r in taken],
            }
        if method == "event.offline.clear":
            if self.crash_before_clear:
                raise KeyboardInterrupt  # the process dies here
            for key in [k for k, r in self.rows.items() if r["PROCESS_ID"] == params["process_id"]]:
                del self.rows[key]
            return True
        raise AssertionError(method)


def offline_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "ID": str(i),
            "TIMESTAMP_X": "2025-01-01T00:00:00+00:00",
            "EVENT_NAME": "ONCRMDEALUPDATE",
            "EVENT_DATA": {"FIELDS": {"ID": str(100 + i)}},
            "EVENT_ADDITIONAL": {"user_id": "1"},
            "MESSAGE_ID": f"m{i}",
        }
        for i in range(n)
    ]


def store_with_install() -> MemoryStore:
    store = MemoryStore()
    store.save(
        Installation(MEMBER, "p.example", "https://p.example/rest/", "a" * 32, "r" * 32, None, "t" * 32)
    )
    return store


def test_offline_recovery_enqueues_then_clears(inbox: Inbox) -> None:
    portal = OfflinePortal(offline_rows(5))
    recovery = OfflineRecovery(inbox, lambda m: portal, store_with_install(), limit=2)  # type: ignore[arg-type,return-value]
    assert recovery.run_all() == 5
    assert portal.rows == {}
    assert inbox.offline_process(MEMBER) is None
    router, seen = recording_router()
    Worker(inbox, router).drain()
    assert sorted(seen) == ["100", "101", "102", "103", "104"]


def test_offline_crash_between_get_and_clear_resumes_the_same_batch(inbox: Inbox) -> None:
    portal = OfflinePortal(offline_rows(3))
    recovery = OfflineRecovery(inbox, lambda m: portal, store_with_install(), limit=10)  # type: ignore[arg-type,return-value]
    portal.crash_before_clear = True
    with pytest.raises(KeyboardInterrupt):
        recovery.run(MEMBER)
    held = inbox.offline_process(MEMBER)
    assert held is not None and all(r["PROCESS_ID"] == held for r in portal.rows.values())
    portal.crash_before_clear = False
    assert recovery.run(MEMBER) == 0  # the same rows again: already in the inbox
    assert portal.rows == {}
    router, seen = recording_router()
    Worker(inbox, router).drain()
    assert sorted(seen) == ["100", "101", "102"]  # each processed once


def test_onofflineevent_triggers_recovery(inbox: Inbox) -> None:
    portal = OfflinePortal(offline_rows(2))
    recovery = OfflineRecovery(inbox, lambda m: portal, store_with_install())  # type: ignore[arg-type,return-value]
    router, seen = recording_router()
    inbox.enqueue(event_body(0, "ONOFFLINEEVENT"), event="ONOFFLINEEVENT", member_id=MEMBER)
    Worker(inbox, router, clients=lambda m: portal, recovery=recovery).drain()  # type: ignore[arg-type,return-value]
    assert sorted(seen) == ["100", "101"]


def test_worker_forgets_processed_events_after_the_retention(inbox: Inbox, clock: Clock) -> None:
    router, seen = recording_router()
    put(inbox, 1)
    worker = Worker(inbox, router, retention=3600.0, wall_clock=clock)
    assert worker.drain() == 1 and seen == ["1"]
    assert worker.purge() == 0  # kept within the retention: a replay is still a duplicate
    assert put(inbox, 1) is None
    clock.now += 3601
    assert worker.purge() == 1
    assert inbox.counts()["done"] == 0
    assert put(inbox, 1) is not None  # an old replay is new again
    assert Worker(inbox, router, retention=None).purge() == 0
