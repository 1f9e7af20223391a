"""No event is lost when the app is SIGKILLed while the portal sends CRM events (T20; Bitrix24 never re-sends: docs/protocol.md).

The real local portal delivers ``ONCRMCONTACTADD`` as form POSTs to the real app, which runs
in a subprocess with a SQLite store and its worker thread. The test

1. installs the app as an API-only app (ONAPPINSTALL → ``/install`` → online *and* offline
   bindings);
2. creates contacts while the app is up; its handler is slow, so most are acknowledged (in the
   durable inbox) but not yet processed when
3. the app is SIGKILLed in the middle of a stream of changes, and more contacts are created
   while it is down: those POSTs fail, and Bitrix24 never re-sends;
4. restarts the app on the same port and database.

Every contact must then have been processed at least once: the acknowledged-but-unprocessed
ones from the inbox, the missed ones from the portal's offline queue, and no inbox row twice
except the one in flight at the kill (at least once, de-duplicated).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crest.client import Client
from crest.forms import decode
from portal.testing import PortalHandle, running_portal

pytestmark = pytest.mark.slow

#: The app: create_app with a SQLite store, a slow recording handler, a short worker lease.
APP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from werkzeug.serving import make_server
    from crest.events import Event, EventContext
    from crest.settings import Settings
    from webapp.events import events_state, router, start_worker
    from webapp.factory import create_app

    config = json.loads(open(sys.argv[1]).read())
    log_path, port, fd = config.pop("log"), config.pop("port"), config.pop("fd", None)
    # The worker starts below, after the handler is in place.
    app = create_app(Settings.load(env={}, events_worker="off", **config))

    @router(app).on("ONCRMCONTACTADD")
    def record(event: Event, ctx: EventContext) -> None:
        time.sleep(0.15)  # slow enough that a kill finds work acknowledged but not done
        line = {"pid": os.getpid(), "id": event.entity_id, "offline": event.offline is not None}
        with open(log_path, "a") as f:
            f.write(json.dumps(line) + "\\n")
            f.flush()
            os.fsync(f.fileno())

    worker = events_state(app).worker
    worker.lease = 2.0  # a killed worker's claim comes back quickly
    worker.poll = 0.05
    start_worker(app)
    make_server("127.0.0.1", port, app, threaded=True, fd=fd).serve_forever()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppProcess:
    def __init__(self, config_path: Path, url: str, cwd: Path) -> None:
        self.config_path, self.url, self.cwd = config_path, url, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, listener: socket.socket | None = None) -> None:
        """Start the app; with ``listener`` it serves that already-listening socket."""
        config = json.loads(self.config_path.read_text())
        config["fd"] = listener.fileno() if listener is not None else None
        self.config_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP_SCRIPT, str(self.config_path)],
            pass_fds=(listener.fileno(),) if listener is not None else (),
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=open(self.cwd / "app.err", "ab"),  # noqa: SIM115 - the child owns it
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.cwd / "app.err").read_text()
            try:
                requests.get(self.url + "/", timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        raise AssertionError("the app did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal() as handle:
        yield handle


def processed(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def inbox_rows(db: Path) -> list[tuple[int, str, str, bytes]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, state, event, body FROM crest_inbox ORDER BY id").fetchall()


def contact_id(body: bytes) -> str:
    text = body.decode()
    fields = json.loads(text) if text.startswith("{") else decode(text)
    return str(fields["data"]["FIELDS"]["ID"])


def test_no_event_is_lost_across_a_sigkill(portal: PortalHandle, tmp_path: Path) -> None:
    # Listen before registering: the portal POSTs ONAPPINSTALL at once, and it must find the
    # app (it waits in the backlog until the app process serves this very socket).
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    db, log = tmp_path / "crest.sqlite", tmp_path / "processed.jsonl"
    registered = portal.register_app(
        title="event loss test",
        handler_url=url + "/",
        install_url=url + "/install",
        scopes=["crm", "user"],
        api_only=True,
    )
    config = {
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
        "oauth_token_url": portal.portal.token_url,
        "oauth_server_endpoint": portal.portal.server_endpoint,
        "allow_http_portals": True,
        "app_base_url": url,
        "secret_key": "s" * 40,
        "store": f"sqlite:{db}",
        "log": str(log),
        "port": port,
    }
    config_path = tmp_path / "app.json"
    config_path.write_text(json.dumps(config))
    app = AppProcess(config_path, url, tmp_path)
    webhook = Client.from_webhook(portal.add_webhook())
    created: list[str] = []

    def add_contacts(n: int) -> None:
        for i in range(n):
            created.append(str(webhook.call("crm.contact.add", {"fields": {"NAME": f"C{len(created)}-{i}"}})))

    def flush() -> None:
        portal.admin("POST", "deliveries/flush", {"timeout": 20})

    try:
        app.start(listener)
        listener.close()  # the child has it now; once it dies, connections are refused
        flush()
        installs = [d for d in portal.admin("GET", "deliveries") if d["event"] == "ONAPPINSTALL"]
        assert installs and installs[-1]["status"] == 200, installs
        bound = {
            (h["event"], h["offline"])
            for h in portal.admin("GET", "handlers")
            if h["client_id"] == registered["client_id"]
        }
        assert ("ONCRMCONTACTADD", False) in bound and ("ONCRMCONTACTADD", True) in bound

        add_contacts(12)
        flush()  # all 12 POSTed and acknowledged...
        acked_pending = {
            contact_id(b) for _, state, e, b in inbox_rows(db) if e == "ONCRMCONTACTADD" and state != "done"
        }
        assert acked_pending, "the handler is slow: some acknowledged events must still be waiting"
        # ...and the app dies in the middle of the next burst.
        add_contacts(3)
        app.kill()
        add_contacts(8)  # sent while the app is down: lost as POSTs
        flush()
        refused = [d for d in portal.admin("GET", "deliveries?event=ONCRMCONTACTADD") if not d["ok"]]
        assert refused, "some deliveries must have failed while the app was down"
        first_pid = {row["pid"] for row in processed(log)}

        app.start()  # a fresh socket on the same port
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = {row["id"] for row in processed(log)}
            if set(created) <= done and all(state == "done" for _, state, _, _ in inbox_rows(db)):
                break
            time.sleep(0.2)
        rows = processed(log)
        done = {row["id"] for row in rows}
        assert set(created) <= done, f"lost: {sorted(set(created) - done, key=int)}"
        after_restart = {row["id"] for row in rows if row["pid"] not in first_pid}
        assert acked_pending & after_restart, "events acknowledged before the kill ran after the restart"
        recovered = {row["id"] for row in rows if row["offline"]}
        missed_online = {contact_id(b) for _, _, e, b in inbox_rows(db) if e == "ONCRMCONTACTADD"}
        assert recovered, "the offline queue supplied events"
        assert set(created) <= missed_online  # everything reached the inbox by one path or the other
        # De-duplicated: each inbox row ran once, except possibly the one in flight at the kill.
        per_source: dict[tuple[str, bool], int] = {}
        for row in rows:
            key = (row["id"], row["offline"])
            per_source[key] = per_source.get(key, 0) + 1
        assert sum(n - 1 for n in per_source.values()) <= 1, per_source
        # The offline queue was cleared once its events were safely in the inbox.
        assert webhook_cannot_see_offline(portal, registered["client_id"]) == 0
    finally:
        app.stop()


def webhook_cannot_see_offline(portal: PortalHandle, client_id: str) -> int:
    """Rows left in the app's offline queue (read from the portal's state, for the assertion)."""
    return len(portal.portal.events.offline_rows(client_id))


if os.environ.get("CREST_E2E_DEBUG"):  # pragma: no cover - a hook for reading the app's stderr
    print(APP_SCRIPT)
