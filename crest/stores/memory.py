"""An in-memory store: for tests and single-process tools. Locks span threads only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from crest.installation import Installation
from crest.stores.base import DEFAULT_LOCK_TIMEOUT, ReentrantLock, single_installation

__all__ = ["MemoryStore"]


class MemoryStore:
    """Installations in a dict. Records are frozen, so handing them out shares nothing mutable.

    ``lock`` is per portal and re-entrant within a thread; it does not reach other processes.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._records: dict[str, Installation] = {}
        self._locks: dict[str, ReentrantLock] = {}

    def save(self, installation: Installation) -> None:
        with self._guard:
            self._records[installation.member_id] = installation

    def find(self, member_id: str | None = None) -> Installation | None:
        with self._guard:
            if member_id is None:
                return single_installation(self._records.values())
            return self._records.get(member_id)

    def delete(self, member_id: str) -> None:
        with self._guard:
            self._records.pop(member_id, None)

    def all_installations(self) -> list[Installation]:
        with self._guard:
            return list(self._records.values())

    @contextmanager
    def lock(self, member_id: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        with self._guard:
            portal_lock = self._locks.get(member_id)
            if portal_lock is None:
                portal_lock = self._locks[member_id] = ReentrantLock(name=f"portal {member_id}")
        with portal_lock.hold(timeout):
            yield

    def close(self) -> None:
        """Nothing to release; here so every store can be closed the same way."""

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._records)} installations)"
