"""The README's commands, run the way a person types them (subprocess, shell where it says so)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from crest.client import Client
from portal.testing import running_portal

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def read_until(proc: subprocess.Popen[str], needle: str, timeout: float = 90) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    return "".join(lines)


def test_make_demo_prints_the_webhook_url_and_explains_the_first_open(tmp_path: Path) -> None:
    info = tmp_path / "demo.json"
    proc = subprocess.Popen(
        ["make", "-s", "demo", f"DEMO_ARGS=--port 0 --info {info}"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make and the demo it runs are one group, stopped together
    )
    try:
        out = read_until(proc, "Press Ctrl-C to stop.")
        assert "Press Ctrl-C to stop." in out, out
        urls = json.loads(info.read_text())
        assert f"Webhook URL:    {urls['webhook_url']}" in out
        assert '"not installed" until you open it' in out and "First open:" in out
        assert ". .venv/bin/activate" in out  # how to get crest on the PATH
        # The printed webhook works as printed.
        assert Client.from_webhook(urls["webhook_url"]).call("user.current")["ID"] in ("1", 1)
        # ...and the first-open explanation is true: registered, not installed before it is opened.
        page = requests.get(urls["portal_page_url"], timeout=30).text
        assert f"{urls['app_url']}/install" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out + rest


def test_activating_the_venv_puts_crest_on_the_path() -> None:
    # The README's line, in a shell started from the checkout.
    done = subprocess.run(
        ["sh", "-c", ". .venv/bin/activate && command -v crest && crest --help"],
        cwd=ROOT,
        env={k: v for k, v in clean_env().items() if k != "VIRTUAL_ENV"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(ROOT / ".venv" / "bin" / "crest")
    assert "worker" in done.stdout and "call" in done.stdout


def test_lead_notify_as_the_readme_runs_it_says_what_it_did(tmp_path: Path) -> None:
    with running_portal() as portal:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "lead_notify.py"),
                "--portal",
                portal.base_url,
                "--admin-token",
                portal.admin_token,
            ],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            out = read_until(proc, "Ctrl-C to stop")
            assert "notifying about new leads" in out, out
            lead = Client.from_webhook(portal.webhook_url).call(
                "crm.lead.add", {"fields": {"TITLE": "From the README", "ASSIGNED_BY_ID": 1}}
            )
            out += read_until(proc, f"lead {lead}: notification #")
        finally:
            proc.terminate()
            out += proc.communicate(timeout=15)[0]
        assert f"lead {lead}: notification #" in out and "Traceback" not in out, out
