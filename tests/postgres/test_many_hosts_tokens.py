"""Three hosts, one portal, one PostgreSQL store: tokens expiring every 3 s under load.

Each host is a gunicorn app with 2 worker processes in a folder of its own (tests/postgres/
host_app.py), sharing nothing with the others but the database. The test drives `/api/me` on
all of them at once (each call reads the user with the app's *stored* tokens), while the portal
issues access tokens that live 3 s and refresh tokens that are single-use. Renewal is serialised
per installation across the hosts by the store's advisory lock, so no refresh token is ever
spent twice: every call succeeds and the OAuth server sees one refresh per expiry.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
import requests

from crest.stores import open_store
from portal.config import PortalConfig
from portal.testing import running_portal
from tests.crest.test_client_oauth import install, refreshes
from tests.postgres.test_many_hosts import HOSTS, Host, host_env
from webapp.session import PageTokens

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SECRET_KEY = "s" * 40
SPEED = 1200.0  # 3600 s tokens live 3 s
RUN = 20.0  # seconds of load


def test_tokens_expiring_every_few_seconds_on_three_hosts(postgres_url: str, tmp_path: Path) -> None:
    with running_portal(PortalConfig(speed=SPEED)) as portal:
        store = open_store(postgres_url)
        inst = install(portal, store)
        store.close()
        info = portal.info
        env = host_env(postgres_url, info, SECRET_KEY)
        hosts = []
        for n in range(HOSTS):
            folder = tmp_path / f"host{n}"
            folder.mkdir()
            hosts.append(Host(folder, env))
        token = PageTokens(SECRET_KEY, time.time, lifetime=600).issue(
            inst.member_id, 1, f"app:{info['client_id']}"
        )
        results: list[int] = []
        failures: list[str] = []
        lock = threading.Lock()

        def load(n: int) -> None:
            session, host = requests.Session(), hosts[n % HOSTS]
            stop = time.monotonic() + RUN
            while time.monotonic() < stop:
                answer = session.get(
                    host.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=60
                )
                with lock:
                    results.append(answer.status_code)
                    if answer.status_code != 200 or answer.json().get("name") != "Maria Ivanova":
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

        try:
            for host in hosts:
                host.start()
            portal.clear_requests()
            started = time.monotonic()
            threads = [threading.Thread(target=load, args=(n,)) for n in range(3 * HOSTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
        finally:
            for host in hosts:
                host.stop()
        renewals = refreshes(portal)
    assert failures == [], failures[:5]
    assert len(results) > 100, len(results)
    # Every refresh was answered 200: no refresh token was spent twice (that is invalid_grant).
    assert {r["status"] for r in renewals} == {200}, renewals[:5]
    # One refresh per expiry, never one per host or process: the chain is renewed at a steady
    # pace set by the token's lifetime (a little before it ends), and two renewals of one expiry
    # would show up as two refreshes a moment apart.
    lifetime = 3600.0 / SPEED
    times = sorted(r["time"] for r in renewals)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(renewals) >= elapsed / lifetime - 1, (len(renewals), elapsed)
    assert gaps and min(gaps) >= lifetime / 2, gaps
