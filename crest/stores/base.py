"""The installation store protocol, and the lock plumbing the stores share.

A store keeps :class:`~crest.installation.Installation` records by ``member_id``. Its
contract (checked for every store by :class:`crest.stores.contract.StoreContract`):

* ``save`` replaces the whole record atomically: a reader in any thread or process sees the
  old record or the new one, never a mix, even if the writer is killed mid-write.
* ``find(member_id)`` returns the record or ``None``; ``find()`` (no ``member_id``) returns the
  only installation, for CRest's one-portal mode, and raises :class:`StoreError` when there
  are several.
* ``lock(member_id, timeout)`` is an exclusive lock held across threads *and* processes, for
  the read → refresh → save sequence of a token renewal (refresh tokens are single-use, so
  two renewals must never overlap). It is re-entrant within one thread, so ``save``/``find``
  and nested ``lock`` calls work while it is held. Its granularity may be coarser than one
  portal (the file and SQLite stores hold one lock for the whole store); a lock whose holder
  dies, even by SIGKILL, is released by the operating system. A wait longer than ``timeout``
  raises :class:`StoreError`.
* ``close()`` releases what the store holds open (connections); the store stays usable and
  reconnects on its next call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

from crest.errors import StoreError
from crest.installation import Installation

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "InstallationStore",
    "LockRegistry",
    "ReentrantLock",
    "single_installation",
]

#: Long enough to outlast one token refresh (the OAuth server answers in well under this).
DEFAULT_LOCK_TIMEOUT = 30.0


@runtime_checkable
class InstallationStore(Protocol):
    """Where installations live. See the module docstring for the contract."""

    def save(self, installation: Installation) -> None: ...

    def find(self, member_id: str | None = None) -> Installation | None: ...

    def delete(self, member_id: str) -> None: ...

    def all_installations(self) -> list[Installation]: ...

    def lock(self, member_id: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


def single_installation(installations: Iterable[Installation]) -> Installation | None:
    """``find(None)``: the only installation, ``None`` when there is none, an error when several."""
    found = list(installations)
    if len(found) > 1:
        raise StoreError(
            f"the store holds {len(found)} installations: pass member_id to choose one",
            hint="find() without member_id is CRest's one-portal mode.",
        )
    return found[0] if found else None


class _OuterLock(Protocol):
    """A lock between processes; the in-process part is :class:`ReentrantLock`'s job."""

    def acquire(self, timeout: float) -> None: ...

    def release(self) -> None: ...

    def forget(self) -> None:
        """In a forked child: drop what was inherited without unlocking it for the parent."""


class _NoOuterLock:
    def acquire(self, timeout: float) -> None:
        return None

    def release(self) -> None:
        return None

    def forget(self) -> None:
        return None


class ReentrantLock:
    """A thread-reentrant lock in front of an optional inter-process lock.

    Threads queue on a :class:`threading.RLock`, so they wait without polling and the
    inter-process lock (a ``flock``, a SQLite write transaction) is taken once per process, by
    the outermost holder; nested holds by the same thread only count depth.
    """

    def __init__(self, outer: _OuterLock | None = None, *, name: str = "store") -> None:
        self._outer: _OuterLock = outer if outer is not None else _NoOuterLock()
        self._name = name
        self._rlock = threading.RLock()
        self._depth = 0  # read and written only by the RLock's owner

    def forget(self) -> None:
        self._outer.forget()

    @contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        if not timeout >= 0:  # also refuses NaN
            raise ValueError("timeout must be a non-negative number of seconds")
        deadline = time.monotonic() + timeout
        if not self._rlock.acquire(timeout=timeout):
            raise StoreError(f"timed out after {timeout:g} s waiting for the lock of {self._name}")
        try:
            if self._depth == 0:
                self._outer.acquire(max(0.0, deadline - time.monotonic()))
            self._depth += 1
        except BaseException:
            self._rlock.release()
            raise
        try:
            yield
        finally:
            self._depth -= 1
            try:
                if self._depth == 0:
                    self._outer.release()
            finally:
                self._rlock.release()


class LockRegistry:
    """One :class:`ReentrantLock` per key (a resolved path) per process.

    Two store objects on the same file must share the in-process lock, or a thread holding
    the lock through one would deadlock on its own ``flock`` through the other. The registry
    is emptied in a forked child: a lock held by a parent's thread at fork time would
    otherwise stay held forever in the child.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, ReentrantLock] = {}
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        for lock in self._locks.values():
            lock.forget()
        self._guard = threading.Lock()
        self._locks = {}

    def get(
        self, key: str, make: Callable[[str], _OuterLock] | None = None, *, name: str = ""
    ) -> ReentrantLock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                outer = make(key) if make is not None else None
                lock = self._locks[key] = ReentrantLock(outer, name=name or key)
            return lock
