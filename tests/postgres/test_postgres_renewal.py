"""Renewal across hosts: processes sharing nothing but the PostgreSQL database, one portal.

Each "host" is a spawned process with its own empty working folder (no lock file, no SQLite
file, nothing on disk in common) and its own threads; refresh tokens are single-use and the
access tokens expire every few seconds. A refresh spent twice would be refused by the portal
with ``invalid_grant`` and fail a call, so 0 failed calls and only 200 answers from the token
endpoint mean exactly one refresh per expiry.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pytest

from crest.stores import open_store
from portal.testing import running_portal
from tests.crest.test_client_oauth import _SETTING_KEYS, _worker, app_settings, install, refreshes

HOSTS = 6


def _host(workdir: str, args: dict[str, Any], ready: Any, go: Any, duration: float, out: Any) -> None:
    os.chdir(workdir)  # a host of its own: nothing it could share on disk with the others
    _worker(args, ready, go, duration, out)


@pytest.mark.slow
@pytest.mark.parametrize("known_expiry", [True, False], ids=["proactive", "reactive"])
def test_one_refresh_per_expiry_across_hosts(postgres_url: str, tmp_path: Path, known_expiry: bool) -> None:
    lifetime, duration = 3.0, 8.0
    with running_portal(access_token_lifetime=lifetime) as portal:
        store = open_store(postgres_url)
        inst = install(portal, store, known_expiry=known_expiry)
        settings = app_settings(portal, postgres_url)
        args = {
            "store": postgres_url,
            "member_id": inst.member_id,
            "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k in _SETTING_KEYS},
        }
        ctx = mp.get_context("spawn")
        out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = []
        for n in range(HOSTS):
            workdir = tmp_path / f"host{n}"
            workdir.mkdir()
            procs.append(ctx.Process(target=_host, args=(str(workdir), args, ready, go, duration, out)))
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        failures = [f for _, fs in results for f in fs]
        assert failures == []
        assert sum(calls for calls, _ in results) > HOSTS * 4
        tokens = refreshes(portal)
        assert tokens, "the tokens never expired during the run"
        assert all(r["status"] == 200 for r in tokens), tokens
        assert len(tokens) <= duration / (lifetime - 1.0 - lifetime / 10) + 2
        assert [list(p.iterdir()) for p in tmp_path.iterdir()] == [[]] * HOSTS  # nothing on disk
        final = store.find(inst.member_id)
        assert final is not None and not final.needs_reinstall
