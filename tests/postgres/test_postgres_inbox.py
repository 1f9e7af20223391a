"""The PostgreSQL inbox: the SQLite inbox's own tests, run unchanged against it, plus many hosts.

The shared tests are imported from tests/crest/test_inbox.py; their ``inbox`` fixture is
overridden here, so each one runs against a fresh PostgreSQL database.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

import pytest

from crest.errors import StoreError
from crest.inbox import Inbox, RetryPolicy
from crest.inbox_postgres import PostgresInbox
from crest.inboxes import EventInbox, open_inbox
from tests.crest.test_inbox import (  # noqa: F401 - collected here against PostgreSQL
    MEMBER,
    Clock,
    event_body,
    put,
    test_claims_are_exclusive_and_in_order,
    test_crash_between_claim_and_ack_reprocesses_exactly_once,
    test_expired_lease_is_reclaimed_once,
    test_failures_back_off_then_stay_failed_and_can_be_retried,
    test_identical_body_is_stored_once,
    test_offline_crash_between_get_and_clear_resumes_the_same_batch,
    test_offline_recovery_enqueues_then_clears,
    test_onofflineevent_triggers_recovery,
    test_recent_lists_processed_events_without_bodies,
    test_run_forever_stops,
    test_worker_forgets_processed_events_after_the_retention,
    test_worker_keeps_an_always_failing_event_as_failed,
    test_worker_processes_and_acks,
    test_worker_retries_a_failing_handler_with_backoff,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(postgres_url: str, clock: Clock) -> PostgresInbox:
    return PostgresInbox(postgres_url, retry=RetryPolicy(max_attempts=3, base=10, cap=25), clock=clock)


def test_open_inbox_follows_a_postgres_store(postgres_url: str, tmp_path: Any) -> None:
    assert isinstance(open_inbox(None, postgres_url), PostgresInbox)
    assert isinstance(open_inbox(postgres_url, f"sqlite:{tmp_path / 'x.sqlite'}"), PostgresInbox)
    assert isinstance(open_inbox(None, f"sqlite:{tmp_path / 'x.sqlite'}"), Inbox)
    assert isinstance(open_inbox(str(tmp_path / "i.sqlite"), postgres_url), Inbox)
    for box in (open_inbox(None, postgres_url), open_inbox(None, f"sqlite:{tmp_path / 'y.sqlite'}")):
        assert isinstance(box, EventInbox)


def test_enqueue_is_durable_across_connections(postgres_url: str) -> None:
    PostgresInbox(postgres_url).enqueue(event_body(1), event="E", member_id=MEMBER)
    item = PostgresInbox(postgres_url).claim("w")
    assert item is not None and item.body == event_body(1)
    assert "t" * 32 not in repr(item)


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresInbox("postgresql://crest:pw-s3cret@127.0.0.1:1/crest")
    assert "pw-s3cret" not in str(caught.value)


def test_notify_wakes_an_idle_worker_at_once(postgres_url: str) -> None:
    waiter, sender = PostgresInbox(postgres_url), PostgresInbox(postgres_url)
    stop = threading.Event()
    woke: list[float] = []

    listening = threading.Event()

    def wait() -> None:
        waiter.wait_for_event(0.01, stop)  # this thread's LISTEN is in place from here on
        listening.set()
        started = time.monotonic()
        waiter.wait_for_event(10.0, stop)
        woke.append(time.monotonic() - started)

    thread = threading.Thread(target=wait)
    thread.start()
    assert listening.wait(10)
    time.sleep(0.2)
    sent = time.monotonic()
    sender.enqueue(event_body(1), event="E", member_id=MEMBER)
    thread.join(10)
    assert woke and woke[0] < 5.0
    assert time.monotonic() - sent < 2.0, "the worker slept out its poll instead of waking"
    # A duplicate body stores nothing, so it wakes nobody.
    waiter.wait_for_event(0.01, stop)  # this thread listens from here on
    started = time.monotonic()
    sender.enqueue(event_body(1), event="E", member_id=MEMBER)
    waiter.wait_for_event(0.5, stop)
    assert time.monotonic() - started >= 0.45


def test_stop_ends_the_wait(postgres_url: str) -> None:
    box, stop = PostgresInbox(postgres_url), threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    box.wait_for_event(30.0, stop)
    assert time.monotonic() - started < 2.0


def _claim_all(url: str, name: str, out: Any) -> None:
    box = PostgresInbox(url)
    got = []
    while (item := box.claim(name)) is not None:
        got.append(item.id)
        time.sleep(0.002)  # hold the row a moment, so the other claimers must skip it
        assert box.ack(item.id, name)
    out.put(got)


def test_claimers_on_many_hosts_never_share_an_event(postgres_url: str) -> None:
    box: EventInbox = PostgresInbox(postgres_url)
    ids = {put(box, i) for i in range(300)}  # type: ignore[arg-type]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(postgres_url, f"host{n}", out)) for n in range(4)]
    for p in procs:
        p.start()
    claimed = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    every = [i for got in claimed for i in got]
    assert sorted(every) == sorted(ids) and len(every) == len(set(every))
    assert sum(1 for got in claimed if got) >= 2, "one host did all the work: nothing was contended"
    assert box.counts()["done"] == 300
