"""Bulk runs under injected 503, 429, dropped connections and slow answers.

Reads must still give every row exactly once; writes must never be sent twice: a batch whose
answer was lost is reported item by item, and the portal's own record proves each write ran once.
"""

from __future__ import annotations

import time
from typing import Any

from crest.bulk import list_all
from crest.client import Client
from crest.errors import UnknownOutcomeError
from crest.limits import Limiter
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

SPEED = 500.0  # limits on, every duration 500 times shorter: a 429 pause lasts 0.12 s


def _faults(p: PortalHandle, method: str) -> None:
    p.fault(method, error="QUERY_LIMIT_EXCEEDED", description="Too many requests", status=503, count=2)
    p.fault(method, error="OPERATION_TIME_LIMIT", description="blocked", status=429, count=1)
    p.fault(method, kind="drop", count=2)
    p.fault(method, kind="delay", delay=1.0, count=1)  # longer than the client's read timeout


def _client(p: PortalHandle) -> Client:
    return Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=SPEED), timeout=(2.0, 0.5))


def test_list_all_under_faults_gives_every_row_once() -> None:
    with running_portal(PortalConfig(speed=SPEED, limits=True, cost=None, contacts=6000)) as p:
        client = _client(p)
        _faults(p, "batch")
        p.fault("crm.contact.list", kind="drop", count=1)  # an edge call: a read, re-sent
        stats: dict[str, Any] = {}
        rows = list(list_all(client, "crm.contact.list", select=["ID"], parallel=3, stats=stats))
        got = [int(r["ID"]) for r in rows]
        assert got == list(range(1, 6001))
        assert p.admin("GET", "faults") == []  # every fault was met
        assert stats["requests"] > 2 + 3  # the lost answers cost extra requests, not rows


def test_call_many_under_faults_never_sends_a_write_twice() -> None:
    n = 1000  # 20 batches
    with running_portal(PortalConfig(speed=SPEED, limits=True, cost=None)) as p:
        client = _client(p)
        _faults(p, "batch")
        p.clear_requests()
        results = client.call_many(
            "crm.contact.add", [{"fields": {"NAME": f"c{i}"}} for i in range(n)], parallel=4
        )
        unknown = [i for i, r in enumerate(results) if isinstance(r, UnknownOutcomeError)]
        created = [r for r in results if isinstance(r, int)]
        # Two drops and one timeout: three batches whose answer never came, reported not re-sent.
        assert len(unknown) == 150 and len(created) == n - 150
        time.sleep(1.2)  # the slow batch is still running at the portal after the client gave up
        records = [r for r in p.requests() if r["method"] == "batch"]
        ran = [r for r in records if r["status"] == 200]
        refused = [r for r in records if r["status"] in {429, 503}]
        assert len(ran) == n // 50  # each batch ran exactly once
        assert len(refused) == 3  # refused before running, then re-sent
        # The portal holds exactly n contacts: the unknown ones did run, once.
        names = sorted(r["NAME"] for r in client.list_all("crm.contact.list", select=["NAME"]))
        assert names == sorted(f"c{i}" for i in range(n))
