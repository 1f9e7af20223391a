"""The portal's clock: real time plus an offset that tests can move, and can stop."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock seconds, movable forward so that tokens expire without waiting an hour.

    A frozen clock stands still until it is advanced: tests of the leaky bucket count requests
    exactly, without real time draining the bucket while they are sent.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._frozen_at: float | None = None
        self._lock = threading.Lock()

    def time(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            if self._frozen_at is not None:
                self._frozen_at += seconds
            return self._offset

    def freeze(self, frozen: bool = True) -> None:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.time() + self._offset
            elif not frozen and self._frozen_at is not None:
                # Time resumes from where it stood: the offset absorbs the pause.
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def offset(self) -> float:
        return self._offset
