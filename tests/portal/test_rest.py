"""Routing and authentication of /rest/ calls, through real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.testing import PortalHandle
from tests.portal._portal_helpers import extra_methods, get, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


def _secret(portal: PortalHandle) -> str:
    return str(portal.portal.default_webhook["secret"])


@pytest.mark.parametrize("suffix", ["", ".json"])
def test_webhook_calls_a_method(portal: PortalHandle, suffix: str) -> None:
    resp = get(portal.webhook_url + "user.current" + suffix)
    assert resp.status_code == 200
    assert resp.json()["result"]["ID"] == "1"


def test_method_names_are_case_insensitive(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "USER.Current.JSON")
    assert resp.status_code == 200
    assert resp.json()["result"]["NAME"] == "Maria"


def test_webhook_scopes_are_enforced(portal: PortalHandle) -> None:
    crm_hook = portal.add_webhook(scopes=["crm"])
    resp = get(crm_hook + "user.current")
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the webhook token",
    }
    assert get(crm_hook + "test.crmonly").json()["result"] == "crm"
    # basic methods need no scope, and `scope` lists exactly what the webhook holds
    assert get(crm_hook + "scope").json()["result"] == ["crm"]
    user_hook = portal.add_webhook(scopes=["user"])
    assert get(user_hook + "test.crmonly").status_code == 401
    assert get(user_hook + "user.current").status_code == 200


def test_oauth_scope_text_names_the_access_token(portal: PortalHandle) -> None:
    app = portal.register_app(title="Users only", scopes=["user"], api_only=False)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    resp = get(f"{portal.base_url}/rest/test.crmonly", params={"auth": token})
    assert resp.status_code == 401
    assert resp.json()["error_description"] == (
        "The request requires higher privileges than provided by the access token"
    )


@pytest.mark.parametrize("user", ["1", "2", "x"])
def test_wrong_webhook_credentials(portal: PortalHandle, user: str) -> None:
    secret = "wrongsecret12345" if user == "1" else _secret(portal)
    resp = get(f"{portal.base_url}/rest/{user}/{secret}/user.current")
    assert resp.status_code == 401
    assert resp.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


def test_oauth_token_in_any_carrier(portal: PortalHandle) -> None:
    tokens = portal.issue_tokens(user_id=2)
    token = tokens["access_token"]
    url = f"{portal.base_url}/rest/user.current"
    answers = [
        get(url, params={"auth": token}),
        get(url, params={"access_token": token}),
        post(url, data={"auth": token}),
        post(url, json={"auth": token}),
        get(url, headers={"Authorization": f"Bearer {token}"}),
    ]
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"]["ID"] == "2"
        assert resp.headers["X-Bitrix-Rest-Application"] == portal.info["client_id"]


def test_auth_parameters_do_not_reach_the_method(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    resp = get(f"{portal.base_url}/rest/test.echo", params={"auth": token, "x": "1"})
    assert resp.json()["result"] == {"x": "1"}
    resp = get(portal.webhook_url + "test.echo", params={"auth": "ignored", "x": "1"})
    assert resp.json()["result"] == {"x": "1"}


def test_no_auth(portal: PortalHandle) -> None:
    resp = get(f"{portal.base_url}/rest/user.current")
    assert resp.status_code == 401
    assert resp.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}
    assert get(f"{portal.base_url}/rest/user.current", params={"auth": ""}).status_code == 401


def test_unknown_method_is_404_before_auth(portal: PortalHandle) -> None:
    expected = {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    for url in (
        f"{portal.base_url}/rest/no.such.method",
        f"{portal.base_url}/rest/1/wrongsecret12345/no.such.method",
        f"{portal.base_url}/rest/no.such.method?auth=garbage",
    ):
        resp = get(url)
        assert resp.status_code == 404, url
        assert resp.json() == expected


def test_expired_token(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    url = f"{portal.base_url}/rest/user.current"
    assert get(url, params={"auth": token}).status_code == 200
    portal.advance(3599)
    assert get(url, params={"auth": token}).status_code == 200
    portal.advance(2)
    resp = get(url, params={"auth": token})
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "expired_token",
        "error_description": "The access token provided has expired",
    }


@pytest.mark.b24portal(speed=100.0)
def test_token_lifetime_scales_with_speed(portal: PortalHandle) -> None:
    tokens = portal.issue_tokens()
    assert tokens["expires_in"] == 36
    url = f"{portal.base_url}/rest/user.current"
    portal.advance(35)
    assert get(url, params={"auth": tokens["access_token"]}).status_code == 200
    portal.advance(2)
    assert get(url, params={"auth": tokens["access_token"]}).json()["error"] == "expired_token"


def test_unknown_and_revoked_tokens(portal: PortalHandle) -> None:
    url = f"{portal.base_url}/rest/user.current"
    expected = {"error": "invalid_token", "error_description": "Unable to get application by token"}
    resp = get(url, params={"auth": "0" * 70})
    assert (resp.status_code, resp.json()) == (401, expected)
    info = portal.info
    tokens = portal.issue_tokens()
    refreshed = post(
        f"{portal.base_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refreshed.status_code == 200
    resp = get(url, params={"auth": tokens["access_token"]})
    assert (resp.status_code, resp.json()) == (401, expected)
    assert get(url, params={"auth": refreshed.json()["access_token"]}).status_code == 200


def test_app_context_methods_refuse_webhooks(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "test.apponly")
    assert resp.status_code == 403
    assert resp.json() == {
        "error": "WRONG_AUTH_TYPE",
        "error_description": "Current authorization type is denied for this method Application context required",
    }
    token = portal.issue_tokens()["access_token"]
    assert get(f"{portal.base_url}/rest/test.apponly", params={"auth": token}).json()["result"] == "app"


def test_registered_app_only_methods_refuse_webhooks(portal: PortalHandle) -> None:
    from portal.registry import REGISTRY

    names = sorted(s.name for s in REGISTRY.values() if s.app_only and not s.name.startswith("test."))
    # The reference's app-context-only methods (2.7) are all registered.
    assert {"event.bind", "event.get", "event.unbind", "placement.bind", "app.option.get"} <= set(names)
    for name in names:
        resp = get(portal.webhook_url + name)
        assert (resp.status_code, resp.json()["error"]) == (403, "WRONG_AUTH_TYPE"), name


def test_app_info_shapes(portal: PortalHandle) -> None:
    hook = portal.add_webhook(scopes=["crm", "user"])
    assert get(hook + "app.info").json()["result"] == {"SCOPE": ["crm", "user"], "LICENSE": "en_basic"}
    token = portal.issue_tokens()["access_token"]
    result = get(f"{portal.base_url}/rest/app.info", params={"auth": token}).json()["result"]
    assert result["CODE"] == portal.info["client_id"]
    assert {"ID", "VERSION", "STATUS", "INSTALLED", "PAYMENT_EXPIRED", "DAYS", "LICENSE"} <= set(result)


@pytest.mark.b24portal(webhook_https_only=True)
def test_webhooks_over_http_need_https(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "user.current")
    assert resp.status_code == 400
    assert resp.json() == {"error": "INVALID_REQUEST", "error_description": "Https required."}
    token = portal.issue_tokens()["access_token"]
    assert get(f"{portal.base_url}/rest/user.current", params={"auth": token}).status_code == 200


@pytest.mark.b24portal(webhook_https_only=True, https=True)
def test_webhooks_over_https_pass_the_https_check(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "user.current", verify=portal.ca_bundle)
    assert resp.status_code == 200


def test_get_and_post_both_work(portal: PortalHandle) -> None:
    assert post(portal.webhook_url + "user.current").json()["result"]["ID"] == "1"
    assert post(portal.webhook_url + "user.get", data={"ID": "3"}).json()["result"][0]["ID"] == "3"
