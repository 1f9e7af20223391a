"""One leaky bucket and one operating-time budget per portal, kept in PostgreSQL for every host.

:class:`crest.limits.Limiter` paces one process. Processes on several hosts importing into one
portal would each keep their own bucket and overshoot Bitrix24's limit together (50 + 2/s on
the standard plan); splitting the plan (``share=1/N``) wastes it whenever fewer are busy.
:class:`SharedLimiter` keeps the bucket's level in a row of ``crest_rate_bucket`` instead:

* a slot is *reserved* at send time by one atomic upsert that drains the level by the time
  passed and adds one, exactly the arithmetic of :meth:`Limiter.reserve`; the caller then
  sleeps ``(level - capacity) / rate``. Row locking makes concurrent reservations from any
  number of hosts queue behind each other, so together they stay under the bucket;
* time is the database server's clock (``clock_timestamp()``), so hosts whose clocks differ
  still agree on how far the bucket has drained;
* operating time per method is summed from ``crest_operating_use`` rows (each answer's
  ``time.processing`` above the portal's threshold) over the window, together with the
  portal's own ``time.operating`` and any pause after a 429, in ``crest_operating_state``:
  every host slows a method down before the portal would refuse it, and all stop on a 429.

If the database cannot be reached, the limiter falls back to its in-process bucket (and
logs it): calls keep flowing, paced per process, and a 503 is retried as usual.

Schema: :data:`crest.migrations.steps.POSTGRES_LIMITER` (component ``limiter``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from crest.errors import ApiError, OperationTimeLimitError, StoreError
from crest.limits import PLANS, Limiter
from crest.migrations.postgres import upgrade_postgres
from crest.migrations.steps import POSTGRES_LIMITER
from crest.stores.postgres import _psycopg, connect, is_postgres_url, redact

__all__ = ["SharedLimiter"]

log = logging.getLogger("crest.limits")

# Every time below is the database server's clock: extract(epoch FROM clock_timestamp())::float8.

_RESERVE = """
INSERT INTO crest_rate_bucket AS b (portal, level, updated_at) VALUES (%(portal)s, 1, extract(epoch FROM clock_timestamp())::float8)
ON CONFLICT (portal) DO UPDATE SET
    level = GREATEST(0, b.level - GREATEST(0, extract(epoch FROM clock_timestamp())::float8 - b.updated_at) * %(rate)s) + 1,
    updated_at = GREATEST(b.updated_at, extract(epoch FROM clock_timestamp())::float8)
RETURNING level
"""

_SATURATE = """
INSERT INTO crest_rate_bucket AS b (portal, level, updated_at) VALUES (%(portal)s, %(capacity)s, extract(epoch FROM clock_timestamp())::float8)
ON CONFLICT (portal) DO UPDATE SET
    level = GREATEST(%(capacity)s, b.level - GREATEST(0, extract(epoch FROM clock_timestamp())::float8 - b.updated_at) * %(rate)s),
    updated_at = GREATEST(b.updated_at, extract(epoch FROM clock_timestamp())::float8)
"""

_LEVEL = "SELECT GREATEST(0, level - GREATEST(0, extract(epoch FROM clock_timestamp())::float8 - updated_at) * %(rate)s) FROM crest_rate_bucket WHERE portal = %(portal)s"

_BUDGET = """
SELECT n.now,
       COALESCE((SELECT sum(seconds) FROM crest_operating_use u
                 WHERE u.portal = %(portal)s AND u.method = %(method)s AND u.at > n.now - %(window)s), 0),
       (SELECT min(at) FROM crest_operating_use u
                 WHERE u.portal = %(portal)s AND u.method = %(method)s AND u.at > n.now - %(window)s),
       s.server_used, s.server_reset_at, s.paused_until
FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) n
LEFT JOIN crest_operating_state s ON s.portal = %(portal)s AND s.method = %(method)s
"""

_RECORD_USE = "INSERT INTO crest_operating_use (portal, method, at, seconds) VALUES (%(portal)s, %(method)s, extract(epoch FROM clock_timestamp())::float8, %(seconds)s)"

_FORGET_OLD_USE = "DELETE FROM crest_operating_use WHERE portal = %(portal)s AND method = %(method)s AND at < extract(epoch FROM clock_timestamp())::float8 - %(window)s"

_SERVER_STATE = """
INSERT INTO crest_operating_state AS s (portal, method, server_used, server_reset_at, paused_until)
VALUES (%(portal)s, %(method)s, %(used)s, %(reset_at)s, %(paused)s)
ON CONFLICT (portal, method) DO UPDATE SET
    server_used = CASE WHEN %(force)s THEN GREATEST(s.server_used, excluded.server_used)
                       ELSE excluded.server_used END,
    server_reset_at = CASE WHEN %(force)s THEN GREATEST(s.server_reset_at, excluded.server_reset_at)
                           ELSE excluded.server_reset_at END,
    paused_until = GREATEST(s.paused_until, excluded.paused_until)
"""

_PAUSE = """
INSERT INTO crest_operating_state AS s (portal, method, paused_until) VALUES (%(portal)s, %(method)s, %(until)s)
ON CONFLICT (portal, method) DO UPDATE SET paused_until = GREATEST(s.paused_until, excluded.paused_until)
"""


def _portal_key(portal: str) -> str:
    return (urlsplit(portal).netloc or portal).lower()


class SharedLimiter(Limiter):
    """A :class:`Limiter` whose bucket and operating budgets live in PostgreSQL (see the module)."""

    def __init__(self, url: str, portal: str, burst: float, drain: float, **kwargs: Any) -> None:
        if not is_postgres_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redact(url)}")
        super().__init__(burst, drain, **kwargs)
        self.url = url
        self.portal = _portal_key(portal)
        self._local = threading.local()
        self._warned = False
        connection = self._connection()
        try:
            upgrade_postgres(connection, "limiter", POSTGRES_LIMITER)
        except _psycopg().Error as exc:
            raise StoreError(f"cannot prepare the limiter in {redact(url)}: {exc}") from None

    @classmethod
    def for_portal(
        cls, url: str, portal: str, plan: str = "standard", *, speed: float = 1.0, **kwargs: Any
    ) -> SharedLimiter:
        """The whole of ``plan``'s limits for ``portal``, shared with every host using ``url``."""
        p = PLANS[plan]
        return cls(
            url,
            portal,
            p.burst,
            p.drain * speed,
            operating_window=p.operating_window / speed,
            operating_limit=p.operating_limit / speed,
            operating_min_time=p.operating_min_time / speed,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"SharedLimiter({self.portal!r} in {redact(self.url)}, capacity={self.capacity:g}, rate={self.rate:g}/s)"

    # --- the database --------------------------------------------------------------------------

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed or self._local.pid != os.getpid():
            connection = connect(self.url)
            self._local.connection = connection
            self._local.pid = os.getpid()
        return connection

    def _query(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]] | None:
        """Run one statement; None when the database failed (the caller falls back)."""
        try:
            cursor = self._connection().execute(sql, params)
            rows = list(cursor.fetchall()) if cursor.description is not None else []
        except (StoreError, _psycopg().Error) as exc:
            connection = getattr(self._local, "connection", None)
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            self._local.connection = None
            if not self._warned:
                self._warned = True
                log.warning(
                    "shared limiter unavailable, pacing this process alone: %s", str(exc).splitlines()[0]
                )
            return None
        self._warned = False
        return rows

    def _params(self, **more: Any) -> dict[str, Any]:
        return {
            "portal": self.portal,
            "rate": self.rate,
            "capacity": self.capacity,
            "window": self.window,
            **more,
        }

    # --- the leaky bucket ----------------------------------------------------------------------

    def reserve(self) -> float:
        rows = self._query(_RESERVE, self._params())
        if rows is None:
            return super().reserve()
        wait = max(0.0, (float(rows[0][0]) - self.capacity) / self.rate)
        with self._lock:
            self.sent += 1
            self.waited += wait
        return wait

    def level(self) -> float:
        rows = self._query(_LEVEL, self._params())
        if rows is None:
            return super().level()
        return float(rows[0][0]) if rows else 0.0

    def saturate(self) -> None:
        if self._query(_SATURATE, self._params()) is None:
            super().saturate()

    # --- operating time ------------------------------------------------------------------------

    def _shared_budget(self, method: str) -> tuple[float, float, float] | None:
        """(now, used, seconds until budget frees up) of ``method``, or None without a database."""
        rows = self._query(_BUDGET, self._params(method=method.lower()))
        if rows is None:
            return None
        now, local, oldest, server_used, server_reset_at, paused_until = rows[0]
        server = float(server_used) if server_used is not None and now < server_reset_at else 0.0
        used = max(float(local), server)
        if paused_until is not None and paused_until > now:
            return now, used, float(paused_until) - now
        free: list[float] = []
        if server_reset_at is not None and server_reset_at > now:
            free.append(float(server_reset_at))
        if oldest is not None:
            free.append(float(oldest) + self.window)
        free_at = min(free) if free else now + self.window / 10
        return now, used, (max(0.0, free_at - now) if used >= self.soft_limit else 0.0)

    def operating_wait(self, method: str) -> float:
        found = self._shared_budget(method)
        return super().operating_wait(method) if found is None else found[2]

    def operating_used(self, method: str) -> float:
        found = self._shared_budget(method)
        return super().operating_used(method) if found is None else found[1]

    def observe_time(self, method: str, block: Mapping[str, Any] | None, *, sub_call: bool = False) -> None:
        if not block or method.lower() == "batch":  # batch itself is never charged
            return
        key = method.lower()
        processing = block.get("processing", block.get("duration"))
        if isinstance(processing, int | float) and processing > self.min_time:
            if self._query(_RECORD_USE, self._params(method=key, seconds=float(processing))) is None:
                super().observe_time(method, block, sub_call=sub_call)
                return
            self._query(_FORGET_OLD_USE, self._params(method=key))
        used, reset_at = block.get("operating"), block.get("operating_reset_at")
        # A zero tells nothing a missing row does not; skipping it saves a write per answer.
        if not sub_call and isinstance(used, int | float) and isinstance(reset_at, int | float) and used > 0:
            params = self._params(
                method=key, used=float(used), reset_at=float(reset_at), paused=0.0, force=False
            )
            self._query(_SERVER_STATE, params)

    def pause(self, method: str, until: float) -> None:
        if self._query(_PAUSE, self._params(method=method.lower(), until=until)) is None:
            super().pause(method, until)

    def backoff(self, method: str, error: ApiError) -> float | None:
        if not isinstance(error, OperationTimeLimitError):
            return super().backoff(method, error)  # a 503 saturates the shared bucket
        found = self._shared_budget(method)
        if found is None:
            return super().backoff(method, error)
        now = found[0]
        until = error.reset_at or now + max(found[2], self.window / 10)
        params = self._params(
            method=method.lower(), used=self.operating_limit, reset_at=until, paused=until, force=True
        )
        self._query(_SERVER_STATE, params)  # every host pauses this method, not only this one
        return max(0.0, until - now) + 0.01
