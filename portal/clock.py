"""The portal's clock: real time plus an offset that tests can move."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock seconds, movable forward so that tokens expire without waiting an hour."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def time(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset

    @property
    def offset(self) -> float:
        return self._offset
