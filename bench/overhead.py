"""Per-call overhead: ``Client.call`` against a bare ``requests.Session`` on the same portal.

Both send the same request (``GET .../user.current.json``, keep-alive, TLS to the portal's
CA) one after another; rounds alternate so that both see the same machine load. The
limiter case runs through a :class:`crest.limits.Limiter` whose plan never makes it wait,
so what it shows is the cost of the bookkeeping alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from crest.client import Client
from crest.limits import Limiter


def _timed(n: int, call: Callable[[], Any]) -> float:
    call()  # the connection is open before the clock starts
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n


def measure(webhook: str, ca_bundle: str | None, n: int = 500, rounds: int = 5) -> dict[str, float]:
    url = webhook + "user.current.json"
    session = requests.Session()
    verify: str | bool = ca_bundle or True

    def bare() -> Any:
        resp = session.get(url, timeout=(5, 65), allow_redirects=False, verify=verify)
        return resp.json()["result"]

    plain = Client.from_webhook(webhook, ca_bundle=ca_bundle)
    paced = Client.from_webhook(
        webhook, ca_bundle=ca_bundle, limiter=Limiter.for_plan("enterprise", speed=1e6)
    )
    cases: dict[str, Callable[[], Any]] = {
        "requests.Session (bare)": bare,
        "b24-crest Client.call": lambda: plain.call("user.current"),
        "b24-crest Client.call + Limiter": lambda: paced.call("user.current"),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, call in cases.items():
            best[name] = min(best[name], _timed(n, call))
    return best
