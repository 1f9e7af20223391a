"""The leaky bucket (503) and the per-method operating-time limit (429), fast through speed and clock."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from portal.config import CostModel
from portal.testing import PortalHandle
from tests.portal._portal_helpers import extra_methods, get, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


QUERY_LIMIT = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
OPERATION_LIMIT = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


def _burst(url: str, n: int) -> list[int]:
    return [get(url).status_code for _ in range(n)]


@pytest.mark.b24portal(limits=True)
def test_standard_bucket_burst_and_drain(portal: PortalHandle) -> None:
    portal.freeze_clock()
    url = portal.webhook_url + "server.time"
    assert _burst(url, 50) == [200] * 50
    refused = get(url)
    assert (refused.status_code, refused.json()) == (503, QUERY_LIMIT)
    portal.advance(1.0)  # drains 2 requests a second
    assert _burst(url, 3) == [200, 200, 503]
    # a refused request does not fill the bucket: after 0.5 s exactly one more fits
    portal.advance(0.5)
    assert _burst(url, 2) == [200, 503]


@pytest.mark.b24portal(limits=True, plan="enterprise")
def test_enterprise_bucket(portal: PortalHandle) -> None:
    portal.freeze_clock()
    url = portal.webhook_url + "server.time"
    assert _burst(url, 251).count(503) == 1
    portal.advance(1.0)  # 5 a second
    assert _burst(url, 6) == [200] * 5 + [503]


@pytest.mark.b24portal(limits=True, speed=10.0)
def test_bucket_drain_scales_with_speed(portal: PortalHandle) -> None:
    portal.freeze_clock()
    url = portal.webhook_url + "server.time"
    _burst(url, 50)
    assert get(url).status_code == 503
    portal.advance(1.0)  # 2 a second times 10
    assert _burst(url, 21).count(503) == 1


@pytest.mark.b24portal(limits=True)
def test_batch_counts_as_one_request(portal: PortalHandle) -> None:
    portal.freeze_clock()
    _burst(portal.webhook_url + "server.time", 49)
    cmd = {f"c{i}": "server.time" for i in range(50)}
    assert post(portal.webhook_url + "batch", json={"cmd": cmd}).status_code == 200
    assert get(portal.webhook_url + "server.time").status_code == 503


@pytest.mark.b24portal(limits=True)
def test_bucket_is_per_source_ip(portal: PortalHandle) -> None:
    portal.freeze_clock()
    url = portal.webhook_url + "server.time"
    _burst(url, 51)
    parts = urlsplit(url)
    # Another loopback address is another client IP to the portal.
    conn = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=10, source_address=("127.0.0.2", 0)
    )
    try:
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
    finally:
        conn.close()


# speed 100 and a 1 s limit: 10 ms of real server time; a 2000-row call costs 1.02 portal s.
LIMITED = pytest.mark.b24portal(limits=True, cost=CostModel(), speed=100.0, operating_limit=1.0)


@LIMITED
def test_operating_limit_blocks_one_method_only(portal: PortalHandle) -> None:
    url = portal.webhook_url
    first = get(url + "test.slow?rows=2000").json()
    assert first["time"]["operating"] == pytest.approx(1.02 / 100, rel=0.2)
    blocked = get(url + "test.slow")
    assert (blocked.status_code, blocked.json()) == (429, OPERATION_LIMIT)
    assert get(url + "server.time").status_code == 200  # other methods still work
    other_hook = portal.add_webhook()
    assert get(other_hook + "test.slow").status_code == 200  # counted per webhook
    token = portal.issue_tokens()["access_token"]
    assert get(f"{portal.base_url}/rest/test.slow", params={"auth": token}).status_code == 200
    # the window is ten 60 s buckets, 6 s of real time at speed 100; after it the method is free
    reset_at = first["time"]["operating_reset_at"]
    assert reset_at == pytest.approx(first["time"]["start"] + 6.0, abs=1.0)
    portal.advance(6.1)
    assert get(url + "test.slow").status_code == 200


@LIMITED
def test_short_calls_are_not_counted(portal: PortalHandle) -> None:
    for _ in range(20):  # each 0.02 portal s, under the 0.1 s that is recorded
        body = get(portal.webhook_url + "test.slow").json()
    assert body["time"]["operating"] == 0
    assert body["time"]["processing"] == pytest.approx(0.02 / 100, rel=0.5)


@LIMITED
def test_batch_sub_calls_are_charged_to_their_method(portal: PortalHandle) -> None:
    body = post(portal.webhook_url + "batch", json={"cmd": {"s": "test.slow?rows=2000"}}).json()
    assert body["result"]["result"] == {"s": "ok"}
    assert body["time"]["operating"] == 0  # batch itself is not charged
    assert get(portal.webhook_url + "test.slow").status_code == 429
    again = post(portal.webhook_url + "batch", json={"cmd": {"s": "test.slow", "t": "server.time"}}).json()
    assert again["result"]["result_error"] == {"s": OPERATION_LIMIT}
    assert "t" in again["result"]["result"]


@pytest.mark.b24portal(limits=False, cost=CostModel(), speed=10.0)
def test_cost_model_is_reported_in_processing(portal: PortalHandle) -> None:
    cost = CostModel()
    body = get(portal.webhook_url + "test.slow?rows=1000").json()
    expected = cost.seconds(rows=1000) / 10.0
    assert body["time"]["processing"] == pytest.approx(expected, rel=0.1)
    assert body["time"]["duration"] >= expected * 0.9
    assert "operating" not in body["time"]


def test_limits_and_cost_off_by_default_in_tests(portal: PortalHandle) -> None:
    statuses = _burst(portal.webhook_url + "server.time", 60)
    assert statuses == [200] * 60
    assert json.loads(get(portal.webhook_url + "test.slow?rows=100000").text)["time"]["processing"] < 0.5
