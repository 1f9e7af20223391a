"""Bulk runs under injected 503, 429, dropped connections and slow answers.

Reads must still give every row exactly once; writes must never be sent twice: a batch whose
answer was lost is reported item by item, and the portal's own record proves each write ran once.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crest.bulk import list_all
from crest.cli import main
from crest.client import Client
from crest.errors import AuthError, ConnectError, UnknownOutcomeError
from crest.limits import Limiter
from crest.transfer import RunStopped, export_rows, import_rows
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


# --- systemic failures, certain and unknown outcomes (crest import / crest export) ---------------


def write_people(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["NAME", "EMAIL"])
        for i in range(n):
            writer.writerow([f"p{i}", f"p{i}@example.com"])


def names(client: Client) -> list[str]:
    return sorted(r["NAME"] for r in client.list_all("crm.contact.list", select=["NAME"]))


class FaultAt:
    """A progress callback that injects a fault once ``after`` rows are done."""

    def __init__(self, after: int, inject: Callable[[], None]) -> None:
        self.after, self.inject, self.fired = after, inject, False

    def __call__(self, done: int, total: int | None) -> None:
        if done >= self.after and not self.fired:
            self.fired = True
            self.inject()


@pytest.fixture
def quiet_portal() -> Iterator[PortalHandle]:
    with running_portal(PortalConfig(limits=False, cost=None)) as p:
        yield p


@pytest.mark.parametrize(
    "systemic",
    [
        {"error": "NO_AUTH_FOUND", "description": "Wrong authorization data", "status": 401},
        {"error": "insufficient_scope", "description": "", "status": 401},
        {"error": "PORTAL_DELETED", "description": "Portal was deleted", "status": 403},
        {"error": "ACCESS_DENIED", "description": "Access denied", "status": 403},
    ],
    ids=lambda f: f["error"],
)
def test_a_systemic_failure_stops_the_import_at_once_and_loses_nothing(
    quiet_portal: PortalHandle, tmp_path: Path, systemic: dict[str, Any]
) -> None:
    p, n = quiet_portal, 2000  # 40 batches
    client = Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))
    src = tmp_path / "people.csv"
    write_people(src, n)
    p.clear_requests()
    inject = FaultAt(300, lambda: p.fault("batch", count=1000, **systemic))
    with pytest.raises(RunStopped) as stopped:
        import_rows(client, "contact", src, parallel=3, progress=inject)
    assert inject.fired
    batches = p.count("batch")
    refused = [r for r in p.requests() if r["method"] == "batch" and r["status"] != 200]
    assert 1 <= len(refused) <= 3  # the batches in flight, then nothing more
    assert batches < n // 50  # it did not grind through the rest
    at_stop = stopped.value.outcome
    assert at_stop is not None and at_stop.failed == 0 and at_stop.unknown == 0
    assert at_stop.created + at_stop.not_sent == n  # every row is either done or still to send
    assert not (tmp_path / "people.csv.failed.csv").exists()  # a systemic refusal is no row's fault
    p.clear_faults()
    again = import_rows(client, "contact", src, parallel=3)
    assert again.skipped == at_stop.created and again.created == n and again.failed == 0
    assert names(client) == sorted(f"p{i}" for i in range(n))  # everyone once


def test_wrong_webhook_then_fixed_continues(quiet_portal: PortalHandle, tmp_path: Path) -> None:
    p = quiet_portal
    src = tmp_path / "people.csv"
    write_people(src, 120)
    wrong = p.webhook_url.rstrip("/")[:-3] + "xyz/"
    refused = CliRunner().invoke(main, ["import", "contact", str(src), "--webhook", wrong, "--quiet"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.output.count("\n") == 1 and "check the webhook" in refused.output
    fixed = CliRunner().invoke(main, ["import", "contact", str(src), "--webhook", p.webhook_url, "--quiet"])
    assert fixed.exit_code == 0, fixed.output
    assert "created 120, failed 0" in fixed.output and "skipped" not in fixed.output


def test_unreachable_portal_stops_at_once(tmp_path: Path, refused_port: int) -> None:
    with running_portal(PortalConfig(limits=False, cost=None)) as gone:
        webhook = gone.webhook_url
    # A port that stays refused (a freed one may be taken by another test's server under xdist).
    webhook = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{refused_port}", webhook)
    client = Client.from_webhook(webhook, limiter=Limiter.for_plan(speed=1000))
    src = tmp_path / "people.csv"
    write_people(src, 3000)
    started = time.monotonic()
    with pytest.raises(ConnectError):
        import_rows(client, "contact", src)
    assert time.monotonic() - started < 30  # a few connect retries, not 3,000 rows' worth
    # Stopped before the log was even opened: no row is marked sent, done or failed.
    assert not (tmp_path / "people.csv.checkpoint.jsonl").exists()
    assert not (tmp_path / "people.csv.failed.csv").exists()


def test_retry_failed_resends_certain_failures_never_unknown_ones(
    quiet_portal: PortalHandle, tmp_path: Path
) -> None:
    p = quiet_portal
    client = Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))
    src = tmp_path / "people.csv"
    write_people(src, 300)  # 6 batches, one at a time
    p.fault("batch", error="INTERNAL_SERVER_ERROR", description="Internal server error", status=500, count=1)
    first = import_rows(client, "contact", src, parallel=1)
    p.fault("batch", kind="drop", count=1)  # the next batch runs, its answer is lost
    assert first.failed == 50 and first.created == 250
    failed = read_rows(tmp_path / "people.csv.failed.csv")
    assert {r["outcome"] for r in failed} == {"error"} and failed[0]["error"] == "INTERNAL_SERVER_ERROR"
    p.clear_requests()
    plain = import_rows(client, "contact", src)  # without --retry-failed: nothing is sent
    assert p.count("batch") == 0 and plain.failed == 50
    retried = import_rows(client, "contact", src, retry_failed=True, parallel=1)
    assert retried.unknown == 50 and retried.failed == 0 and retried.created == 250
    assert not (tmp_path / "people.csv.failed.csv").exists()
    unknown = read_rows(tmp_path / "people.csv.unknown.csv")
    assert len(unknown) == 50 and all("may exist" in r["check"] for r in unknown)
    p.clear_requests()
    import_rows(client, "contact", src, retry_failed=True)  # unknown rows are never re-sent
    assert p.count("batch") == 0
    assert names(client) == sorted(f"p{i}" for i in range(300))  # the dropped batch ran, once


def test_reads_retry_a_500_with_backoff(tmp_path: Path) -> None:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=12000)) as p:
        client = Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))
        p.fault("crm.contact.list", error="INTERNAL_SERVER_ERROR", status=500, count=2)  # the edge calls
        p.fault("batch", error="INTERNAL_SERVER_ERROR", status=500, count=4)
        out = tmp_path / "contacts.csv"
        result = export_rows(client, "crm.contact.list", out, select=["ID", "NAME"], parallel=4)
        assert p.admin("GET", "faults") == []  # every fault was met, and none ended the export
        assert result.rows == 12000
        assert [int(r["ID"]) for r in read_rows(out)] == list(range(1, 12001))


def test_export_stops_at_a_systemic_failure_and_resumes(tmp_path: Path) -> None:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=12000)) as p:
        client = Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))
        out = tmp_path / "contacts.csv"
        inject = FaultAt(2500, lambda: p.fault("batch", error="NO_AUTH_FOUND", status=401, count=100))
        with pytest.raises(AuthError):
            export_rows(client, "crm.contact.list", out, select=["ID"], parallel=2, progress=inject)
        assert inject.fired and not out.exists()
        p.clear_faults()
        again = export_rows(client, "crm.contact.list", out, select=["ID"], parallel=2)
        assert again.resumed_from is not None
        assert [int(r["ID"]) for r in read_rows(out)] == list(range(1, 12001))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
