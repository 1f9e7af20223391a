"""``placement.*`` on the local portal, called as an app over HTTP (reference 6.4)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok as ok
from tests.portal._portal_helpers import app_rest as rest


def error(handle: PortalHandle, method: str, token: str, **params: Any) -> tuple[int, str, dict[str, Any]]:
    status, body = rest(handle, method, token, **params)
    assert "result" not in body, body
    return status, body["error"], body


@pytest.fixture
def admin(portal: PortalHandle) -> str:
    return str(portal.issue_tokens(user_id=1)["access_token"])


def test_bind_get_unbind(portal: PortalHandle, admin: str) -> None:
    assert (
        ok(
            portal,
            "placement.bind",
            admin,
            PLACEMENT="crm_deal_detail_tab",
            HANDLER="https://app.example/tab",
            TITLE="Tab",
            DESCRIPTION="A tab",
            OPTIONS={"errorHandlerUrl": "https://app.example/err"},
        )
        is True
    )
    ok(
        portal,
        "placement.bind",
        admin,
        PLACEMENT="LEFT_MENU",
        HANDLER="https://app.example/menu",
        TITLE="Menu",
        LANG_ALL={"de": {"TITLE": "Menü", "DESCRIPTION": "", "GROUP_NAME": ""}},
    )
    assert ok(portal, "placement.get", admin) == [
        {
            "placement": "CRM_DEAL_DETAIL_TAB",
            "userId": 0,
            "handler": "https://app.example/tab",
            "options": {"errorHandlerUrl": "https://app.example/err"},
            "title": "Tab",
            "description": "A tab",
            "langAll": {"en": {"TITLE": "Tab", "DESCRIPTION": "A tab", "GROUP_NAME": ""}},
        },
        {
            "placement": "LEFT_MENU",
            "userId": 0,
            "handler": "https://app.example/menu",
            "options": [],  # an empty PHP array
            "title": "Menu",
            "description": "",
            "langAll": {"de": {"TITLE": "Menü", "DESCRIPTION": "", "GROUP_NAME": ""}},
        },
    ]
    # The documented quirk: each found record counts twice.
    assert ok(portal, "placement.unbind", admin, PLACEMENT="CRM_DEAL_DETAIL_TAB") == {"count": 2}
    assert ok(portal, "placement.unbind", admin, PLACEMENT="CRM_DEAL_DETAIL_TAB") == {"count": 0}
    assert ok(portal, "placement.unbind", admin, PLACEMENT="LEFT_MENU", HANDLER="https://other.example/") == {
        "count": 0
    }
    assert [p["placement"] for p in ok(portal, "placement.get", admin)] == ["LEFT_MENU"]


def test_argument_errors(portal: PortalHandle, admin: str) -> None:
    status, code, body = error(portal, "placement.bind", admin, HANDLER="https://app.example/")
    assert (status, code, body["argument"]) == (400, "ERROR_ARGUMENT", "PLACEMENT")
    assert body["error_description"] == "Argument 'PLACEMENT' is null or empty"
    status, code, body = error(portal, "placement.bind", admin, PLACEMENT="LEFT_MENU")
    assert (status, code, body["argument"]) == (400, "ERROR_ARGUMENT", "HANDLER")
    status, code, body = error(portal, "placement.unbind", admin)
    assert (status, code, body["argument"]) == (400, "ERROR_ARGUMENT", "PLACEMENT")
    assert ok(portal, "placement.get", admin) == []


def test_placement_errors(portal: PortalHandle, admin: str) -> None:
    assert error(portal, "placement.bind", admin, PLACEMENT="NO_SUCH_PLACE", HANDLER="https://a.example/")[
        1
    ] == ("ERROR_PLACEMENT_NOT_FOUND")
    # DEFAULT is the main page: not bindable.
    assert error(portal, "placement.bind", admin, PLACEMENT="DEFAULT", HANDLER="https://a.example/")[1] == (
        "ERROR_PLACEMENT_NOT_FOUND"
    )
    assert error(portal, "placement.bind", admin, PLACEMENT="LEFT_MENU", HANDLER="ftp://a.example/")[1] == (
        "ERROR_UNSUPPORTED_PROTOCOL"
    )
    assert error(portal, "placement.bind", admin, PLACEMENT="LEFT_MENU", HANDLER="https:///nohost")[1] == (
        "ERROR_WRONG_HANDLER_URL"
    )
    assert (
        error(
            portal, "placement.bind", admin, PLACEMENT="LEFT_MENU", HANDLER="https://a.example/", USER_ID=2
        )[1]
        == "ERROR_PLACEMENT_USER_MODE"
    )
    assert (
        error(
            portal, "placement.bind", admin, PLACEMENT="PAGE_BACKGROUND_WORKER", HANDLER="https://a.example/"
        )[1]
        == "EMPTY_ERROR_HANDLER_URL"
    )
    ok(portal, "placement.bind", admin, PLACEMENT="REST_APP_URI", HANDLER="https://a.example/one")
    status, code, _ = error(
        portal, "placement.bind", admin, PLACEMENT="REST_APP_URI", HANDLER="https://a.example/two"
    )
    assert (status, code) == (400, "ERROR_PLACEMENT_MAX_COUNT")
    ok(portal, "placement.bind", admin, PLACEMENT="LEFT_MENU", HANDLER="https://a.example/menu")
    status, code, body = error(
        portal, "placement.bind", admin, PLACEMENT="LEFT_MENU", HANDLER="https://a.example/menu"
    )
    assert (status, code) == (400, "ERROR_CORE") and "Handler already binded" in body["error_description"]
    assert [p["handler"] for p in ok(portal, "placement.get", admin)] == [
        "https://a.example/one",
        "https://a.example/menu",
    ]


def test_tool_scope_is_needed_for_crm_placements(portal: PortalHandle) -> None:
    app = portal.register_app(title="Placement only", scopes=["placement"])
    token = portal.issue_tokens(app["client_id"])["access_token"]
    code = error(
        portal, "placement.bind", token, PLACEMENT="CRM_LEAD_DETAIL_TAB", HANDLER="https://a.example/"
    )[1]
    assert code == "ERROR_PLACEMENT_NOT_FOUND"
    assert ok(portal, "placement.bind", token, PLACEMENT="LEFT_MENU", HANDLER="https://a.example/") is True
    listed = ok(portal, "placement.list", token)
    assert "LEFT_MENU" in listed and "CRM_LEAD_DETAIL_TAB" not in listed


def test_scope_placement_is_required(portal: PortalHandle) -> None:
    app = portal.register_app(title="CRM only", scopes=["crm"])
    token = portal.issue_tokens(app["client_id"])["access_token"]
    status, code, _ = error(portal, "placement.list", token)
    assert (status, code) == (401, "insufficient_scope")


def test_bind_unbind_get_need_an_admin_but_list_does_not(portal: PortalHandle) -> None:
    user = portal.issue_tokens(user_id=2)["access_token"]
    for method, params in (
        ("placement.bind", {"PLACEMENT": "LEFT_MENU", "HANDLER": "https://a.example/"}),
        ("placement.unbind", {"PLACEMENT": "LEFT_MENU"}),
        ("placement.get", {}),
    ):
        status, code, body = error(portal, method, user, **params)
        assert (status, code) == (403, "ACCESS_DENIED"), method
        assert body["error_description"].startswith("Access denied!")
    listed = ok(portal, "placement.list", user)
    assert "LEFT_MENU" in listed and "CRM_DEAL_DETAIL_TAB" in listed and "DEFAULT" not in listed
    assert ok(portal, "placement.list", user, SCOPE="crm") == [c for c in listed if c.startswith("CRM_")]


@pytest.mark.parametrize("method", ["placement.bind", "placement.unbind", "placement.get", "placement.list"])
def test_webhooks_get_wrong_auth_type(portal: PortalHandle, method: str) -> None:
    resp = requests.post(
        f"{portal.webhook_url}{method}.json",
        data={"PLACEMENT": "LEFT_MENU", "HANDLER": "https://a.example/"},
        timeout=10,
    )
    assert resp.status_code == 403 and resp.json()["error"] == "WRONG_AUTH_TYPE"


def test_bind_is_not_allowed_in_batch(portal: PortalHandle, admin: str) -> None:
    result = ok(
        portal,
        "batch",
        admin,
        cmd={
            "a": "placement.bind?PLACEMENT=LEFT_MENU&HANDLER=https%3A%2F%2Fa.example%2F",
            "b": "placement.list",
        },
    )
    assert result["result_error"]["a"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert "LEFT_MENU" in result["result"]["b"]


def test_placements_for_shows_only_installed_apps(portal: PortalHandle, admin: str) -> None:
    # The pre-registered app is not installed yet: its widget stays hidden.
    ok(
        portal,
        "placement.bind",
        admin,
        PLACEMENT="CRM_CONTACT_DETAIL_TAB",
        HANDLER="https://a.example/hidden",
    )
    installed = portal.register_app(title="Installed", api_only=True)
    token = portal.issue_tokens(installed["client_id"])["access_token"]
    ok(portal, "placement.bind", token, PLACEMENT="CRM_CONTACT_DETAIL_TAB", HANDLER="https://a.example/shown")
    shown = portal.portal.events.placements_for("crm_contact_detail_tab")
    assert [(p["client_id"], p["handler"]) for p in shown] == [
        (installed["client_id"], "https://a.example/shown")
    ]
    over_http = portal.admin("GET", "placements?placement=CRM_CONTACT_DETAIL_TAB")
    assert [p["handler"] for p in over_http] == ["https://a.example/shown"]
