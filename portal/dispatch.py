"""Running one REST method call: the checks a portal makes, in its order, and the envelope.

Order (reference 2.5): transport, portal stopped, the edge's rate limit (503), method lookup
(404 before auth), auth (401/403, scope), operating-time limit (429), execution. Batch
sub-calls go through :func:`execute` too, without the edge's rate limit.
"""

from __future__ import annotations

import datetime as dt
import time as _time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal import errors
from portal.context import Call, Paged
from portal.registry import MethodSpec

if TYPE_CHECKING:
    from portal.core import Portal
    from portal.credentials import AuthContext


@dataclass
class Outcome:
    """A method's answer before it is wrapped in an envelope."""

    result: Any = None
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] | None = None
    error: errors.RestError | None = None


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _start_param(params: dict[str, Any]) -> int:
    raw = params.pop("start", None)
    if raw is None:
        for key in list(params):
            if key.lower() == "start":
                raw = params.pop(key)
                break
    try:
        start = int(str(raw)) if raw not in (None, "") else 0
    except ValueError:
        start = 0
    return -1 if start < 0 else start


def time_block(
    portal: Portal, start: float, finish: float, processing: float, key: str | None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": processing,
        "date_start": iso(start),
        "date_finish": iso(finish),
    }
    if portal.config.limits and key is not None:
        used, reset_at = portal.operating.status(key)
        block["operating_reset_at"] = int(
            reset_at if reset_at is not None else finish + portal.operating.window
        )
        block["operating"] = used
    return block


def check_access(portal: Portal, spec: MethodSpec, auth: AuthContext, *, in_batch: bool) -> None:
    if spec.app_only and auth.kind != "oauth":
        raise errors.wrong_auth_type()
    if not spec.allowed_for(auth.scopes):
        raise errors.insufficient_scope(auth.kind, in_batch)


def execute(
    portal: Portal, spec: MethodSpec, auth: AuthContext, params: dict[str, Any], *, in_batch: bool
) -> Outcome:
    """Auth checks, the operating limit, the handler, the cost, and the ``time`` block."""
    start = portal.clock.time()
    op_key = f"{auth.limiter_key}|{spec.name}"
    try:
        check_access(portal, spec, auth, in_batch=in_batch)
        if portal.config.limits and portal.operating.blocked(op_key):
            raise errors.operation_time_limit()
        call = Call(portal, auth, spec.name, params, in_batch=in_batch, start=_start_param(params))
        t0 = _time.perf_counter()
        if spec.locked:
            with portal.lock:
                value = spec.handler(call)
        else:
            value = spec.handler(call)
        elapsed = _time.perf_counter() - t0
    except errors.RestError as exc:
        finish = portal.clock.time()
        return Outcome(error=exc, time=time_block(portal, start, finish, 0.0, op_key))
    cost = portal.config.cost
    processing = elapsed
    if cost is not None:
        simulated = portal.config.scaled(
            cost.seconds(rows=call.rows, counted=call.counted, offset=call.offset)
        )
        if simulated > elapsed:
            _time.sleep(simulated - elapsed)
            processing = simulated
    if portal.config.limits and spec.locked:  # batch itself is not charged; its sub-calls are
        portal.operating.charge(op_key, processing)
    finish = portal.clock.time()
    outcome = Outcome(time=time_block(portal, start, finish, processing, op_key))
    if isinstance(value, Paged):
        outcome.result, outcome.total, outcome.next = value.result, value.total, value.next
    elif isinstance(value, dict) and ("total" in value or "next" in value):
        # The server moves a result's own total/next keys to the top of the envelope.
        rest = dict(value)
        total, nxt = rest.pop("total", None), rest.pop("next", None)
        outcome.result = rest
        outcome.total = int(total) if total is not None else None
        outcome.next = int(nxt) if nxt is not None else None
    else:
        outcome.result = value
    return outcome


def envelope(outcome: Outcome) -> dict[str, Any]:
    if outcome.error is not None:
        return outcome.error.body()
    body: dict[str, Any] = {"result": outcome.result}
    if outcome.total is not None:
        body["total"] = outcome.total
    if outcome.next is not None:
        body["next"] = outcome.next
    body["time"] = outcome.time
    return body
