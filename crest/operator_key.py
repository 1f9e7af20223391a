"""The operator key: checked in constant time, with failed attempts rate limited.

The key opens the app's operator pages (installations, the inbox, the hosting check). It is
never accepted in a URL, since URLs land in every access log on the way (the WSGI server's,
nginx's, a proxy's); it comes in the ``X-Operator-Key`` header or a POSTed form, and a page
that accepted it hands its own later requests a short-lived signed token instead (the same
page tokens the iframe pages use), so the key is sent once.

A guesser is slowed down per client address: after ``max_failures`` wrong keys within
``window`` seconds every further attempt from that address is refused, right or wrong, until
the window has passed. Behind a reverse proxy all requests may share one address; then the
limit is global, which errs on the safe side.
"""

from __future__ import annotations

import hmac
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["KeyCheck", "OperatorGate"]

#: Addresses remembered before expired ones are swept out.
_MAX_CLIENTS = 10_000


class KeyCheck(Enum):
    OK = "ok"
    WRONG = "wrong"
    LIMITED = "limited"


@dataclass
class OperatorGate:
    key: str = field(repr=False)
    clock: Callable[[], float]
    max_failures: int = 5
    window: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may now)."""
        with self._lock:
            now = self.clock()
            recent = self._prune(client, now)
            if len(recent) < self.max_failures:
                return 0.0
            return max(0.0, recent[0] + self.window - now)

    def check(self, given: str, client: str) -> KeyCheck:
        """Compare ``given`` with the key; a limited client is refused before any comparison."""
        with self._lock:
            now = self.clock()
            recent = self._prune(client, now)
            if len(recent) >= self.max_failures:
                return KeyCheck.LIMITED
            if self.key and hmac.compare_digest(given.encode(), self.key.encode()):
                return KeyCheck.OK
            recent.append(now)
            self._failures[client] = recent
            if len(self._failures) > _MAX_CLIENTS:
                self._sweep(now)
            return KeyCheck.WRONG

    def _prune(self, client: str, now: float) -> deque[float]:
        recent = self._failures.pop(client, None) or deque()
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if recent:
            self._failures[client] = recent
        return recent

    def _sweep(self, now: float) -> None:
        # Many addresses guessing at once: forget those whose failures have all expired.
        for client in list(self._failures):
            self._prune(client, now)
