"""The success and error envelopes, statuses, headers, the XML transport and PHP's JSON quirks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from portal.config import CostModel
from portal.testing import PortalHandle
from tests.portal._portal_helpers import extra_methods, get, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish"}


def test_success_envelope_without_limits(portal: PortalHandle) -> None:
    body = get(portal.webhook_url + "server.time").json()
    assert set(body) == {"result", "time"}
    assert set(body["time"]) == TIME_KEYS
    t = body["time"]
    assert t["finish"] >= t["start"]
    assert t["duration"] == pytest.approx(t["finish"] - t["start"])
    assert t["date_start"].endswith("+00:00") and "T" in t["date_start"]


@pytest.mark.b24portal(limits=True)
def test_success_envelope_with_limits_reports_operating(portal: PortalHandle) -> None:
    t = get(portal.webhook_url + "server.time").json()["time"]
    assert set(t) == TIME_KEYS | {"operating", "operating_reset_at"}
    assert t["operating"] == 0
    assert isinstance(t["operating_reset_at"], int)
    assert t["operating_reset_at"] >= int(t["start"]) + 599


def test_total_and_next_are_hoisted(portal: PortalHandle) -> None:
    first = get(portal.webhook_url + "test.paged").json()
    assert (first["total"], first["next"], len(first["result"])) == (120, 50, 50)
    last = get(portal.webhook_url + "test.paged?start=100").json()
    assert last["total"] == 120 and "next" not in last
    assert [r["ID"] for r in last["result"]] == [str(i) for i in range(101, 121)]
    own = get(portal.webhook_url + "test.hoisted").json()
    assert own["result"] == {"items": [1, 2]}
    assert (own["total"], own["next"]) == (120, 50)
    assert list(own) == ["result", "total", "next", "time"]


def test_user_get_has_total_but_no_next(portal: PortalHandle) -> None:
    body = get(portal.webhook_url + "user.get").json()
    assert body["total"] == 3 and "next" not in body


# Every code of reference 2.6 that has one HTTP status, produced by fault injection.
CATALOGUE = [
    ("expired_token", 401, "The access token provided has expired"),
    ("invalid_token", 401, "Unable to get application by token"),
    ("NO_AUTH_FOUND", 401, "Wrong authorization data"),
    ("INVALID_CREDENTIALS", 401, "Invalid request credentials"),
    ("APPLICATION_NOT_FOUND", 401, "Application not found"),
    ("ERROR_OAUTH", 401, "Application not installed"),
    ("authorization_error", 401, "Unable to authorize user"),
    ("CONNECTION_ERROR", 401, "Error connecting to authorization server"),
    ("PAYMENT_REQUIRED", 401, "Subscription has been ended"),
    ("METHOD_CONFIRM_WAITING", 401, "Waiting for confirmation"),
    ("METHOD_CONFIRM_DENIED", 403, "Method call denied"),
    ("ACCESS_DENIED", 403, "Access denied! REST is available only on commercial plans."),
    ("allowed_only_intranet_user", 403, "Action is allowed for intranet users only"),
    ("OPERATION_TIME_LIMIT", 429, "Method is blocked due to operation time limit."),
    ("QUERY_LIMIT_EXCEEDED", 503, "Too many requests"),
    ("OVERLOAD_LIMIT", 503, "REST API is blocked due to overload."),
    ("INTERNAL_SERVER_ERROR", 500, "Internal server error"),
    ("ERROR_UNEXPECTED_ANSWER", 500, "Server returned an unexpected response"),
    ("ERROR_CORE", 500, "SQL query error!"),
    ("PORTAL_DELETED", 410, "Portal was deleted"),
]


@pytest.mark.parametrize(("code", "status", "text"), CATALOGUE)
def test_injected_errors_have_their_status_and_envelope(
    portal: PortalHandle, code: str, status: int, text: str
) -> None:
    portal.fault("user.current", error=code, status=status, description=text)
    resp = get(portal.webhook_url + "user.current")
    assert resp.status_code == status
    assert resp.json() == {"error": code, "error_description": text}
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    # the fault was used once: the next call is answered normally
    assert get(portal.webhook_url + "user.current").status_code == 200


def test_method_errors_default_to_400(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "test.fail?text=boom")
    assert (resp.status_code, resp.json()) == (400, {"error": "ERROR_CORE", "error_description": "boom"})
    resp = get(portal.webhook_url + "feature.get")
    assert resp.status_code == 400 and resp.json()["error"] == "CODE_EMPTY"


def test_portal_deleted(portal: PortalHandle) -> None:
    portal.admin("POST", "deleted", {"deleted": True})
    resp = get(portal.webhook_url + "user.current")
    assert (resp.status_code, resp.json()["error"]) == (403, "PORTAL_DELETED")
    portal.admin("POST", "deleted", {"deleted": False})
    assert get(portal.webhook_url + "user.current").status_code == 200


# speed 100 with a 1 s operating limit: the limit is 10 ms of real time, one 2000-row call.
@pytest.mark.b24portal(limits=True, cost=CostModel(), speed=100.0, operating_limit=1.0)
def test_order_of_checks_auth_before_operating_limit(portal: PortalHandle) -> None:
    base = portal.base_url
    # 2: lookup before auth
    assert get(f"{base}/rest/nope").status_code == 404
    # 3: auth before the operating limit (4)
    assert get(portal.webhook_url + "test.slow?rows=2000").status_code == 200
    assert get(portal.webhook_url + "test.slow").status_code == 429
    assert get(f"{base}/rest/1/wrongsecret12345/test.slow").status_code == 401
    assert get(f"{base}/rest/test.slow").status_code == 401
    assert get(f"{base}/rest/nope").status_code == 404


@pytest.mark.b24portal(limits=True)
def test_order_of_checks_rate_limit_in_front(portal: PortalHandle) -> None:
    # The request-rate limit sits in front of everything, even the method lookup.
    portal.freeze_clock()
    statuses = [get(f"{portal.base_url}/rest/nope").status_code for _ in range(51)]
    assert statuses[:50] == [404] * 50
    assert statuses[50] == 503


def test_empty_maps_are_php_empty_arrays(portal: PortalHandle) -> None:
    body = post(portal.webhook_url + "batch", json={"cmd": {"a": "server.time"}}).json()["result"]
    assert body["result_error"] == []
    assert body["result_total"] == []
    assert body["result_next"] == []
    assert post(portal.webhook_url + "test.echo", json={}).text.startswith('{"result":[],')


def test_slashes_are_escaped_as_php_does(portal: PortalHandle) -> None:
    resp = post(portal.webhook_url + "test.echo", json={"url": "https://x/y"})
    assert '"https:\\/\\/x\\/y"' in resp.text
    assert resp.json()["result"] == {"url": "https://x/y"}


def test_headers_on_success_and_error(portal: PortalHandle) -> None:
    for resp in (get(portal.webhook_url + "user.current"), get(f"{portal.base_url}/rest/user.current")):
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["Access-Control-Allow-Headers"] == "origin, content-type, accept"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Bitrix-Rest-Application" not in resp.headers


def test_xml_transport(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "user.current.xml")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(resp.content)  # noqa: S314 (our own portal's answer)
    assert root.tag == "response"
    assert root.findtext("result/ID") == "1"
    assert [i.text for i in root.findall("result/UF_DEPARTMENT/item")] == ["1"]
    assert root.find("time/start") is not None
    err = get(portal.webhook_url + "test.fail.xml?text=a<b")
    assert err.status_code == 400
    root = ET.fromstring(err.content)  # noqa: S314 (our own portal's answer)
    assert (root.findtext("error"), root.findtext("error_description")) == ("ERROR_CORE", "a<b")


def test_keep_alive(portal: PortalHandle) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(portal.webhook_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(
            "POST",
            parts.path + "test.echo",
            body=b"a=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        first = conn.getresponse()
        assert first.read().startswith(b'{"result":{"a":"1"}')
        sock = conn.sock
        assert sock is not None and not first.will_close
        conn.request("GET", parts.path + "server.time")
        assert conn.getresponse().status == 200
        assert conn.sock is sock  # the same connection answered twice
    finally:
        conn.close()
