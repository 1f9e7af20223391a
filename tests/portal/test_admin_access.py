"""Who may drive the /_portal/ admin API, attacked over real HTTP (portal.admin_access).

Only the portal's own address (``Host``) with its admin token in a header gets in: a
DNS-rebound name, a request without the token, a token in the URL, and a CORS preflight
from another origin are each refused, and the portal's state is the same afterwards.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from portal.testing import PortalHandle


def tiny_app() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<!doctype html><title>x</title><p>x</p>")
    return buffer.getvalue()


def snapshot(portal: PortalHandle) -> dict[str, Any]:
    """What an attack on the admin API would change."""
    p = portal.portal
    return {
        "faults": p.faults.pending(),
        "outage": p.faults.oauth_outage,
        "deleted": p.deleted,
        "apps": sorted((a["client_id"], bool(a.get("uninstalled"))) for a in p.credentials.apps.values()),
        "base_url": p.base_url,
    }


# Each attack: (verb, path, requests keyword arguments).
ATTACKS: list[tuple[str, str, Callable[[PortalHandle], dict[str, Any]]]] = [
    ("POST", "faults", lambda p: {"json": {"method": "user.current", "status": 503}}),
    ("POST", "oauth-outage", lambda p: {"json": {"status": 503}}),
    ("POST", "deleted", lambda p: {"json": {"deleted": True}}),
    ("POST", "static-apps", lambda p: {"files": {"archive": ("a.zip", tiny_app())}, "data": {"title": "x"}}),
    ("DELETE", "apps/{client_id}", lambda p: {}),
    ("GET", "info", lambda p: {}),
]


def attack(
    portal: PortalHandle, verb: str, path: str, extra: dict[str, Any], **kwargs: Any
) -> requests.Response:
    url = f"{portal.server.url}/_portal/{path.format(client_id=portal.portal.default_app['client_id'])}"
    return requests.request(verb, url, timeout=10, **extra, **kwargs)


@pytest.mark.parametrize(("verb", "path", "extra"), ATTACKS)
def test_a_foreign_host_is_refused_even_with_the_token(
    portal: PortalHandle, verb: str, path: str, extra: Callable[[PortalHandle], dict[str, Any]]
) -> None:
    # What DNS rebinding sends: the attacker's own name, resolved to 127.0.0.1, in Host.
    port = urlsplit(portal.server.url).port
    before = snapshot(portal)
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"127.0.0.1.nip.io:{port}"):
        resp = attack(portal, verb, path, extra(portal), headers={**portal.admin_headers, "Host": host})
        assert resp.status_code == 403, (host, resp.text)
        assert resp.json()["error"] == "WRONG_HOST"
        assert "client_secret" not in resp.text
    assert snapshot(portal) == before


@pytest.mark.parametrize(("verb", "path", "extra"), ATTACKS)
def test_without_the_admin_token_nothing_changes(
    portal: PortalHandle, verb: str, path: str, extra: Callable[[PortalHandle], dict[str, Any]]
) -> None:
    before = snapshot(portal)
    token = portal.admin_token
    refusals = [
        attack(portal, verb, path, extra(portal)),
        attack(portal, verb, path, extra(portal), headers={"Authorization": "Bearer " + "x" * len(token)}),
        attack(portal, verb, path, extra(portal), headers={"X-Portal-Admin-Token": token[:-1]}),
        attack(portal, verb, path, extra(portal), headers={"Authorization": f"Basic {token}"}),
        # Never in the URL: logs and Referer headers keep URLs.
        attack(portal, verb, path + f"?token={token}&admin_token={token}", extra(portal)),
        attack(
            portal,
            verb,
            path,
            extra(portal),
            headers={"X-Portal-Admin-Token": "é".encode().decode("latin-1")},
        ),
    ]
    for resp in refusals:
        assert resp.status_code == 401, resp.text
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.json()["error"] == "ADMIN_TOKEN_REQUIRED"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "client_secret" not in resp.text
    assert snapshot(portal) == before


def test_the_token_in_either_header_on_any_own_address_gets_in(portal: PortalHandle) -> None:
    port = urlsplit(portal.server.url).port
    token = portal.admin_token
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        for headers in ({"Authorization": f"Bearer {token}"}, {"X-Portal-Admin-Token": token}):
            resp = requests.get(
                f"{portal.server.url}/_portal/info", headers={**headers, "Host": host}, timeout=10
            )
            assert resp.status_code == 200, (host, resp.text)
            assert resp.json()["admin_token"] == token
    # Through the handle, as every test does.
    portal.oauth_outage(503)
    assert portal.portal.faults.oauth_outage == 503


def test_every_portal_has_its_own_token() -> None:
    from portal.testing import running_portal

    with running_portal() as a, running_portal() as b:
        assert len(a.admin_token) >= 32 and a.admin_token != b.admin_token
        resp = requests.get(f"{a.server.url}/_portal/info", headers=b.admin_headers, timeout=10)
        assert resp.status_code == 401


def test_the_admin_api_answers_no_cors(portal: PortalHandle) -> None:
    """A cross-origin fetch with the token header needs a preflight, which gets no CORS grant."""
    origin = "http://localhost:9"
    preflight = requests.options(
        f"{portal.server.url}/_portal/faults",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert not any(h.lower().startswith("access-control-") for h in preflight.headers)
    answer = requests.get(
        f"{portal.server.url}/_portal/info", headers={**portal.admin_headers, "Origin": origin}, timeout=10
    )
    assert answer.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)


def test_a_portal_that_learns_its_address_accepts_only_loopback_names() -> None:
    """Without a configured base URL the first request names the portal; a rebound name must not."""
    from portal.app import create_portal
    from portal.config import PortalConfig

    app = create_portal(PortalConfig(limits=False, cost=None))
    token = app.extensions["b24portal"].admin_token
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    first = client.get("/_portal/info", base_url="http://evil.example:8024", headers=auth)
    assert first.status_code == 403 and first.json is not None and first.json["error"] == "WRONG_HOST"
    assert (
        client.post("/_portal/deleted", base_url="http://evil.example:8024", headers=auth).status_code == 403
    )
    assert app.extensions["b24portal"].deleted is False
    assert client.get("/_portal/info", base_url="http://localhost:8024", headers=auth).status_code == 200
    assert client.get("/_portal/info", base_url="http://127.0.0.1:8024").status_code == 401
