"""The ``portal`` fixture and the ``b24portal`` marker, as a user's own suite sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

USER_SUITE = """
import pytest
import requests


def test_fixture_gives_a_running_portal(portal):
    resp = requests.get(portal.webhook_url + "user.current", timeout=10)
    assert resp.json()["result"]["ID"] == "1"
    assert portal.base_url.startswith("http://127.0.0.1:")


@pytest.mark.b24portal(limits=True)
def test_marker_configures_the_portal(portal):
    portal.freeze_clock()
    statuses = [requests.get(portal.webhook_url + "server.time", timeout=10).status_code for _ in range(51)]
    assert statuses[-1] == 503


@pytest.mark.b24portal(https=True)
def test_marker_https(portal):
    assert requests.get(portal.webhook_url + "server.time", verify=portal.ca_bundle, timeout=10).ok


def test_each_test_gets_a_fresh_portal(portal):
    assert portal.requests() == []
"""


def test_plugin_in_a_users_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_SUITE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_user.py")],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_running_portal_context_manager() -> None:
    with running_portal(PortalConfig(limits=False, cost=None), contacts=0) as p:
        assert requests.get(p.webhook_url + "user.current", timeout=10).status_code == 200
        url = p.webhook_url
    # after the block the portal is gone
    try:
        requests.get(url + "user.current", timeout=2)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the portal still answers after the block")


def test_handle_wraps_the_event_admin_api(portal: PortalHandle) -> None:
    import threading

    from flask import Flask, request

    from crest.forms import decode
    from portal.server import ServerThread

    received: list[dict[str, object]] = []
    got = threading.Event()
    receiver = Flask("receiver")

    @receiver.post("/hook")
    def hook() -> str:
        received.append(decode(request.get_data()))
        got.set()
        return "ok"

    with ServerThread(receiver) as server:
        hook_info = portal.add_outgoing_webhook(f"{server.url}/hook", ["ONCRMCONTACTADD"])
        requests.post(portal.webhook_url + "crm.contact.add.json", json={"fields": {"NAME": "A"}}, timeout=10)
        portal.flush()
        assert got.wait(5)
    assert received[0]["auth"]["application_token"] == hook_info["application_token"]  # type: ignore[index]
    assert [d["event"] for d in portal.deliveries("ONCRMCONTACTADD")] == ["ONCRMCONTACTADD"]
