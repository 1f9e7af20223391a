"""Bitrix24's two limits, as a portal enforces them.

* Request rate: a leaky bucket per portal and source IP. Each request adds 1; the level
  drains at Y a second; a request that would take it over X is refused with 503
  ``QUERY_LIMIT_EXCEEDED`` (and does not fill the bucket).
* Operating time: per app-or-webhook and method, summed in ten 60 s buckets; calls of
  0.1 s or less are not recorded; once the sum is over the limit, the method answers 429
  ``OPERATION_TIME_LIMIT`` until the oldest bucket expires (``operating_reset_at``).

All durations are real seconds: the portal's constants divided by ``speed``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from portal.clock import Clock
from portal.config import PortalConfig


class LeakyBucket:
    def __init__(self, burst: int, drain_per_second: float, clock: Clock) -> None:
        self.burst = burst
        self.drain = drain_per_second
        self.clock = clock
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one request; False when it must be refused."""
        now = self.clock.time()
        with self._lock:
            level, last = self._levels.get(key, (0.0, now))
            level = max(0.0, level - (now - last) * self.drain)
            if level + 1 > self.burst:
                self._levels[key] = (level, now)
                return False
            self._levels[key] = (level + 1, now)
            return True

    def level(self, key: str) -> float:
        now = self.clock.time()
        with self._lock:
            level, last = self._levels.get(key, (0.0, now))
            return max(0.0, level - (now - last) * self.drain)

    def reset(self) -> None:
        with self._lock:
            self._levels.clear()


@dataclass
class _Slot:
    start: float
    used: float


class OperatingLimiter:
    BUCKETS = 10

    def __init__(self, config: PortalConfig, clock: Clock) -> None:
        self.window = config.scaled(config.operating_window)
        self.slot = self.window / self.BUCKETS
        self.limit = config.scaled(config.operating_limit)
        self.min_time = config.scaled(config.operating_min_time)
        self.clock = clock
        self._slots: dict[str, list[_Slot]] = defaultdict(list)
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> list[_Slot]:
        slots = [s for s in self._slots.get(key, ()) if s.start + self.window > now]
        self._slots[key] = slots
        return slots

    def status(self, key: str) -> tuple[float, float | None]:
        """(seconds used in the window, when the oldest bucket expires)."""
        now = self.clock.time()
        with self._lock:
            slots = self._live(key, now)
            if not slots:
                return 0.0, None
            return sum(s.used for s in slots), slots[0].start + self.window

    def blocked(self, key: str) -> bool:
        used, _ = self.status(key)
        return used > self.limit

    def charge(self, key: str, seconds: float) -> None:
        if seconds <= self.min_time:
            return
        now = self.clock.time()
        with self._lock:
            slots = self._live(key, now)
            if slots and now < slots[-1].start + self.slot:
                slots[-1].used += seconds
            else:
                slots.append(_Slot(now, seconds))

    def reset(self) -> None:
        with self._lock:
            self._slots.clear()
