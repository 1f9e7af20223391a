"""``--state FILE``: tokens, webhooks and apps survive a restart of the portal."""

from __future__ import annotations

from pathlib import Path

import requests

from portal.config import PortalConfig
from portal.testing import running_portal


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "portal.sqlite")
    config = PortalConfig(limits=False, cost=None, state_path=state)
    with running_portal(config) as first:
        default_hook = first.webhook_url
        crm_hook = first.add_webhook(user_id=2, scopes=["crm"])
        app = first.register_app(title="Kept", scopes=["user"])
        tokens = first.issue_tokens(app["client_id"], user_id=3)
        info = first.info
    with running_portal(config) as second:
        base = second.base_url
        # the port changed; the credentials did not
        assert second.info["client_id"] == info["client_id"]
        assert second.info["client_secret"] == info["client_secret"]
        path = default_hook.split("/rest/", 1)[1]
        assert requests.get(f"{base}/rest/{path}user.current", timeout=10).json()["result"]["ID"] == "1"
        crm_path = crm_hook.split("/rest/", 1)[1]
        scoped = requests.get(f"{base}/rest/{crm_path}user.current", timeout=10)
        assert scoped.json()["error"] == "insufficient_scope"
        me = requests.get(f"{base}/rest/user.current", params={"auth": tokens["access_token"]}, timeout=10)
        assert me.json()["result"]["ID"] == "3"
        info_call = requests.get(f"{base}/rest/app.info", params={"auth": tokens["access_token"]}, timeout=10)
        assert info_call.json()["result"]["CODE"] == app["client_id"]
        refreshed = requests.post(
            f"{base}/oauth/token/",
            data={
                "grant_type": "refresh_token",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "refresh_token": tokens["refresh_token"],
            },
            timeout=10,
        )
        assert refreshed.status_code == 200
        new_refresh = refreshed.json()["refresh_token"]
    with running_portal(config) as third:
        # the rotation was saved too: the old refresh token stays used up
        url = f"{third.base_url}/oauth/token/"
        base_params = {
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        }
        old = requests.post(url, data={**base_params, "refresh_token": tokens["refresh_token"]}, timeout=10)
        assert old.json()["error"] == "invalid_grant"
        new = requests.post(url, data={**base_params, "refresh_token": new_refresh}, timeout=10)
        assert new.status_code == 200


def test_without_state_nothing_survives() -> None:
    with running_portal() as first:
        hook = first.webhook_url.split("/rest/", 1)[1]
    with running_portal() as second:
        resp = requests.get(f"{second.base_url}/rest/{hook}user.current", timeout=10)
        assert resp.json()["error"] == "INVALID_CREDENTIALS"
