"""Named points in concurrent code where a test may pause or inspect one actor.

Renewal and the inbox are correct only in one order (read, lock, re-read, refresh, save; a
claim's read and write in one transaction). A timing-based race test catches an ordering
bug only sometimes; a test that injects a :class:`SyncPoint` can stop an actor at a named
point and force the interleaving that the bug would lose, on every run. Production code
passes :func:`no_sync`, which does nothing.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SyncPoint", "no_sync"]


class SyncPoint(Protocol):
    """Called with the point's name (e.g. ``"renew.locked"``) by the thread that reached it."""

    def __call__(self, name: str) -> None: ...


def no_sync(name: str) -> None:
    """The default: run straight through."""
