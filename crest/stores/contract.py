"""The contract every :class:`~crest.stores.base.InstallationStore` must pass (a pytest suite).

Test code, shipped in the package so that a store living elsewhere reuses it. It imports
pytest; nothing in ``crest`` imports this module. To check a store, subclass
:class:`StoreContract` in a test file and provide a ``store_factory`` fixture: a picklable
callable (``functools.partial(MyStore, dsn)``) that returns a new handle on *the same*
storage each time it is called, in this process or in a child process::

    class TestMyStore(StoreContract):
        cross_process = True        # lock() must hold across processes
        file_based = False          # True: every file next to store.path must be mode 0600

        @pytest.fixture
        def store_factory(self, tmp_path):
            return functools.partial(MyStore, tmp_path / "x.db")

Children are started with the ``spawn`` method, so the factory and the workers below must
be importable; that is why the workers live here and not in a test file.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import stat
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import ClassVar

import pytest

from crest.errors import StoreError
from crest.installation import Installation
from crest.stores.base import InstallationStore

__all__ = [
    "MEMBER_A",
    "MEMBER_B",
    "StoreContract",
    "StoreFactory",
    "hammer_saves",
    "make_installation",
    "pair_of",
]

StoreFactory = Callable[[], InstallationStore]

MEMBER_A = "a223c6b3710f85df22e9377d6c4f7553"
MEMBER_B = "0123456789abcdef0123456789abcdef"

_spawn = multiprocessing.get_context("spawn")


def make_installation(member_id: str = MEMBER_A, n: int = 0, **changes: object) -> Installation:
    """A realistic record whose token pair is tagged ``n`` (see :func:`pair_of`)."""
    record = Installation(
        member_id=member_id,
        domain="portal.example.com",
        client_endpoint="https://portal.example.com/rest/",
        access_token=f"access-{n:08d}-{member_id}",
        refresh_token=f"refresh-{n:08d}-{member_id}",
        expires=1780319382.0 + n,
        application_token=f"apptoken-{member_id}",
        server_endpoint="https://oauth.bitrix.info/rest/",
        scope="crm,user",
        user_id=1,
        status="L",
        installed_at=1780000000.0,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def pair_of(installation: Installation) -> int:
    """The tag ``n`` of a record's token pair; fails when the two tokens are from different pairs."""
    access = installation.access_token.split("-")[1]
    refresh = installation.refresh_token.split("-")[1]
    assert access == refresh, f"torn record: access pair {access}, refresh pair {refresh}"
    assert installation.expires == 1780319382.0 + int(access), "expires is from another save"
    return int(access)


# --- workers run in child processes (must be importable for spawn) ---------------------------


def _count_under_lock(factory: StoreFactory, member_id: str, times: int, barrier: Barrier) -> None:
    store = factory()
    barrier.wait()
    for _ in range(times):
        with store.lock(member_id, timeout=60):
            current = store.find(member_id)
            assert current is not None
            # The pause widens the read-modify-write window so a broken lock loses updates.
            time.sleep(0.001)
            store.save(dataclasses.replace(current, scope=str(int(current.scope) + 1)))


def _hold_lock(factory: StoreFactory, member_id: str, held: Event, seconds: float) -> None:
    store = factory()
    with store.lock(member_id, timeout=10):
        held.set()
        time.sleep(seconds)


def hammer_saves(factory: StoreFactory, member_id: str, started: Event) -> None:
    """Save pair after pair, mostly under the lock, until killed (the crash test's child)."""
    store = factory()
    current = store.find(member_id)
    n = pair_of(current) if current is not None else 0
    while True:
        n += 1
        if n % 3:
            with store.lock(member_id, timeout=10):
                store.save(make_installation(member_id, n))
        else:
            store.save(make_installation(member_id, n))
        started.set()


# --- the suite -------------------------------------------------------------------------------


class StoreContract:
    """Behaviour shared by all stores. Subclasses provide the ``store_factory`` fixture."""

    cross_process: ClassVar[bool] = True
    file_based: ClassVar[bool] = False
    processes: ClassVar[int] = 4
    increments: ClassVar[int] = 20

    def test_is_an_installation_store(self, store_factory: StoreFactory) -> None:
        assert isinstance(store_factory(), InstallationStore)

    def test_empty_store(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        assert store.find() is None
        assert store.find(MEMBER_A) is None
        assert store.all_installations() == []
        store.delete(MEMBER_A)  # deleting nothing is not an error

    def test_save_find_delete_round_trip(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        a, b = make_installation(MEMBER_A, 1), make_installation(MEMBER_B, 2)
        store.save(a)
        store.save(b)
        assert store.find(MEMBER_A) == a
        assert store.find(MEMBER_B) == b
        assert sorted(i.member_id for i in store.all_installations()) == sorted([MEMBER_A, MEMBER_B])
        store.delete(MEMBER_A)
        assert store.find(MEMBER_A) is None
        assert store.find(MEMBER_B) == b
        store.delete(MEMBER_B)
        assert store.all_installations() == []

    def test_every_field_round_trips(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        odd = make_installation(
            MEMBER_A,
            7,
            domain="пример.bitrix24.ru",
            scope="crm,<script>&'\"\\/ 😀",
            expires=1780319389.0,
            user_id=None,
            status="F",
            installed_at=1780000000.125,
            refreshed_at=1780000001.5,
            needs_reinstall=True,
        )
        store.save(odd)
        assert store_factory().find(MEMBER_A) == odd
        unknown = make_installation(MEMBER_A, 8, expires=None, installed_at=None, application_token="")
        store.save(unknown)
        assert store_factory().find(MEMBER_A) == unknown

    def test_find_without_member_id(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        a = make_installation(MEMBER_A, 1)
        store.save(a)
        assert store.find() == a  # CRest's one-portal mode
        store.save(make_installation(MEMBER_B, 2))
        with pytest.raises(StoreError):
            store.find()
        with pytest.raises(StoreError):
            store.find(None)
        store.delete(MEMBER_B)
        assert store.find() == a

    def test_save_replaces_the_whole_record(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        store.save(make_installation(MEMBER_A, 1, user_id=5, scope="crm", refreshed_at=1.0))
        newer = make_installation(
            MEMBER_A, 2, user_id=None, scope="", refreshed_at=None, application_token=""
        )
        store.save(newer)
        assert store.find(MEMBER_A) == newer
        assert store_factory().find(MEMBER_A) == newer

    def test_other_handles_see_saves(self, store_factory: StoreFactory) -> None:
        first, second = store_factory(), store_factory()
        first.save(make_installation(MEMBER_A, 3))
        found = second.find(MEMBER_A)
        assert found is not None and pair_of(found) == 3

    def test_readers_never_see_a_torn_record(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        store.save(make_installation(MEMBER_A, 0))
        stop = threading.Event()
        failures: list[BaseException] = []
        seen: set[int] = set()

        def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                store.save(make_installation(MEMBER_A, n))

        def read() -> None:
            reader = store_factory()
            try:
                while not stop.is_set():
                    found = reader.find(MEMBER_A)
                    assert found is not None
                    seen.add(pair_of(found))
            except BaseException as exc:
                failures.append(exc)
                stop.set()

        threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(10)
        assert not failures, failures[0]
        assert len(seen) > 1, "the readers never saw a new record: the test proved nothing"

    def test_lock_excludes_threads(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        store.save(make_installation(MEMBER_A, 0, scope="0"))
        shared = {"count": 0}
        rounds = 25

        def work() -> None:
            handle = store_factory()
            for _ in range(rounds):
                with handle.lock(MEMBER_A, timeout=30):
                    count = shared["count"]
                    record = handle.find(MEMBER_A)
                    assert record is not None
                    time.sleep(0.001)  # a lost update needs the other thread to run here
                    shared["count"] = count + 1
                    handle.save(dataclasses.replace(record, scope=str(int(record.scope) + 1)))

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert shared["count"] == 2 * rounds
        final = store.find(MEMBER_A)
        assert final is not None and final.scope == str(2 * rounds)

    def test_lock_is_reentrant_and_allows_store_calls(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        with store.lock(MEMBER_A, timeout=5):
            with store.lock(MEMBER_A, timeout=5):
                store.save(make_installation(MEMBER_A, 1))
            assert store.find(MEMBER_A) == make_installation(MEMBER_A, 1)
            store.save(make_installation(MEMBER_A, 2))
            store.delete(MEMBER_B)
        assert store_factory().find(MEMBER_A) == make_installation(MEMBER_A, 2)

    def test_lock_timeout_raises_store_error(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with store_factory().lock(MEMBER_A, timeout=5):
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert held.wait(5)
            started = time.monotonic()
            with pytest.raises(StoreError), store.lock(MEMBER_A, timeout=0.3):
                pytest.fail("got a lock that another thread holds")
            waited = time.monotonic() - started
            assert 0.25 <= waited < 3, waited
        finally:
            release.set()
            holder.join(10)
        with store.lock(MEMBER_A, timeout=5):
            pass  # free again once the holder is done

    def test_lock_is_released_on_exception(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        with pytest.raises(RuntimeError), store.lock(MEMBER_A, timeout=5):
            raise RuntimeError("refresh failed")
        acquired = threading.Event()

        def take() -> None:
            with store_factory().lock(MEMBER_A, timeout=2):
                acquired.set()

        other = threading.Thread(target=take)
        other.start()
        other.join(10)
        assert acquired.is_set()

    def test_lock_excludes_processes(self, store_factory: StoreFactory) -> None:
        if not self.cross_process:
            pytest.skip("this store is for one process")
        store = store_factory()
        store.save(make_installation(MEMBER_A, 0, scope="0"))
        barrier = _spawn.Barrier(self.processes)
        workers = [
            _spawn.Process(target=_count_under_lock, args=(store_factory, MEMBER_A, self.increments, barrier))
            for _ in range(self.processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0] * self.processes
        final = store.find(MEMBER_A)
        assert final is not None and final.scope == str(self.processes * self.increments)

    def test_lock_held_by_another_process(self, store_factory: StoreFactory) -> None:
        if not self.cross_process:
            pytest.skip("this store is for one process")
        store = store_factory()
        held = _spawn.Event()
        holder = _spawn.Process(target=_hold_lock, args=(store_factory, MEMBER_A, held, 60.0))
        holder.start()
        try:
            assert held.wait(30), "the child never took the lock"
            with pytest.raises(StoreError), store.lock(MEMBER_A, timeout=0.3):
                pytest.fail("got a lock that another process holds")
            holder.kill()  # SIGKILL: no cleanup runs in the holder
            holder.join(10)
            started = time.monotonic()
            with store.lock(MEMBER_A, timeout=2):
                pass
            assert time.monotonic() - started < 2
        finally:
            if holder.is_alive():
                holder.kill()
                holder.join(10)

    def test_files_are_private(self, store_factory: StoreFactory) -> None:
        if not self.file_based:
            pytest.skip("this store keeps no files")
        store = store_factory()
        old_umask = os.umask(0o022)  # a permissive umask must not widen the files
        try:
            store.save(make_installation(MEMBER_A, 1))
            with store.lock(MEMBER_A, timeout=5):
                store.save(make_installation(MEMBER_B, 2))
            store.save(make_installation(MEMBER_A, 3))
        finally:
            os.umask(old_umask)
        path = Path(getattr(store, "path"))  # noqa: B009 - not every store has a path
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name) or path.name in p.name]
        assert path in files
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

    def test_tokens_are_masked_in_repr(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        record = make_installation(MEMBER_A, 1)
        store.save(record)
        found = store.find(MEMBER_A)
        assert found is not None
        for text in (repr(found), str(found), f"{found}", repr(store), repr([found])):
            for secret in (record.access_token, record.refresh_token, record.application_token):
                assert secret not in text
        assert "acce…" in repr(found)
