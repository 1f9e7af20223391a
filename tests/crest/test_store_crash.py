"""SIGKILL a process that is saving token pairs, at random moments, and check what is left.

After every kill the store must be readable and hold one whole pair, the last one or the one
before it (never a mix, never older than a pair already seen), and the lock the dead child
may have held must be free again within 2 s. Meanwhile this process reads the store as the
child writes, so torn reads across processes are caught too.
"""

from __future__ import annotations

import functools
import multiprocessing
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from crest.stores import JsonFileStore, SqliteStore
from crest.stores.contract import MEMBER_A, StoreFactory, hammer_saves, make_installation, pair_of

ROUNDS = 6
_spawn = multiprocessing.get_context("spawn")


def _factory(kind: str, directory: Path) -> StoreFactory:
    if kind == "json":
        return functools.partial(JsonFileStore, directory / "settings.json")
    return functools.partial(SqliteStore, directory / "crest.sqlite")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["json", "sqlite"])
def test_sigkill_while_saving_leaves_a_whole_pair_and_a_free_lock(tmp_path: Path, kind: str) -> None:
    factory = _factory(kind, tmp_path)
    store = factory()
    store.save(make_installation(MEMBER_A, 0))
    rng = random.Random(f"crash-{kind}")  # reproducible kill moments
    seen = 0
    for _ in range(ROUNDS):
        started = _spawn.Event()
        child = _spawn.Process(target=hammer_saves, args=(factory, MEMBER_A, started))
        child.start()
        try:
            assert started.wait(30), "the child never saved"
            kill_at = time.monotonic() + rng.uniform(0.005, 0.2)
            while time.monotonic() < kill_at:
                found = store.find(MEMBER_A)
                assert found is not None
                n = pair_of(found)
                assert n >= seen, f"went back from pair {seen} to {n}"
                seen = n
            child.kill()
            child.join(10)
        finally:
            if child.is_alive():
                child.kill()
                child.join(10)
        assert child.exitcode == -signal.SIGKILL

        found = factory().find(MEMBER_A)
        assert found is not None
        n = pair_of(found)
        assert n >= seen and n > 0
        assert found == make_installation(MEMBER_A, n)  # every field from the same save
        seen = n

        started_waiting = time.monotonic()
        with store.lock(MEMBER_A, timeout=2):
            store.save(make_installation(MEMBER_A, n))  # and the store takes writes again
        assert time.monotonic() - started_waiting < 2

        if kind == "sqlite":
            db = sqlite3.connect(tmp_path / "crest.sqlite")
            try:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            finally:
                db.close()
    assert seen > ROUNDS, "the children saved too little for the test to mean anything"
