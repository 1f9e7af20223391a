"""The shared limiter: one leaky bucket per portal in PostgreSQL, for every host that imports.

Three "hosts" (separate ``crest import`` processes, each in its own folder, sharing nothing
but the database) import into one rate-limited portal at once. With the shared limiter the
portal refuses nothing and the import takes no longer than the bucket allows; with private
limiters (the control) the same load is refused with 503s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from crest.errors import OperationTimeLimitError
from crest.limits_postgres import SharedLimiter
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

SPEED = 4.0  # the portal's bucket: 50 at once, then 8 a second
ROWS = 3000  # per host: 60 batches of 50
HOSTS = 3
PORTAL = "https://p.example/rest/1/x/"


def _csv(path: Path, host: int) -> None:
    lines = ["NAME,LAST_NAME,PHONE"] + [f"h{host}-{i},Load,+1555{host}{i:05d}" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _import_on_hosts(
    portal: PortalHandle, tmp_path: Path, limiter_url: str | None, *, check: bool = True
) -> list[str]:
    procs = []
    for host in range(HOSTS):
        folder = tmp_path / f"host{host}"
        folder.mkdir()
        _csv(folder / "people.csv", host)
        args = [
            "import",
            "contact",
            "people.csv",
            "--webhook",
            portal.webhook_url,
            "--speed",
            str(SPEED),
            "--quiet",
        ]
        if limiter_url:
            args += ["--limiter", limiter_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREST_")}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "crest.cli", *args],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0 or not check, out
        outputs.append(out)
    return outputs


@pytest.mark.slow
def test_three_hosts_sharing_the_limiter_get_no_503_and_the_bucket_rate(
    postgres_url: str, tmp_path: Path
) -> None:
    with running_portal(PortalConfig(speed=SPEED, limits=True, cost=None)) as portal:
        portal.clear_requests()
        outputs = _import_on_hosts(portal, tmp_path, postgres_url)
        records = [r for r in portal.requests() if r["auth"] == "webhook"]
    assert all(f"created {ROWS}" in out for out in outputs), outputs
    assert [r for r in records if r["status"] == 503] == []
    assert sum(r["batch_size"] for r in records if r["method"] == "batch") == HOSTS * ROWS
    # The floor: the portal's bucket lets 50 through at once, then 2 * SPEED a second.
    floor = (len(records) - 50) / (2.0 * SPEED)
    span = max(r["time"] for r in records) - min(r["time"] for r in records)
    assert span <= 1.10 * floor, f"{len(records)} requests took {span:.1f} s, floor {floor:.1f} s"


@pytest.mark.slow
def test_control_private_limiters_overshoot_the_same_portal(tmp_path: Path) -> None:
    with running_portal(PortalConfig(speed=SPEED, limits=True, cost=None)) as portal:
        portal.clear_requests()
        outputs = _import_on_hosts(portal, tmp_path, None, check=False)
        refused = portal.count(status=503)
    # Each host paces itself under the whole bucket, so together they are refused; retries
    # recover most rows, and some batches run out of retries altogether.
    assert refused > 0, outputs


def test_reservations_from_two_hosts_queue_in_one_bucket(postgres_url: str) -> None:
    # Two limiters stand for two hosts: together they get one burst, then the drain rate.
    a = SharedLimiter.for_portal(postgres_url, PORTAL, speed=0.01)  # drains too slowly to matter
    b = SharedLimiter.for_portal(postgres_url, PORTAL, speed=0.01)
    waits = [(a if i % 2 else b).reserve() for i in range(int(a.capacity))]
    assert waits == [0.0] * int(a.capacity)
    over = a.reserve(), b.reserve()
    assert 0 < over[0] < over[1]
    assert over[1] - over[0] == pytest.approx(1 / a.rate, rel=0.05)
    other = SharedLimiter.for_portal(postgres_url, "https://q.example/rest/1/x/", speed=0.01)
    assert other.reserve() == 0.0  # another portal has its own bucket
    b.saturate()
    assert a.level() >= a.capacity


def test_a_429_on_one_host_pauses_that_method_on_every_host(postgres_url: str) -> None:
    a = SharedLimiter.for_portal(postgres_url, PORTAL, speed=100)
    b = SharedLimiter.for_portal(postgres_url, PORTAL, speed=100)
    until = time.time() + 30
    wait = a.backoff(
        "crm.contact.list", OperationTimeLimitError("blocked", extra={"operating_reset_at": until})
    )
    assert wait is not None and 25 < wait < 31
    assert 25 < b.operating_wait("crm.contact.list") < 31
    assert b.operating_wait("crm.deal.list") == 0.0


def test_operating_time_seen_by_one_host_slows_the_others(postgres_url: str) -> None:
    a = SharedLimiter.for_portal(postgres_url, PORTAL, speed=100)  # limit 4.8 s in a 6 s window
    b = SharedLimiter.for_portal(postgres_url, PORTAL, speed=100)
    for _ in range(5):
        a.observe("crm.item.list", {"processing": 1.0})
    assert b.operating_used("crm.item.list") == pytest.approx(5.0)
    assert b.operating_wait("crm.item.list") > 0
    assert b.operating_wait("crm.item.add") == 0.0


def test_the_database_gone_falls_back_to_pacing_alone(postgres_url: str) -> None:
    limiter = SharedLimiter.for_portal(postgres_url, PORTAL, speed=0.01)
    assert limiter.reserve() == 0.0
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    errors: list[BaseException] = []

    def call() -> None:
        try:
            limiter.acquire("user.current")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    assert errors == []
    assert limiter.reserve() >= 0.0  # and it reconnects afterwards
