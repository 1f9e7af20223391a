"""The /_portal/ admin API: faults, the request record, the clock, domain change, loopback only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import BUMPS, extra_methods, get, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


def test_error_fault_for_the_next_n_calls(portal: PortalHandle) -> None:
    portal.fault(
        "user.current", error="QUERY_LIMIT_EXCEEDED", description="Too many requests", status=503, count=2
    )
    url = portal.webhook_url + "user.current"
    assert [get(url).status_code for _ in range(3)] == [503, 503, 200]
    assert get(url).json()["result"]["ID"] == "1"
    assert portal.admin("GET", "faults") == []


def test_fault_for_every_method(portal: PortalHandle) -> None:
    portal.fault("*", error="INTERNAL_SERVER_ERROR", status=500, count=2)
    assert get(portal.webhook_url + "server.time").status_code == 500
    assert get(portal.webhook_url + "user.current").status_code == 500
    assert get(portal.webhook_url + "server.time").status_code == 200


def test_faults_only_hit_their_method_and_can_be_cleared(portal: PortalHandle) -> None:
    portal.fault("user.current", count=5)
    assert get(portal.webhook_url + "server.time").status_code == 200
    assert portal.admin("GET", "faults")[0]["remaining"] == 5
    portal.clear_faults()
    assert get(portal.webhook_url + "user.current").status_code == 200


def test_delay_fault(portal: PortalHandle) -> None:
    portal.fault("server.time", kind="delay", delay=0.3)
    started = time.perf_counter()
    assert get(portal.webhook_url + "server.time").status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    get(portal.webhook_url + "server.time")
    assert time.perf_counter() - started < 0.3


def test_drop_fault_runs_the_method_and_loses_the_answer(portal: PortalHandle) -> None:
    before = len(BUMPS)
    portal.fault("test.bump", kind="drop")
    with pytest.raises(requests.ConnectionError):
        post(portal.webhook_url + "test.bump")
    assert len(BUMPS) == before + 1  # the effect happened
    # The server records the call just after it dropped the connection: wait briefly for it.
    deadline = time.monotonic() + 3
    record = [r for r in portal.requests() if r["method"] == "test.bump"]
    while not record and time.monotonic() < deadline:
        time.sleep(0.02)
        record = [r for r in portal.requests() if r["method"] == "test.bump"]
    assert [(r["status"], r["error"]) for r in record] == [(200, None)]
    # the next call is answered, on a fresh connection
    assert post(portal.webhook_url + "test.bump").json()["result"] == before + 2


def test_bad_fault_is_refused(portal: PortalHandle) -> None:
    resp = requests.post(
        f"{portal.base_url}/_portal/faults",
        json={"method": "x", "kind": "explode"},
        headers=portal.admin_headers,
        timeout=10,
    )
    assert resp.status_code == 400


def test_request_record(portal: PortalHandle) -> None:
    portal.clear_requests()
    token = portal.issue_tokens()["access_token"]
    t0 = portal.portal.clock.time()
    get(portal.webhook_url + "user.current")
    get(f"{portal.base_url}/rest/user.current", params={"auth": token})
    get(f"{portal.base_url}/rest/user.current")
    get(f"{portal.base_url}/rest/nope")
    post(portal.webhook_url + "batch", json={"cmd": {"a": "server.time", "b": "server.time"}})
    records = portal.requests()
    summary = [(r["method"], r["status"], r["error"], r["auth"]) for r in records]
    assert summary == [
        ("user.current", 200, None, "webhook"),
        ("user.current", 200, None, "oauth"),
        ("user.current", 401, "NO_AUTH_FOUND", "none"),
        ("nope", 404, "ERROR_METHOD_NOT_FOUND", "none"),
        ("batch", 200, None, "webhook"),
    ]
    assert records[-1]["batch_size"] == 2
    assert all(t0 - 1 <= r["time"] <= t0 + 60 for r in records)
    assert all(r["ip"] == "127.0.0.1" for r in records)
    assert len(portal.requests(since=records[-1]["time"])) >= 1
    assert portal.count("user.current", status=200) == 2


def test_clock_moves_server_time(portal: PortalHandle) -> None:
    before = get(portal.webhook_url + "server.time").json()["time"]["start"]
    answer = portal.admin("POST", "clock", {"advance": 86400})
    assert answer["offset"] >= 86400
    after = get(portal.webhook_url + "server.time").json()
    assert after["time"]["start"] - before >= 86400
    assert after["result"][:10] != time.strftime("%Y-%m-%d", time.gmtime(before))


def test_frozen_clock_stands_still(portal: PortalHandle) -> None:
    portal.freeze_clock()
    a = get(portal.webhook_url + "server.time").json()["time"]["start"]
    time.sleep(0.01)
    b = get(portal.webhook_url + "server.time").json()["time"]["start"]
    assert a == b
    portal.advance(5)
    assert get(portal.webhook_url + "server.time").json()["time"]["start"] == a + 5
    portal.freeze_clock(False)
    assert get(portal.webhook_url + "server.time").json()["time"]["start"] >= a + 5


def test_domain_change_redirects_the_old_host(portal: PortalHandle) -> None:
    old = portal.base_url
    port = urlsplit(old).port
    new = f"http://localhost:{port}"
    info = portal.admin("POST", "domain-change", {"base_url": new})
    assert info["base_url"] == new and info["webhook_url"].startswith(new + "/rest/")
    path = urlsplit(portal.webhook_url).path
    moved = post(f"{old}{path}user.get?ID=2", allow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"{new}{path}user.get?ID=2"
    assert not moved.headers["Content-Type"].startswith("application/json")
    followed = post(moved.headers["Location"])
    assert followed.status_code == 200 and followed.json()["result"][0]["ID"] == "2"
    tokens = portal.issue_tokens()
    assert tokens["client_endpoint"] == new + "/rest/"
    bad = requests.post(
        f"{old}/_portal/domain-change", json={"base_url": "ftp://x"}, headers=portal.admin_headers, timeout=10
    )
    assert bad.status_code == 400


def test_admin_api_is_loopback_only(portal: PortalHandle) -> None:
    client = portal.app.test_client()
    # The portal's own address and token: only the peer's address differs.
    own = {"base_url": portal.server.url, "headers": portal.admin_headers}
    for path in ("/_portal/info", "/_portal/requests", "/_portal/faults"):
        assert client.get(path, environ_base={"REMOTE_ADDR": "10.1.2.3"}, **own).status_code == 404
        assert client.get(path, environ_base={"REMOTE_ADDR": "127.0.0.1"}, **own).status_code == 200
    assert (
        client.post(
            "/_portal/clock", json={"advance": 1}, environ_base={"REMOTE_ADDR": "192.168.0.1"}, **own
        ).status_code
        == 404
    )
    assert client.get("/_portal/info", environ_base={"REMOTE_ADDR": "::1"}, **own).status_code == 200


def test_admin_info(portal: PortalHandle) -> None:
    info = portal.admin("GET", "info")
    assert info["base_url"] == portal.base_url
    assert info["webhook_url"] == portal.webhook_url
    assert get(info["webhook_url"] + "user.current").status_code == 200
