"""``crest portal --port 0 --info FILE``, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

INFO_KEYS = {"base_url", "webhook_url", "domain", "member_id", "ca_bundle", "client_id", "client_secret"}


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    info_path = tmp_path / "info.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "crest.cli", "portal", "--port", "0", "--info", str(info_path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if info_path.exists() and info_path.stat().st_size:
            try:
                return proc, json.loads(info_path.read_text())
            except json.JSONDecodeError:
                pass  # still being written
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    out = proc.communicate()[0]
    pytest.fail(f"crest portal did not start: {out}")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    return out


def test_cli_portal_info_and_calls(tmp_path: Path) -> None:
    proc, info = _start(tmp_path, "--no-limits", "--http")
    try:
        assert set(info) >= INFO_KEYS
        assert str(info["base_url"]).startswith("http://127.0.0.1:")
        assert info["ca_bundle"] is None
        assert oct((tmp_path / "info.json").stat().st_mode & 0o777) == "0o600"
        resp = requests.get(f"{info['webhook_url']}user.current", timeout=10)
        assert resp.json()["result"]["ID"] == "1"
        token = requests.post(
            f"{info['base_url']}/_portal/tokens",
            json={"client_id": info["client_id"]},
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            timeout=10,
        ).json()
        assert token["member_id"] == info["member_id"]
    finally:
        out = _stop(proc)
    assert f"Portal:       {info['base_url']}" in out
    assert f"Webhook URL:  {info['webhook_url']}" in out
    assert f"Admin token:  {info['admin_token']}" in out
    assert f"Static apps:  {info['static_apps_url']}" in out


def test_cli_portal_https(tmp_path: Path) -> None:
    # https is the default: no flag.
    proc, info = _start(tmp_path, "--state", str(tmp_path / "state.sqlite"))
    try:
        assert str(info["base_url"]).startswith("https://")
        assert info["ca_bundle"] and Path(str(info["ca_bundle"])).exists()
        resp = requests.get(f"{info['webhook_url']}user.current", verify=str(info["ca_bundle"]), timeout=10)
        assert resp.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{info['webhook_url']}user.current", timeout=10)
    finally:
        out = _stop(proc)
    assert f"CA bundle:    {info['ca_bundle']}" in out
    assert str(info["static_apps_url"]).startswith("https://127.0.0.1:")
    assert info["static_apps_url"] != info["base_url"]
    # The admin token is kept with the state: a restarted portal's clients keep working.
    (tmp_path / "info.json").unlink()
    proc, again = _start(tmp_path, "--https", "--state", str(tmp_path / "state.sqlite"))
    try:
        assert again["admin_token"] == info["admin_token"]
        resp = requests.get(
            f"{again['base_url']}/_portal/faults",
            headers={"X-Portal-Admin-Token": str(info["admin_token"])},
            verify=str(again["ca_bundle"]),
            timeout=10,
        )
        assert resp.status_code == 200
    finally:
        _stop(proc)
