"""Helpers of the checkserver tests: a real nginx in front of the app, certificates, ports.

nginx runs as an ordinary child process: its own config file in a temp folder (``-c``, ``-p``,
``-e``), every path (pid, logs, temp folders) inside it, ``daemon off`` and ``master_process
off`` (one process, no switch to another user, killed by its pid), listening on free ports of
127.0.0.1. ``make test`` installs Debian's nginx-light; without it the nginx tests fail, they
do not skip, so a machine that cannot run them is noticed.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from portal.tls import TlsFiles, ensure_tls

NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Nginx:
    https_url: str
    http_url: str
    folder: Path

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait_listening(port: int, proc: subprocess.Popen[bytes], folder: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (
                (folder / "error.log").read_text(errors="replace") if (folder / "error.log").exists() else ""
            )
            pytest.fail(f"nginx exited with {proc.returncode}: {log}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("nginx did not start listening within 10 s")


@contextmanager
def running_nginx(
    folder: Path,
    upstream: str,
    tls: TlsFiles,
    *,
    server_extra: str = "",
    location_extra: str = "",
    http_redirects: bool = True,
    extra_locations: str = "",
) -> Iterator[Nginx]:
    """nginx terminating TLS on a free port and proxying to ``upstream`` (``http://127.0.0.1:port``).

    ``server_extra`` goes into the TLS server block (where people put ``add_header``), the
    plain-HTTP server redirects to https unless ``http_redirects`` is false (then it proxies).
    """
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: install Debian's nginx-light (make test does)")
    folder.mkdir(parents=True, exist_ok=True)
    https_port, http_port = free_port(), free_port()
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    proxy = f"""
            proxy_pass {upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            {location_extra}
    """
    plain = (
        f"return 301 https://$host:{https_port}$request_uri;"
        if http_redirects
        else f"location / {{ {proxy} }}"
    )
    config = f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{https_port} ssl;
        server_name localhost;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        {server_extra}
        {extra_locations}
        location / {{ {proxy} }}
    }}
    server {{
        listen 127.0.0.1:{http_port};
        {plain}
    }}
}}
"""
    conf = folder / "nginx.conf"
    conf.write_text(config)
    check = subprocess.run(
        [NGINX, "-t", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert check.returncode == 0, check.stderr.decode(errors="replace")
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(https_port, proc, folder, time.monotonic() + 10)
        yield Nginx(f"https://127.0.0.1:{https_port}/", f"http://127.0.0.1:{http_port}/", folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return ensure_tls(tmp_path / "tls")


@pytest.fixture
def expired_tls(tmp_path: Path) -> TlsFiles:
    # Valid for 30 days, starting 400 days ago; its CA starts then too and is still valid.
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    return ensure_tls(tmp_path / "tls-expired", not_before=start, days=30)
