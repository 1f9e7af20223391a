"""Frame headers (T7): one CSP frame-ancestors with the verified portal origin, never X-Frame-Options."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response

from crest.installation import Installation
from crest.settings import Settings
from crest.stores import MemoryStore
from portal.app_testing import AppHandle
from webapp import create_app

PORTAL = Installation(
    member_id="a" * 32,
    domain="portal.example.com",
    client_endpoint="https://portal.example.com/rest/",
    access_token="access-token-1",
    refresh_token="refresh-token-1",
    expires=None,
    application_token="t" * 32,
)

FRAMED = [("POST", "/"), ("GET", "/"), ("POST", "/install"), ("POST", "/placement/crm_contact_tab")]
NOT_FRAMED = [("GET", "/operator"), ("GET", "/api/me"), ("GET", "/nothing-here"), ("GET", "/settings.json")]


def _app(*installations: Installation, **settings: Any) -> Flask:
    store = MemoryStore()
    for inst in installations:
        store.save(inst)
    values: dict[str, Any] = {
        "client_id": "local.test",
        "secret_key": "k" * 32,
        "store": "memory:",
        "events_worker": "off",
    }
    values.update(settings)
    return create_app(Settings(**values), store=store)


def _csp(resp: Any) -> list[str]:
    # requests folds repeated headers into one; urllib3's raw headers keep them apart.
    headers = resp.raw.headers if hasattr(resp, "raw") and hasattr(resp.raw, "headers") else resp.headers
    return list(headers.getlist("Content-Security-Policy"))


@pytest.mark.parametrize(("verb", "path"), FRAMED)
def test_framed_pages_allow_only_the_verified_portal(verb: str, path: str) -> None:
    resp = _app(PORTAL).test_client().open(path, method=verb)
    assert _csp(resp) == ["frame-ancestors https://portal.example.com"]
    assert "X-Frame-Options" not in resp.headers


@pytest.mark.parametrize(("verb", "path"), NOT_FRAMED)
def test_other_routes_may_not_be_framed(verb: str, path: str) -> None:
    resp = _app(PORTAL, operator_key="op").test_client().open(path, method=verb)
    assert _csp(resp) == ["frame-ancestors 'none'"]
    assert "X-Frame-Options" not in resp.headers


def test_forged_domain_does_not_change_the_policy() -> None:
    client = _app(PORTAL).test_client()
    resp = client.post(
        "/?DOMAIN=evil.example&PROTOCOL=1",
        data={"DOMAIN": "evil.example", "AUTH_ID": "x" * 20, "member_id": "a" * 32},
    )
    assert resp.status_code == 401
    assert _csp(resp) == ["frame-ancestors https://portal.example.com"]


def test_no_installation_means_no_frame_ancestors() -> None:
    resp = _app().test_client().get("/")
    assert _csp(resp) == ["frame-ancestors 'none'"]


def test_on_premise_extras_are_added_and_cannot_inject_directives() -> None:
    app = _app(PORTAL, frame_ancestors=("https://b24.corp.example", "https://x.example; script-src *"))
    resp = app.test_client().get("/")
    assert _csp(resp) == ["frame-ancestors https://portal.example.com https://b24.corp.example"]


def test_http_portal_origin_keeps_its_scheme_and_port() -> None:
    local = Installation(
        member_id="b" * 32,
        domain="127.0.0.1:8024",
        client_endpoint="http://127.0.0.1:8024/rest/",
        access_token="access-token-2",
        refresh_token="refresh-token-2",
        expires=None,
    )
    assert _csp(_app(local).test_client().get("/")) == ["frame-ancestors http://127.0.0.1:8024"]


def test_headers_added_by_other_middleware_are_repaired() -> None:
    app = _app(PORTAL)

    # What Flask-Talisman and similar add by default, registered after create_app as usual.
    @app.after_request
    def talisman_like(resp: Response) -> Response:
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers.add("Content-Security-Policy", "default-src 'self'; frame-ancestors 'self'")
        return resp

    client = app.test_client()
    framed = client.get("/")
    assert "X-Frame-Options" not in framed.headers
    assert _csp(framed) == ["default-src 'self'; frame-ancestors https://portal.example.com"]
    other = client.get("/operator")
    assert "X-Frame-Options" not in other.headers
    assert _csp(other) == ["default-src 'self'; frame-ancestors 'none'"]


def test_first_install_page_names_the_portal_just_verified(app: AppHandle) -> None:
    assert app.store.all_installations() == []
    resp = app.install()
    portal = app.portal.portal
    assert _csp(resp) == [f"frame-ancestors http://{portal.domain}"]
    assert "X-Frame-Options" not in resp.headers


def test_refused_install_is_not_frameable_by_its_sender(app: AppHandle) -> None:
    query, body = app.frame_fields()
    query["DOMAIN"] = "evil.example"
    resp = app.http.post(app.url + "/install", params=query, data=body, timeout=30)
    assert resp.status_code == 403
    assert _csp(resp) == ["frame-ancestors 'none'"]
