"""``crest call --timeout SECONDS`` against a silent server: a loopback socket that accepts the
connection and never answers. Run as the README writes it, in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CREST = str(Path(sys.executable).with_name("crest"))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A webhook URL on a socket that accepts and then says nothing."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    accepted: list[socket.socket] = []
    listener.settimeout(0.05)
    port = listener.getsockname()[1]

    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)  # held open, never read or answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/rest/1/silentsecret0123/"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def crest_call(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    started = time.monotonic()
    done = subprocess.run(
        [CREST, "call", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return done, time.monotonic() - started


def test_a_silent_server_gives_a_clear_error_within_the_timeout(silent_server: str) -> None:
    done, took = crest_call("user.current", "--webhook", silent_server, "--timeout", "1.5")
    assert done.returncode == 1
    assert "no answer within --timeout 1.5 s" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "silentsecret0123" not in done.stderr
    # The command's own start-up (Python, imports) comes on top of the 1.5 s.
    assert took < 1.5 + 4.0, took


def test_timeout_must_be_a_positive_number(silent_server: str) -> None:
    done, _ = crest_call("user.current", "--webhook", silent_server, "--timeout", "soon")
    assert done.returncode == 2 and "--timeout" in done.stderr


def test_the_tls_hint_names_settings_that_exist_and_they_work() -> None:
    from portal.testing import running_portal

    with running_portal(https=True) as portal:
        assert portal.ca_bundle
        done, _ = crest_call("user.current", "--webhook", portal.webhook_url)
        assert done.returncode == 1
        assert "--ca-bundle FILE" in done.stderr and "CREST_CA_BUNDLE" in done.stderr, done.stderr
        assert "C_REST_CA_BUNDLE" not in done.stderr and "Traceback" not in done.stderr
        # Both names the hint gives are real: the option, and the environment variable.
        by_option, _ = crest_call(
            "user.current", "--webhook", portal.webhook_url, "--ca-bundle", portal.ca_bundle
        )
        assert by_option.returncode == 0, by_option.stderr
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
        by_env = subprocess.run(
            [CREST, "call", "user.current", "--webhook", portal.webhook_url],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "CREST_CA_BUNDLE": portal.ca_bundle},
            check=False,
        )
        assert by_env.returncode == 0, by_env.stderr
