"""Three hosts, one portal, one PostgreSQL database: no event lost under random SIGKILLs.

Each "host" is a process tree of its own, in a folder of its own, sharing nothing with the
others but the database: a gunicorn app with 2 worker processes that only receives events
(``CREST_EVENTS_WORKER=off``), and one event worker process (``tests/postgres/host_app.py``).
The test plays the load balancer in front of them: it POSTs 5,000 Bitrix24 event bodies
spread over the hosts, and when a host's process dies under a request it sends that body
again to the next host, as a balancer does (the inbox de-duplicates identical bodies). A
killer SIGKILLs gunicorn workers (their master starts new ones) and event workers (restarted
at once) the whole time. Every acknowledged event must be handled, and at most once more per
killed event worker (the one event it may have been handling when it died).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from crest.forms import encode
from crest.inbox_postgres import PostgresInbox
from crest.stores import open_store
from portal.testing import running_portal
from tests.crest.test_client_oauth import install

# 5,000 events through 3 x 2 gunicorn workers on a shared 2-core machine take minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

HOSTS = 3
EVENTS = int(os.environ.get("CREST_TEST_MANY_HOSTS_EVENTS", "5000"))
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def host_env(postgres_url: str, info: dict[str, Any], secret_key: str = "s" * 40) -> dict[str, str]:
    """The environment of every host: this one's without CREST_*, then the app's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREST_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "CREST_STORE": postgres_url,
            "CREST_CLIENT_ID": info["client_id"],
            "CREST_CLIENT_SECRET": info["client_secret"],
            "CREST_OAUTH_TOKEN_URL": info["token_url"],
            "CREST_OAUTH_SERVER_ENDPOINT": info["server_endpoint"],
            "CREST_ALLOW_HTTP_PORTALS": "true",
            "CREST_SECRET_KEY": secret_key,
            "CREST_EVENTS_WORKER": "off",
        }
    )
    return env


class Host:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.port = folder, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "HOST_EVENT_LOG": str(folder / "handled.jsonl")}
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.folder / log, "ab") as err:
            return subprocess.Popen(
                [sys.executable, *args], cwd=self.folder, env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )

    def start(self) -> None:
        self.web = self._spawn(
            [
                "-m",
                "gunicorn",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "2",
                "--control-socket",
                str(self.folder / "gunicorn.ctl"),  # its own, not one in ~ shared by the hosts
                "tests.postgres.host_app:app",
            ],
            "web.err",
        )
        self.start_worker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.web.poll() is None, (self.folder / "web.err").read_text()
            try:
                requests.get(self.url + "/events/recent", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("the host's app did not start")

    def start_worker(self) -> None:
        self.worker = self._spawn(["-m", "tests.postgres.host_app"], "worker.err")

    def kill_web_worker(self) -> bool:
        assert self.web is not None
        children = _children(self.web.pid)
        if not children:
            return False
        os.kill(random.choice(children), signal.SIGKILL)  # the gunicorn master starts another
        return True

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)
        self.start_worker()

    def stop(self) -> None:
        for proc in (self.worker, self.web):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

    def handled(self) -> list[str]:
        log = self.folder / "handled.jsonl"
        if not log.exists():
            return []
        return [json.loads(line)["id"] for line in log.read_text().splitlines() if line.strip()]


def test_no_event_lost_on_three_hosts_under_sigkills(postgres_url: str, tmp_path: Path) -> None:
    with running_portal() as portal:
        store = open_store(postgres_url)
        inst = install(portal, store)
        env = host_env(postgres_url, portal.info)
        hosts = []
        for n in range(HOSTS):
            folder = tmp_path / f"host{n}"
            folder.mkdir()
            hosts.append(Host(folder, env))
        kills = {"web": 0, "worker": 0}
        sending = threading.Event()
        sending.set()

        def killer() -> None:
            rng = random.Random(15)
            while sending.is_set():
                time.sleep(rng.uniform(1.5, 3.0))  # ~20 kills over the run, each host hit several times
                host = rng.choice(hosts)
                if rng.random() < 0.5:
                    kills["web"] += host.kill_web_worker()
                else:
                    host.kill_worker()
                    kills["worker"] += 1

        def body(i: int) -> bytes:
            event = {
                "event": "ONCRMCONTACTADD",
                "data": {"FIELDS": {"ID": str(i)}},
                "ts": str(int(time.time())),
                "auth": {
                    "member_id": inst.member_id,
                    "domain": portal.portal.domain,
                    "application_token": inst.application_token,
                },
            }
            return encode(event).encode()

        def deliver(i: int) -> int:
            """POST event ``i`` until a host acknowledges it; returns how many tries it took."""
            data, session = body(i), requests.Session()
            for attempt in range(1, 200):
                host = hosts[(i + attempt) % HOSTS]
                try:
                    answer = session.post(
                        host.url + "/events",
                        data=data,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                        timeout=30,
                    )
                    if answer.status_code == 200:
                        return attempt
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            raise AssertionError(f"event {i} was never acknowledged")

        try:
            for host in hosts:
                host.start()
            chaos = threading.Thread(target=killer)
            chaos.start()
            with ThreadPoolExecutor(8) as pool:
                tries = list(pool.map(deliver, range(1, EVENTS + 1)))
            # Keep killing workers for a while after the last event went in.
            deadline = time.monotonic() + 240
            inbox = PostgresInbox(postgres_url)
            while inbox.counts()["done"] < EVENTS * 0.6 and time.monotonic() < deadline:
                time.sleep(0.5)
            sending.clear()
            chaos.join(10)
            while inbox.counts()["done"] < EVENTS and time.monotonic() < deadline:
                time.sleep(0.5)
            counts = inbox.counts()
        finally:
            sending.clear()
            for host in hosts:
                host.stop()
    assert counts == {"pending": 0, "running": 0, "done": EVENTS, "failed": 0}, counts
    handled = [i for host in hosts for i in host.handled()]
    assert set(handled) == {str(i) for i in range(1, EVENTS + 1)}  # 0 lost
    assert kills["web"] > 0 and kills["worker"] > 0, kills
    # Each handled once, but for the event a killed worker may have been handling.
    assert len(handled) - EVENTS <= kills["worker"], (len(handled) - EVENTS, kills)
    assert len({h.folder for h in hosts}) == HOSTS
    assert max(tries) > 1, "no delivery hit a killed process: the kills proved nothing"
