"""Production as the README's "Deploy" section sets it up, for real on 127.0.0.1.

The app written by `crest new` runs under `crest serve` (gunicorn with 2 workers, and `crest
worker` as its own process) behind a real nginx that `crest deploy` configured, terminating TLS
with a certificate of the portal's CA. The portal installs it and Chromium opens it: the page
shows the user's name, the placement renders in the CRM card, and an edited contact's event
reaches the handler once. The nginx access log keeps no query strings or tokens.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
NGINX = "/usr/sbin/nginx"
WAIT = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"{what} did not listen on {port}")


def run(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def production(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: `make test` installs Debian's nginx-light")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    run(str(BIN / "crest"), "new", "myapp", "--title", "My app", cwd=tmp_path, env=env)
    app_dir = tmp_path / "myapp"
    with running_portal(https=True, contacts=3) as portal:
        tls = Path(str(portal.ca_bundle)).parent  # the portal's CA issued server.pem for localhost too
        upstream, https_port = free_port(), free_port()
        public = f"https://localhost:{https_port}"
        registered = portal.register_app(
            title="My app",
            handler_url=f"{public}/",
            install_url=f"{public}/install",
            scopes=["crm", "user", "placement"],
        )
        # crest deploy, as the README runs it, with this machine's paths.
        logs = tmp_path / "logs"
        logs.mkdir()
        out = run(
            str(BIN / "crest"), "deploy", "--domain", "localhost", "--out", str(tmp_path / "deploy"),
            "--upstream", f"127.0.0.1:{upstream}", "--cert", str(tls / "server.pem"),
            "--key", str(tls / "server-key.pem"), "--listen", f"127.0.0.1:{https_port}",
            "--http-port", "0", "--log-dir", str(logs), cwd=app_dir, env=env,
        )  # fmt: skip
        assert "myapp.nginx.conf" in out and "myapp-worker.service" in out
        assert (tmp_path / "deploy" / "myapp.env").stat().st_mode & 0o777 == 0o600
        temp = {n: tmp_path / "nginx" / n for n in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for folder in temp.values():
            folder.mkdir(parents=True)
        conf = tmp_path / "nginx" / "nginx.conf"
        conf.write_text(
            f"""daemon off; master_process off; pid {tmp_path}/nginx/nginx.pid;
error_log {logs}/main.error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]}; proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]}; uwsgi_temp_path {temp["uwsgi"]}; scgi_temp_path {temp["scgi"]};
    include {tmp_path}/deploy/myapp.nginx.conf;
}}
"""
        )
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp_path / "nginx"), "-e", str(logs / "main.error.log"), "-c", str(conf)]
        )
        serve_env = {
            **env,
            "CREST_CLIENT_ID": registered["client_id"],
            "CREST_CLIENT_SECRET": registered["client_secret"],
            "CREST_OAUTH_TOKEN_URL": portal.portal.token_url,
            "CREST_OAUTH_SERVER_ENDPOINT": portal.portal.server_endpoint,
            "CREST_CA_BUNDLE": str(portal.ca_bundle),
            "CREST_APP_BASE_URL": public,
            "CREST_SECRET_KEY": secrets.token_urlsafe(32),
            "CREST_STORE": f"sqlite:{app_dir / 'var' / 'crest.sqlite'}",
        }
        serve = subprocess.Popen(
            [
                str(BIN / "crest"),
                "serve",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{upstream}",
                "--lease",
                "10",
            ],
            cwd=app_dir,
            env=serve_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            wait_listening(https_port, nginx, "nginx")
            wait_listening(upstream, serve, "crest serve")
            yield {"portal": portal, "app": registered, "public": public, "dir": app_dir, "logs": logs}
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            serve_out = serve.communicate(timeout=60)[0]
            nginx.terminate()
            nginx.wait(20)
        assert "Traceback" not in serve_out, serve_out
        assert serve.returncode == 0, serve_out


def test_the_app_behind_nginx_installs_opens_and_handles_events_once(
    production: dict[str, Any], browser: Any
) -> None:
    from playwright.sync_api import expect

    portal: PortalHandle = production["portal"]
    # TLS through nginx with the portal's CA, verified as any client would.
    assert (
        requests.post(production["public"] + "/events", timeout=10, verify=portal.ca_bundle).status_code
        == 400
    )
    context = browser.new_context(viewport={"width": 1200, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(f"{portal.base_url}/marketplace/app/{production['app']['id']}/")
        frame = page.frame_locator("iframe.app-iframe")
        expect(frame.locator("#user-name")).to_have_text("Maria Ivanova", timeout=WAIT)
        screenshot(page, "production-app-page")
        hook = Client.from_webhook(portal.webhook_url, ca_bundle=portal.ca_bundle)
        contact_id = hook.call("crm.contact.add", {"fields": {"NAME": "Ada", "LAST_NAME": "Lovelace"}})
        page.goto(f"{portal.base_url}/crm/contact/details/{contact_id}/")
        page.locator("a[data-tab^='placement_']", has_text="My app").click()
        tab = page.frame_locator("iframe.app-iframe")
        expect(tab.locator("#contact-name")).to_have_text("Ada Lovelace", timeout=WAIT)
        screenshot(page, "production-contact-tab")
    finally:
        context.close()
    hook.call("crm.contact.update", {"ID": contact_id, "fields": {"NAME": "Grace"}})
    portal.flush()
    log = production["dir"] / "var" / "contact-changes.jsonl"
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # a second run of the handler (by the other process, or a replay) would be in by now
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert [(line["id"], line["name"]) for line in lines] == [(str(contact_id), "Grace Lovelace")]
    access = (production["logs"] / "myapp.access.log").read_text()
    assert "POST /events" in access and "POST / " in access
    assert "APP_SID" not in access and "AUTH_ID" not in access and "?" not in access
