"""Faults on demand and the request record, both driven through the ``/_portal/`` admin API."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What the next ``count`` calls of ``method`` do.

    ``kind``: ``error`` answers ``error``/``description`` with ``status`` without running the
    method; ``delay`` sleeps ``delay`` seconds first; ``drop`` runs the method, then drops the
    connection without an answer (the outcome is unknown to the client).
    """

    method: str
    kind: str = "error"
    count: int = 1
    error: str = "INTERNAL_SERVER_ERROR"
    description: str = "Internal server error"
    status: int = 500
    delay: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        if data.get("kind", "error") not in {"error", "delay", "drop"}:
            raise ValueError("kind must be error, delay or drop")
        return cls(
            method=str(data["method"]).lower(),
            kind=str(data.get("kind", "error")),
            count=int(data.get("count", 1)),
            error=str(data.get("error", cls.error)),
            description=str(data.get("description", cls.description)),
            status=int(data.get("status", cls.status)),
            delay=float(data.get("delay", 0.0)),
        )


class Faults:
    """Pending faults, consumed one per matching call. ``*`` matches every method."""

    def __init__(self) -> None:
        self._pending: list[list[Any]] = []  # [fault, remaining]
        self._lock = threading.Lock()
        self.oauth_outage: int | None = None  # HTTP status the OAuth server answers, or None

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append([fault, fault.count])

    def take(self, method: str) -> Fault | None:
        if not self._pending:
            return None
        with self._lock:
            for entry in self._pending:
                fault, remaining = entry
                if remaining > 0 and fault.method in (method, "*"):
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._pending.remove(entry)
                    return fault  # type: ignore[no-any-return]
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self.oauth_outage = None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**asdict(f), "remaining": n} for f, n in self._pending]


@dataclass(frozen=True)
class RequestRecord:
    time: float
    path: str
    method: str  # REST method (lower case), "" for non-REST requests
    status: int
    error: str | None
    auth: str  # webhook, oauth, none, oauth_server
    ip: str
    batch_size: int = 0


class RequestLog:
    def __init__(self, maxlen: int = 200_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def add(self, record: RequestRecord) -> None:
        self._records.append(record)  # deque.append is atomic under the GIL

    def all(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in list(self._records)]

    def clear(self) -> None:
        self._records.clear()
