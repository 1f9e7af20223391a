"""The OAuth server: authorize, token by GET and POST, rotation, errors, app.info, outage."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.testing import PortalHandle
from tests.portal._portal_helpers import get, post

TOKEN_FIELDS = {
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "refresh_token",
}


def _app(portal: PortalHandle) -> dict[str, Any]:
    return portal.register_app(
        title="OAuth test", redirect_uri="http://127.0.0.1:9/callback", scopes=["crm", "user"]
    )


def _authorize(portal: PortalHandle, app: dict[str, Any], state: str = "s-1") -> dict[str, str]:
    resp = get(
        f"{portal.base_url}/oauth/authorize/",
        params={"client_id": app["client_id"], "state": state},
        allow_redirects=False,
    )
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:9/callback"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _token(portal: PortalHandle, verb: str, **params: str) -> Any:
    url = f"{portal.base_url}/oauth/token/"
    return get(url, params=params) if verb == "GET" else post(url, data=params)


def _grant(portal: PortalHandle, app: dict[str, Any], code: str, verb: str = "POST") -> Any:
    return _token(
        portal,
        verb,
        grant_type="authorization_code",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        code=code,
    )


def _refresh(portal: PortalHandle, app: dict[str, Any], refresh: str, verb: str = "POST") -> Any:
    return _token(
        portal,
        verb,
        grant_type="refresh_token",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        refresh_token=refresh,
    )


def test_authorize_redirects_with_code(portal: PortalHandle) -> None:
    app = _app(portal)
    query = _authorize(portal, app, state="xyz")
    assert set(query) == {"code", "state", "domain", "member_id", "scope", "server_domain"}
    assert query["state"] == "xyz"
    assert query["domain"] == urlsplit(portal.base_url).netloc
    assert query["member_id"] == portal.info["member_id"]
    assert query["scope"] == "crm,user"


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_code_exchange_gives_a_full_token_response(portal: PortalHandle, verb: str) -> None:
    app = _app(portal)
    code = _authorize(portal, app)["code"]
    resp = _grant(portal, app, code, verb)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == TOKEN_FIELDS
    assert body["expires_in"] == 3600
    assert body["client_endpoint"] == portal.base_url + "/rest/"
    assert body["member_id"] == portal.info["member_id"]
    assert body["user_id"] == 1
    assert body["scope"] == "crm,user"
    assert body["status"] == "L"
    assert abs(body["expires"] - (portal.portal.clock.time() + 3600)) < 5
    me = get(body["client_endpoint"] + "user.current", params={"auth": body["access_token"]})
    assert me.status_code == 200
    # a code works once
    again = _grant(portal, app, code, verb)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_code_lives_30_seconds(portal: PortalHandle) -> None:
    app = _app(portal)
    fresh = _authorize(portal, app)["code"]
    stale = _authorize(portal, app)["code"]
    portal.advance(29)
    assert _grant(portal, app, fresh).status_code == 200
    portal.advance(2)
    resp = _grant(portal, app, stale)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")


@pytest.mark.b24portal(speed=10.0)
def test_code_lifetime_scales_with_speed(portal: PortalHandle) -> None:
    app = _app(portal)
    code = _authorize(portal, app)["code"]
    portal.advance(3.1)
    assert _grant(portal, app, code).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_refresh_is_single_use_and_kills_the_old_access_token(portal: PortalHandle, verb: str) -> None:
    app = _app(portal)
    first = _grant(portal, app, _authorize(portal, app)["code"]).json()
    second = _refresh(portal, app, first["refresh_token"], verb)
    assert second.status_code == 200
    body = second.json()
    assert set(body) == TOKEN_FIELDS
    assert body["refresh_token"] != first["refresh_token"]
    reused = _refresh(portal, app, first["refresh_token"], verb)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    rest = f"{portal.base_url}/rest/user.current"
    assert get(rest, params={"auth": first["access_token"]}).json()["error"] == "invalid_token"
    assert get(rest, params={"auth": body["access_token"]}).status_code == 200


@pytest.mark.b24portal(reuse_refresh_tokens=True)
def test_refresh_reuse_switch(portal: PortalHandle) -> None:
    app = _app(portal)
    first = _grant(portal, app, _authorize(portal, app)["code"]).json()
    assert _refresh(portal, app, first["refresh_token"]).status_code == 200
    assert _refresh(portal, app, first["refresh_token"]).status_code == 200


def test_refresh_after_expiry_of_the_access_token(portal: PortalHandle) -> None:
    app = _app(portal)
    first = _grant(portal, app, _authorize(portal, app)["code"]).json()
    portal.advance(7200)
    rest = f"{portal.base_url}/rest/user.current"
    assert get(rest, params={"auth": first["access_token"]}).json()["error"] == "expired_token"
    renewed = _refresh(portal, app, first["refresh_token"]).json()
    assert get(rest, params={"auth": renewed["access_token"]}).status_code == 200


def test_oauth_errors_and_statuses(portal: PortalHandle) -> None:
    app = _app(portal)
    cid, secret = app["client_id"], app["client_secret"]
    cases = [
        ({}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": cid, "client_secret": secret}, 400, "invalid_request"),
        (
            {"grant_type": "authorization_code", "client_id": cid, "client_secret": secret},
            400,
            "invalid_request",
        ),
        (
            {
                "grant_type": "refresh_token",
                "client_id": cid,
                "client_secret": "x" * 50,
                "refresh_token": "r",
            },
            400,
            "invalid_client",
        ),
        (
            {
                "grant_type": "refresh_token",
                "client_id": "local.nope.1",
                "client_secret": secret,
                "refresh_token": "r",
            },
            200,
            "wrong_client",
        ),
        (
            {"grant_type": "refresh_token", "client_id": cid, "client_secret": secret, "refresh_token": "r"},
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "authorization_code", "client_id": cid, "client_secret": secret, "code": "c"},
            400,
            "invalid_grant",
        ),
    ]
    for params, status, error in cases:
        for verb in ("GET", "POST"):
            resp = _token(portal, verb, **params)
            assert (resp.status_code, resp.json()["error"]) == (status, error), (params, verb)
    missing = _token(portal, "GET", grant_type="refresh_token", client_id=cid, client_secret=secret).json()
    assert missing == {"error": "invalid_request", "error_description": 'No "refresh_token" parameter found'}
    assert _token(
        portal,
        "GET",
        grant_type="refresh_token",
        client_id="local.nope.1",
        client_secret="s",
        refresh_token="r",
    ).json() == {"error": "wrong_client"}


def test_refresh_token_of_another_app_is_invalid_grant(portal: PortalHandle) -> None:
    app, other = _app(portal), _app(portal)
    tokens = _grant(portal, app, _authorize(portal, app)["code"]).json()
    assert _refresh(portal, other, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_app_info_on_the_oauth_server(portal: PortalHandle) -> None:
    app = _app(portal)
    tokens = _grant(portal, app, _authorize(portal, app)["code"]).json()
    url = tokens["server_endpoint"] + "app.info"
    assert url == f"{portal.base_url}/oauth/rest/app.info"
    body = get(url, params={"auth": tokens["access_token"]}).json()
    result = body["result"]
    assert set(result) == {"client_id", "scope", "expires", "install", "user_id"}
    assert result["client_id"] == app["client_id"]
    assert result["user_id"] == 1
    assert set(result["install"]) == {
        "installed",
        "version",
        "status",
        "scope",
        "domain",
        "uri",
        "client_endpoint",
        "member_id",
        "member_type",
    }
    assert result["install"]["client_endpoint"] == portal.base_url + "/rest/"
    bad = get(url, params={"auth": "nope"})
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_token")
    portal.advance(3601)
    expired = post(url, data={"auth": tokens["access_token"]})
    assert (expired.status_code, expired.json()["error"]) == (401, "expired_token")
    assert get(f"{portal.base_url}/oauth/rest/user.current").status_code == 404


def test_oauth_outage(portal: PortalHandle) -> None:
    app = _app(portal)
    tokens = _grant(portal, app, _authorize(portal, app)["code"]).json()
    portal.oauth_outage(503)
    down = _refresh(portal, app, tokens["refresh_token"])
    assert down.status_code == 503
    # REST calls with a valid token still work while the OAuth server is down
    assert (
        get(f"{portal.base_url}/rest/user.current", params={"auth": tokens["access_token"]}).status_code
        == 200
    )
    portal.oauth_outage(None)
    assert _refresh(portal, app, tokens["refresh_token"]).status_code == 200
    assert portal.count("oauth.token", status=503) == 1


def test_an_uninstalled_apps_tokens_stop_working(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    assert get(f"{portal.base_url}/rest/server.time", params={"auth": token}).status_code == 200
    client_id = portal.info["client_id"]
    portal.portal.credentials.update_app(portal.portal.credentials.apps.get(client_id), uninstalled=True)
    resp = get(f"{portal.base_url}/rest/server.time", params={"auth": token})
    assert (resp.status_code, resp.json()["error"]) == (401, "ERROR_OAUTH")
    with pytest.raises(Exception, match="409"):
        portal.issue_tokens()
