"""The live feed on the local portal: log.blogpost.add / get, who may read a post, the event."""

from __future__ import annotations

import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok, hook_rest, hook_result
from tests.portal.test_events import Receiver, flush, install, receiver

__all__ = ["receiver"]


def test_add_then_get_in_bitrix24s_shape(portal: PortalHandle) -> None:
    post_id = hook_result(
        portal,
        "log.blogpost.add",
        {
            "POST_TITLE": "New rules",
            "POST_MESSAGE": "From [B]Monday[/B]",
            "TAGS": "rules, hr",
            "IMPORTANT": "Y",
        },
    )
    assert isinstance(post_id, int)
    [post] = hook_result(portal, "log.blogpost.get", {"POST_ID": post_id})
    assert post["ID"] == str(post_id) and post["TITLE"] == "New rules" and post["AUTHOR_ID"] == "1"
    assert post["DETAIL_TEXT"] == "From [B]Monday[/B]" and post["PUBLISH_STATUS"] == "P"
    assert post["HAS_SOCNET_ALL"] == "Y" and post["HAS_TAGS"] == "Y" and post["MICRO"] == "N"
    assert post["DATE_PUBLISH"].endswith("+00:00") and post["FILES"] == []
    # Form-encoded, as CRest sends it, with DEST as a list.
    micro = hook_result(portal, "log.blogpost.add", {"POST_MESSAGE": "short", "DEST": ["U2"]}, form=True)
    body = hook_rest(portal, "log.blogpost.get", {}).json()
    assert body["total"] == 2 and [p["ID"] for p in body["result"]] == [str(micro), str(post_id)]
    assert body["result"][0]["MICRO"] == "Y" and body["result"][0]["HAS_SOCNET_ALL"] == "N"


def test_errors_are_bitrix24s(portal: PortalHandle) -> None:
    resp = hook_rest(portal, "log.blogpost.add", {"POST_TITLE": "no text"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "SONET_CONTROLLER_LIVEFEED_BLOGPOST_ADD_ERROR",
        "error_description": "Blog post hasn't been added",
    }
    resp = hook_rest(portal, "log.blogpost.add", {"POST_MESSAGE": "x", "DEST": ["everyone"]})
    assert resp.json()["error_description"] == "No destination specified"
    # Only an administrator posts for someone else.
    pavel = portal.add_webhook(user_id=2)
    resp = hook_rest(portal, "log.blogpost.add", {"POST_MESSAGE": "x", "USER_ID": 3})
    assert resp.status_code == 200
    refused = requests.post(
        pavel + "log.blogpost.add.json", json={"POST_MESSAGE": "x", "USER_ID": 3}, timeout=10
    )
    assert refused.status_code == 403 and refused.json()["error"] == "ACCESS_DENIED"
    bad = hook_rest(portal, "log.blogpost.get", {"LOG_DATE_FROM": "last week"})
    assert bad.status_code == 400 and bad.json()["error"] == "ERROR_ARGUMENT"


def test_a_post_is_read_only_by_its_recipients(portal: PortalHandle) -> None:
    to_olga = hook_result(portal, "log.blogpost.add", {"POST_MESSAGE": "for Olga", "DEST": ["U3"]})
    to_dept = hook_result(portal, "log.blogpost.add", {"POST_MESSAGE": "for the department", "DEST": ["DR1"]})
    to_group = hook_result(portal, "log.blogpost.add", {"POST_MESSAGE": "for a group", "DEST": ["SG7"]})

    def ids(user_id: int) -> list[str]:
        hook = portal.add_webhook(user_id=user_id)
        body = requests.post(hook + "log.blogpost.get.json", json={}, timeout=10).json()
        return [p["ID"] for p in body["result"]]

    assert ids(2) == [str(to_dept)]
    assert ids(3) == [str(to_dept), str(to_olga)]
    assert ids(1) == [str(to_group), str(to_dept), str(to_olga)]  # the author reads their own
    rights = hook_result(portal, "log.blogpost.get", {"LOG_RIGHTS": ["U3"]})
    assert [p["ID"] for p in rights] == [str(to_olga)]


def test_a_new_post_raises_onlivefeedpostadd(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    assert app_ok(portal, "event.bind", token, event="ONLIVEFEEDPOSTADD", handler=receiver.url("feed"))
    post_id = app_ok(portal, "log.blogpost.add", token, POST_MESSAGE="hello")
    flush(portal)
    [body] = receiver.at("feed")
    assert body["event"] == "ONLIVEFEEDPOSTADD" and body["data"] == {"FIELDS": {"POST_ID": str(post_id)}}
