"""`crest demo`: the README's first command starts, answers, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

CREST = [sys.executable, "-c", "from crest.cli import main; main()"]


def test_demo_runs_and_writes_its_urls(tmp_path: Path) -> None:
    info_path = tmp_path / "demo.json"
    proc = subprocess.Popen(
        [*CREST, "demo", "--port", "0", "--info", str(info_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,  # no settings.py or store of the checkout's may be picked up
    )
    try:
        deadline = time.monotonic() + 60
        while not info_path.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the demo wrote no --info file"
            time.sleep(0.1)
        info = json.loads(info_path.read_text(encoding="utf-8"))
        assert {"portal_page_url", "app_url", "webhook_url", "ca_bundle", "member_id"} <= set(info)
        portal_page = requests.get(info["portal_page_url"], timeout=30)
        assert portal_page.status_code == 200
        # The portal page opens the app: its frame form posts to the app's install path first.
        assert f"{info['app_url']}/install" in portal_page.text
        outside = requests.get(info["app_url"] + "/", timeout=30)
        assert outside.status_code == 200
        assert "Bitrix24 application" in outside.text
        webhook = requests.post(info["webhook_url"] + "user.current.json", timeout=30)
        assert webhook.json()["result"]["ID"] in ("1", 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "Open the app:" in output
    assert "Traceback" not in output
