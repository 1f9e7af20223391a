"""Chunked bodies over the limit are refused, not cut (issue 10, item 6).

Werkzeug reads a body without ``Content-Length`` up to ``MAX_CONTENT_LENGTH`` and stops: a
chunked event over 1 MiB was processed cut to exactly 1 MiB and stored. Both servers are
attacked through a raw ``http.client`` connection: Werkzeug's (``crest demo``, the tests) and
gunicorn (production), the latter as a real subprocess on 127.0.0.1 sharing the store and inbox.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crest.forms import encode
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from webapp.events import events_state
from webapp.factory import MAX_CONTENT_LENGTH

pytestmark = pytest.mark.b24portal(contacts=1, limits=False, cost=None)

FORM = "application/x-www-form-urlencoded"


def post_chunked(url: str, path: str, body: bytes, *, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` and no ``Content-Length``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", FORM)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def event_body(app: AppHandle, padding: int = 0, entity: str = "7") -> bytes:
    """A genuine event, padded with a harmless extra field to ``padding`` bytes in total."""
    portal = app.portal.portal
    fields = {
        "event": "ONCRMCONTACTADD",
        "data": {"FIELDS": {"ID": entity}},
        "ts": str(int(time.time())),
        "auth": {
            "application_token": app.application_token,
            "member_id": portal.config.member_id,
            "domain": portal.domain,
        },
    }
    body = encode(fields).encode()
    if padding:
        body += b"&pad=" + b"x" * (padding - len(body) - 5)
        assert len(body) == padding
    return body


@pytest.fixture
def app(portal: PortalHandle, tmp_path: Path) -> Iterator[AppHandle]:
    with running_app(portal, store=f"sqlite:{tmp_path / 'crest.sqlite'}") as handle:
        handle.install()
        yield handle


def inbox_size(app: AppHandle) -> int:
    # The inbox shares the SQLite store file, so gunicorn's process writes where this reads.
    return sum(events_state(app.app).inbox.counts().values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn(app: AppHandle, tmp_path: Path) -> Iterator[str]:
    """The same app (store, inbox, credentials) under a real gunicorn on 127.0.0.1."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CREST_STORE": app.settings.store,
        "CREST_CLIENT_ID": app.client_id,
        "CREST_CLIENT_SECRET": str(app.registered["client_secret"]),
        "CREST_SECRET_KEY": "k" * 32,
        "CREST_EVENTS_WORKER": "off",
        "CREST_APP_BASE_URL": f"http://127.0.0.1:{port}",
    }
    if app.settings.inbox:
        env["CREST_INBOX"] = app.settings.inbox
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "webapp:create_app(demo=True)",
        ],
        cwd=tmp_path,  # no settings.py here: the environment above is the whole configuration
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"gunicorn did not start: {out[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture(params=["werkzeug", "gunicorn"])
def server(request: pytest.FixtureRequest, app: AppHandle) -> str:
    """The app's URL under each server; both use the same store and inbox."""
    return app.url if request.param == "werkzeug" else str(request.getfixturevalue("gunicorn"))


@pytest.mark.parametrize("over", [1, 4096, 3 * MAX_CONTENT_LENGTH])
def test_chunked_event_over_the_limit_is_413_and_not_stored(app: AppHandle, server: str, over: int) -> None:
    status, body = post_chunked(server, "/events", event_body(app, MAX_CONTENT_LENGTH + over))
    assert status == 413, body[:300]
    assert b"too_large" in body
    assert inbox_size(app) == 0


def test_chunked_event_at_and_under_the_limit_is_stored(app: AppHandle, server: str) -> None:
    status, body = post_chunked(server, "/events", event_body(app, MAX_CONTENT_LENGTH))
    assert status == 200, body[:300]
    # Another change (another record): the inbox keeps one row per change.
    status, body = post_chunked(server, "/events", event_body(app, entity="8"), chunk=7)
    assert status == 200, body[:300]
    assert inbox_size(app) == 2


@pytest.mark.parametrize("route", ["/install", "/", "/placement/crm_contact_tab"])
def test_chunked_frame_post_over_the_limit_is_413(app: AppHandle, server: str, route: str) -> None:
    [before] = app.store.all_installations()
    query, fields = app.frame_fields()
    body = (encode(fields) + "&pad=").encode()
    body += b"x" * (MAX_CONTENT_LENGTH + 1 - len(body))
    status, _ = post_chunked(server, f"{route}?{encode(query)}", body)
    assert status == 413
    assert app.store.all_installations() == [before]
