"""Client-side pacing that keeps a process under Bitrix24's two limits.

* **Request rate** (leaky bucket, reference 3.1): every HTTP request adds 1 to a counter kept
  per portal and source IP, which drains at ``Y`` per second; past ``X`` the portal answers
  503 ``QUERY_LIMIT_EXCEEDED``. :meth:`Limiter.acquire` *reserves* a slot when a request is
  about to be sent, not when its answer arrives: threads that send at once each get their
  own slot time, so a pool of workers cannot overshoot the bucket while answers are in
  flight. One limiter is shared by every thread of a process (:meth:`Limiter.shared`), and a
  pool of worker processes splits the plan between them (``share=1/N``).
* **Operating time** (reference 3.2): server time is summed per method over a 10-minute
  window; past 480 s that method (only that one) answers 429 ``OPERATION_TIME_LIMIT`` until
  ``operating_reset_at``. The limiter learns each method's use from ``time.operating`` of
  answers and from ``result_time[cmd]`` of batch sub-calls, slows a method down before it
  reaches the limit, and on a 429 pauses just that method.

A small safety margin (10 % of the burst, 1 % of the drain rate) absorbs the jitter between
the moment a slot is reserved and the moment the portal counts the request.

Every duration of a plan divides by ``speed``, as the local portal's do, so a benchmark on
a sped-up portal paces exactly as a real one would, only faster.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crest.errors import ApiError, OperationTimeLimitError, QueryLimitExceededError

__all__ = ["PLANS", "Limiter", "Plan"]


@dataclass(frozen=True)
class Plan:
    """One tariff's limits, in portal seconds."""

    burst: int
    drain: float
    operating_window: float = 600.0
    operating_limit: float = 480.0
    #: Calls that take this long or less are not recorded by the portal.
    operating_min_time: float = 0.1


#: Bitrix24's published numbers (reference 3.1, 3.2).
PLANS: dict[str, Plan] = {"standard": Plan(50, 2.0), "enterprise": Plan(250, 5.0)}

_REGISTRY: dict[tuple[str, str, float, float], Limiter] = {}
_REGISTRY_LOCK = threading.Lock()


@dataclass
class _Budget:
    """What we know of one method's operating time."""

    #: (wall time, seconds) of calls we saw, newest last; only calls the portal records.
    local: deque[tuple[float, float]] = field(default_factory=deque)
    #: The portal's own sum (``time.operating``) and when its oldest bucket expires.
    server_used: float = 0.0
    server_reset_at: float = 0.0
    paused_until: float = 0.0


class Limiter:
    """A leaky bucket for requests plus an operating-time budget per method.

    Thread-safe. ``monotonic``, ``wall`` and ``sleep`` are injectable so the arithmetic can be
    tested without waiting.
    """

    def __init__(
        self,
        burst: float,
        drain: float,
        *,
        operating_window: float = 600.0,
        operating_limit: float = 480.0,
        operating_min_time: float = 0.1,
        margin: float = 0.1,
        rate_margin: float = 0.01,
        operating_margin: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if burst < 1 or drain <= 0:
            raise ValueError("a leaky bucket needs burst >= 1 and drain > 0")
        # Never below one slot: a share of a small plan still has to send something.
        self.capacity = max(1.0, burst - max(1.0, burst * margin))
        self.rate = drain * (1.0 - rate_margin)
        self.window = operating_window
        self.operating_limit = operating_limit
        self.min_time = operating_min_time
        #: Slow a method down once its use passes this much of the limit.
        self.soft_limit = operating_limit * (1.0 - operating_margin)
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._lock = threading.Lock()
        self._level = 0.0  # a fresh bucket is empty: the first ``capacity`` requests go at once
        self._last = monotonic()
        self._budgets: dict[str, _Budget] = {}
        self.sent = 0
        self.waited = 0.0

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def for_plan(
        cls, plan: str = "standard", *, speed: float = 1.0, share: float = 1.0, **kwargs: Any
    ) -> Limiter:
        """The limits of ``plan`` on a portal running ``speed`` times faster, ``share`` of them ours.

        ``share`` splits the bucket between worker processes that call the same portal from
        one IP: four workers each take ``share=0.25``.
        """
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        p = PLANS[plan]
        return cls(
            p.burst * share,
            p.drain * speed * share,
            operating_window=p.operating_window / speed,
            # Operating time is tracked per method and process-local sums are partial, so
            # the per-method budget is split too.
            operating_limit=p.operating_limit / speed * share,
            operating_min_time=p.operating_min_time / speed,
            **kwargs,
        )

    @classmethod
    def shared(
        cls, portal: str, plan: str = "standard", *, speed: float = 1.0, share: float = 1.0
    ) -> Limiter:
        """The process-wide limiter of ``portal`` (a URL or host): every thread gets the same one."""
        host = urlsplit(portal).netloc or portal
        key = (host.lower(), plan, float(speed), float(share))
        with _REGISTRY_LOCK:
            found = _REGISTRY.get(key)
            if found is None:
                found = _REGISTRY[key] = cls.for_plan(plan, speed=speed, share=share)
            return found

    # --- the leaky bucket ----------------------------------------------------------------------

    def _drained(self, now: float) -> float:
        return max(0.0, self._level - (now - self._last) * self.rate)

    def reserve(self) -> float:
        """Take the next slot; return how long to wait before sending (0 when there is room).

        The slot is counted at once, so concurrent callers queue behind each other: the
        k-th caller over capacity waits ``k / rate``.
        """
        with self._lock:
            now = self._monotonic()
            self._level = self._drained(now) + 1.0
            self._last = now
            self.sent += 1
            wait = max(0.0, (self._level - self.capacity) / self.rate)
            self.waited += wait
            return wait

    def level(self) -> float:
        """The bucket's level as this limiter models it (reserved slots included)."""
        with self._lock:
            return self._drained(self._monotonic())

    def saturate(self) -> None:
        """The portal said the bucket is full (a 503): model it full from now."""
        with self._lock:
            now = self._monotonic()
            self._level = max(self._drained(now), self.capacity)
            self._last = now

    # --- operating time ------------------------------------------------------------------------

    def _budget(self, method: str) -> _Budget:
        key = method.lower()
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = _Budget()
        return budget

    def _used(self, budget: _Budget, now: float) -> float:
        while budget.local and budget.local[0][0] + self.window <= now:
            budget.local.popleft()
        local = sum(s for _, s in budget.local)
        server = budget.server_used if now < budget.server_reset_at else 0.0
        return max(local, server)

    def _free_at(self, budget: _Budget, now: float) -> float:
        """When the oldest recorded time leaves the window (when budget frees up)."""
        candidates = [budget.server_reset_at] if budget.server_reset_at > now else []
        if budget.local:
            candidates.append(budget.local[0][0] + self.window)
        return min(candidates) if candidates else now + self.window / 10

    def operating_wait(self, method: str) -> float:
        """Seconds ``method`` must wait for its operating budget (0 when it may go)."""
        with self._lock:
            now = self._wall()
            budget = self._budgets.get(method.lower())
            if budget is None:
                return 0.0
            if budget.paused_until > now:
                return budget.paused_until - now
            if self._used(budget, now) >= self.soft_limit:
                return max(0.0, self._free_at(budget, now) - now)
            return 0.0

    def operating_used(self, method: str) -> float:
        with self._lock:
            budget = self._budgets.get(method.lower())
            return 0.0 if budget is None else self._used(budget, self._wall())

    def hold(self, method: str, *, max_wait: float | None = None) -> float:
        """Block while ``method`` has no operating budget; return the time waited.

        Other methods are not affected: a paused ``crm.contact.list`` does not hold up
        ``crm.deal.add``.
        """
        waited = 0.0
        while True:
            wait = self.operating_wait(method)
            if wait <= 0 or (max_wait is not None and waited >= max_wait):
                return waited
            # Wake up at least every few seconds: an answer may have freed budget meanwhile.
            step = min(wait + 0.01, 5.0)
            self._sleep(step)
            waited += step

    def _record(self, budget: _Budget, seconds: float, now: float) -> None:
        if seconds > self.min_time:
            budget.local.append((now, seconds))

    def observe_time(self, method: str, block: Mapping[str, Any] | None, *, sub_call: bool = False) -> None:
        """Learn from one ``time`` block (of an answer, or ``result_time[cmd]`` of a sub-call)."""
        if not block or method.lower() == "batch":  # batch itself is never charged
            return
        with self._lock:
            now = self._wall()
            budget = self._budget(method)
            processing = block.get("processing", block.get("duration"))
            if isinstance(processing, int | float):
                self._record(budget, float(processing), now)
            used = block.get("operating")
            reset_at = block.get("operating_reset_at")
            if not sub_call and isinstance(used, int | float) and isinstance(reset_at, int | float):
                budget.server_used = float(used)
                budget.server_reset_at = float(reset_at)

    def observe_batch(self, methods: Mapping[str, str], times: Mapping[str, Any]) -> None:
        """Charge each sub-call's ``result_time`` to its own method (``methods``: key -> method)."""
        for key, block in times.items():
            method = methods.get(str(key))
            if method and isinstance(block, Mapping):
                self.observe_time(method, block, sub_call=True)

    def pause(self, method: str, until: float) -> None:
        with self._lock:
            budget = self._budget(method)
            budget.paused_until = max(budget.paused_until, until)

    # --- the Limiter protocol of crest.client ------------------------------------------------

    def acquire(self, method: str) -> None:
        """Wait for ``method``'s operating budget, then for a slot of the bucket."""
        self.hold(method)
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)

    def observe(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        self.observe_time(method, time_block)

    def backoff(self, method: str, error: ApiError) -> float | None:
        """How long to wait before re-sending after ``error``; None when it must not be re-sent.

        * 503 ``QUERY_LIMIT_EXCEEDED``: the portal's bucket is full (someone else shares it, or
          it was full when we started). Model it full and let :meth:`acquire` pace the retry;
          a little jitter spreads threads that were refused together.
        * 429 ``OPERATION_TIME_LIMIT``: pause only this method until the portal's
          ``operating_reset_at`` (or our own estimate of when budget frees up).
        """
        if isinstance(error, QueryLimitExceededError):
            self.saturate()
            return random.uniform(0, 1.0 / self.rate)
        if isinstance(error, OperationTimeLimitError):
            now = self._wall()
            with self._lock:
                budget = self._budget(method)
                until = error.reset_at or self._free_at(budget, now)
                # The portal refuses while the sum is over the limit: treat it as full.
                budget.server_used = max(budget.server_used, self.operating_limit)
                budget.server_reset_at = max(budget.server_reset_at, until)
                budget.paused_until = max(budget.paused_until, until)
            return max(0.0, until - now) + 0.01
        return None

    # --- reporting -----------------------------------------------------------------------------

    def floor(self, requests: int) -> float:
        """The least time ``requests`` can take through this bucket from empty (for benchmarks)."""
        return max(0.0, math.ceil(requests - self.capacity) / self.rate)

    def __repr__(self) -> str:
        return f"Limiter(capacity={self.capacity:g}, rate={self.rate:g}/s, operating_limit={self.operating_limit:g}s)"
