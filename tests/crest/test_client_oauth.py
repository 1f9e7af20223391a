"""The client as an installed local app: OAuth tokens from a store, renewed without races."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crest import errors
from crest.client import Client, RetryPolicy
from crest.installation import Installation
from crest.settings import Settings
from crest.stores import open_store
from crest.stores.base import InstallationStore
from portal.testing import PortalHandle, running_portal

NO_WAIT = RetryPolicy(backoff=0.0)


def app_settings(portal: PortalHandle, store_url: str) -> Settings:
    info = portal.info
    return Settings.load(
        None,
        env={},
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        oauth_token_url=info["token_url"],
        oauth_server_endpoint=info["server_endpoint"],
        store=store_url,
        ca_bundle=portal.ca_bundle,
        # The local portal serves plain http unless started with https=True.
        allow_http_portals=portal.ca_bundle is None,
    )


def install(portal: PortalHandle, store: InstallationStore, *, known_expiry: bool = True) -> Installation:
    tokens = portal.issue_tokens()
    now = time.time()
    inst = Installation(
        member_id=tokens["member_id"],
        domain=portal.portal.domain,
        client_endpoint=tokens["client_endpoint"],
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires=float(tokens["expires"]) if known_expiry else None,
        application_token="a" * 32,
        server_endpoint=tokens["server_endpoint"],
        installed_at=now,
    )
    store.save(inst)
    return inst


def refreshes(portal: PortalHandle) -> list[dict[str, Any]]:
    return [r for r in portal.requests() if r["method"] == "oauth.token"]


@pytest.fixture(params=["sqlite", "json"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        f"sqlite:{tmp_path / 'crest.sqlite'}"
        if request.param == "sqlite"
        else f"json:{tmp_path / 'settings.json'}"
    )


def test_expired_token_is_renewed_once_and_the_call_repeated(portal: PortalHandle, store_url: str) -> None:
    store = open_store(store_url)
    first = install(portal, store, known_expiry=False)
    client = Client.for_portal(
        first.member_id, store=store, settings=app_settings(portal, store_url), retry=NO_WAIT
    )
    assert client.call("user.current")["ID"] == "1"
    portal.advance(3700)  # the access token expires on the portal
    assert client.call("user.current")["ID"] == "1"
    assert len(refreshes(portal)) == 1
    stored = store.find(first.member_id)
    assert stored is not None
    assert stored.access_token != first.access_token
    assert stored.refresh_token != first.refresh_token
    # Only one renewal per expiry: the next call uses the new token.
    client.call("user.current")
    assert len(refreshes(portal)) == 1
    for record in portal.requests():
        assert "client_secret" not in record["path"] and "refresh_token" not in record["path"]


def test_known_expiry_is_renewed_before_the_call(store_url: str) -> None:
    with running_portal(access_token_lifetime=2.0) as portal:
        store = open_store(store_url)
        inst = install(portal, store)
        client = Client.for_portal(inst.member_id, store=store, settings=app_settings(portal, store_url))
        time.sleep(2.1)
        assert client.call("server.time")
        # Renewed proactively: no call was spent on an expired_token answer.
        assert portal.count(error="expired_token") == 0
        assert len(refreshes(portal)) == 1


def test_dead_chain_marks_needs_reinstall(portal: PortalHandle, store_url: str) -> None:
    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    # Someone else used our refresh token (single use): the stored chain is dead.
    import requests

    info = portal.info
    requests.post(
        info["token_url"],
        data={
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": inst.refresh_token,
        },
        timeout=10,
    ).raise_for_status()
    client = Client.for_portal(
        inst.member_id, store=store, settings=app_settings(portal, store_url), retry=NO_WAIT
    )
    with pytest.raises(errors.NeedsReinstallError):
        client.call("user.current")
    stored = store.find(inst.member_id)
    assert stored is not None and stored.needs_reinstall
    assert stored.refresh_token == inst.refresh_token  # nothing else changed (T14)
    with pytest.raises(errors.NeedsReinstallError):
        client.call("user.current")
    assert len(refreshes(portal)) == 2  # ours failed once; no retry loop


def test_oauth_outage_during_renewal_is_a_clear_error(portal: PortalHandle, store_url: str) -> None:
    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    portal.advance(3700)
    portal.oauth_outage(503)
    client = Client.for_portal(
        inst.member_id, store=store, settings=app_settings(portal, store_url), retry=NO_WAIT
    )
    with pytest.raises(errors.OAuthServerUnavailable):
        client.call("user.current")
    stored = store.find(inst.member_id)
    assert stored == inst  # the store is untouched
    portal.oauth_outage(None)
    # Right after a failure the next try waits (1 s, doubling): it fails at once, sending nothing.
    sent = len(refreshes(portal))
    with pytest.raises(errors.OAuthServerUnavailable, match="next renewal try"):
        client.call("user.current")
    assert len(refreshes(portal)) == sent
    time.sleep(1.1)
    assert client.call("user.current")["ID"] == "1"


def test_an_oauth_outage_gets_one_renewal_at_a_time_with_backoff(
    portal: PortalHandle, store_url: str
) -> None:
    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    portal.advance(3700)
    portal.oauth_outage(503)
    settings = app_settings(portal, store_url)
    clients = [
        Client.for_portal(inst.member_id, store=open_store(store_url), settings=settings, retry=NO_WAIT)
        for _ in range(16)
    ]
    failed = 0
    stop = time.monotonic() + 2.5

    def hammer(client: Client) -> None:
        nonlocal failed
        while time.monotonic() < stop:
            try:
                client.call("user.current")
            except errors.OAuthServerUnavailable:
                failed += 1

    threads = [threading.Thread(target=hammer, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Thousands of failed calls, but the OAuth server saw a renewal at 0, 1 and 3 s at most.
    assert failed > 100
    assert 1 <= len(refreshes(portal)) <= 3
    portal.oauth_outage(None)


def test_peer_refresh_in_another_client_is_adopted(portal: PortalHandle, store_url: str) -> None:
    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    settings = app_settings(portal, store_url)
    a = Client.for_portal(inst.member_id, store=open_store(store_url), settings=settings, retry=NO_WAIT)
    b = Client.for_portal(inst.member_id, store=open_store(store_url), settings=settings, retry=NO_WAIT)
    a.call("user.current")
    b.call("user.current")
    portal.advance(3700)
    a.call("user.current")  # a refreshes: single use kills b's cached access token too
    assert b.call("user.current")["ID"] == "1"  # b re-reads the store instead of refreshing
    assert len(refreshes(portal)) == 1


def test_domain_change_is_verified_then_followed(portal: PortalHandle, store_url: str) -> None:
    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    client = Client.for_portal(
        inst.member_id, store=store, settings=app_settings(portal, store_url), retry=NO_WAIT
    )
    new_base = portal.base_url.replace("127.0.0.1", "localhost")
    portal.admin("POST", "domain-change", {"base_url": new_base})
    assert client.call("user.current")["ID"] == "1"
    stored = store.find(inst.member_id)
    assert stored is not None
    assert stored.domain == new_base.split("://")[1]
    assert stored.client_endpoint == new_base + "/rest/"


def test_for_portal_without_installation_is_not_installed(portal: PortalHandle, store_url: str) -> None:
    client = Client.for_portal(None, store=open_store(store_url), settings=app_settings(portal, store_url))
    with pytest.raises(errors.NotInstalledError):
        client.call("user.current")


# --- the race: many processes and threads, one store, tokens expiring all the time -------------

WORKERS = 8
THREADS = 4


def _worker(args: dict[str, Any], ready: Any, go: Any, duration: float, out: Any) -> None:
    settings = Settings.load(None, env={}, **args["settings"])
    store = open_store(args["store"])
    client = Client.for_portal(
        args["member_id"], store=store, settings=settings, retry=RetryPolicy(backoff=0.05)
    )
    failures: list[str] = []
    calls = [0]
    lock = threading.Lock()
    ready.put(True)
    go.wait(120)  # every process starts hammering at once, however slow the spawn was
    end = time.time() + duration

    def loop() -> None:
        while time.time() < end:
            try:
                client.call("user.current")
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
            else:
                with lock:
                    calls[0] += 1

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((calls[0], failures))


@pytest.mark.slow
@pytest.mark.parametrize("known_expiry", [True, False], ids=["proactive", "reactive"])
def test_no_race_across_processes_and_threads(store_url: str, known_expiry: bool) -> None:
    lifetime, duration = 3.0, 8.0
    with running_portal(access_token_lifetime=lifetime) as portal:
        store = open_store(store_url)
        inst = install(portal, store, known_expiry=known_expiry)
        settings = app_settings(portal, store_url)
        args = {
            "store": store_url,
            "member_id": inst.member_id,
            "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k in _SETTING_KEYS},
        }
        ctx = mp.get_context("spawn")
        out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_worker, args=(args, ready, go, duration, out)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        total_calls = sum(calls for calls, _ in results)
        failures = [f for _, fs in results for f in fs]
        assert failures == []
        assert total_calls > WORKERS * THREADS
        tokens = refreshes(portal)
        # Every refresh succeeded: a second refresh of the same (single-use) token would have
        # been refused with invalid_grant. So there was exactly one refresh per expiry.
        assert tokens, "the tokens never expired during the run"
        assert all(r["status"] == 200 for r in tokens), tokens
        # ``expires`` is whole seconds, so a token may live up to 1 s less than its lifetime,
        # and renewal starts a tenth of the lifetime early: no more refreshes than that allows.
        assert len(tokens) <= duration / (lifetime - 1.0 - lifetime / 10) + 2
        final = store.find(inst.member_id)
        assert final is not None and not final.needs_reinstall


_SETTING_KEYS = {
    "client_id",
    "client_secret",
    "oauth_token_url",
    "oauth_server_endpoint",
    "store",
    "ca_bundle",
    "allow_http_portals",
}


def test_idle_chain_is_kept_alive_once(portal: PortalHandle, store_url: str) -> None:
    from crest.worker import keep_chains_alive

    store = open_store(store_url)
    inst = install(portal, store, known_expiry=False)
    settings = app_settings(portal, store_url)
    now = [time.time()]
    clients: dict[str, Client] = {}

    def client(member_id: str) -> Client:
        if member_id not in clients:
            clients[member_id] = Client.for_portal(
                member_id, store=store, settings=settings, clock=lambda: now[0]
            )
        return clients[member_id]

    assert keep_chains_alive(store, client) == []  # fresh: nothing to do, no refresh
    assert len(refreshes(portal)) == 0
    now[0] += 21 * 86400  # three idle weeks
    assert keep_chains_alive(store, client) == [inst.member_id]
    assert keep_chains_alive(store, client) == []  # renewed: not again
    assert len(refreshes(portal)) == 1
    renewed = store.find(inst.member_id)
    assert renewed is not None and renewed.refresh_token != inst.refresh_token
