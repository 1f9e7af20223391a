"""``app.option.get`` / ``app.option.set`` on the local portal, called as an app over HTTP."""

from __future__ import annotations

import pytest
import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok as ok
from tests.portal._portal_helpers import app_rest as rest


def test_set_and_get(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    assert ok(portal, "app.option.get", token) == []  # nothing yet: an empty PHP array
    assert ok(portal, "app.option.set", token, options={"mode": "fast", "limit": 10}) is True
    assert ok(portal, "app.option.set", token, options={"limit": 20}) is True  # merges
    assert ok(portal, "app.option.get", token) == {"mode": "fast", "limit": "20"}
    assert ok(portal, "app.option.get", token, option="mode") == "fast"
    assert ok(portal, "app.option.get", token, option="missing") is None


def test_options_belong_to_one_app(portal: PortalHandle) -> None:
    first = portal.issue_tokens()["access_token"]
    other_app = portal.register_app(title="Other")
    other = portal.issue_tokens(other_app["client_id"])["access_token"]
    ok(portal, "app.option.set", first, options={"k": "first"})
    ok(portal, "app.option.set", other, options={"k": "other"})
    assert ok(portal, "app.option.get", first, option="k") == "first"
    assert ok(portal, "app.option.get", other, option="k") == "other"
    # Any user of the app reads the app's options; another user's token sees the same map.
    user = portal.issue_tokens(user_id=2)["access_token"]
    assert ok(portal, "app.option.get", user) == {"k": "first"}


def test_set_needs_an_admin_and_options(portal: PortalHandle) -> None:
    user = portal.issue_tokens(user_id=2)["access_token"]
    status, body = rest(portal, "app.option.set", user, options={"k": "v"})
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    admin = portal.issue_tokens(user_id=1)["access_token"]
    status, body = rest(portal, "app.option.set", admin)
    assert (status, body["error"], body["argument"]) == (400, "ERROR_ARGUMENT", "options")
    assert ok(portal, "app.option.get", admin) == []


@pytest.mark.parametrize("method", ["app.option.get", "app.option.set"])
def test_webhooks_get_wrong_auth_type(portal: PortalHandle, method: str) -> None:
    resp = requests.post(f"{portal.webhook_url}{method}.json", data={"options[k]": "v"}, timeout=10)
    assert resp.status_code == 403 and resp.json()["error"] == "WRONG_AUTH_TYPE"
