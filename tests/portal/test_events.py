"""Events on the local portal: binding, delivery over real HTTP, lifecycle, outgoing webhooks, offline.

Every event is received by a real HTTP server on 127.0.0.1 and its form body is read with
PHP's rules (crest.forms.decode), so the assertions are about what a handler really gets.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask, request

from crest.forms import decode
from portal.server import ServerThread
from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok as ok
from tests.portal._portal_helpers import app_rest as rest

APP_AUTH_KEYS = [
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
    "application_token",
]
NO_TOKEN_KEYS = {"domain", "server_endpoint", "client_endpoint", "member_id", "application_token"}


class Receiver:
    """A tiny event handler: records every POST (path, content type, decoded form body)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._lock = threading.Lock()
        app = Flask("receiver")

        @app.post("/<path:name>")
        def receive(name: str) -> tuple[str, int]:
            time.sleep(self.delay.get(name, 0.0))
            with self._lock:
                self.posts.append(
                    {
                        "path": name,
                        "content_type": request.mimetype,
                        "body": decode(request.get_data()),
                    }
                )
            return "ok", self.status.get(name, 200)

        self.server = ServerThread(app, "127.0.0.1", 0)

    def url(self, name: str) -> str:
        return f"{self.server.url}/{name}"

    def at(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p["body"] for p in self.posts if p["path"] == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.server.start()
    try:
        yield r
    finally:
        r.server.stop()


def flush(handle: PortalHandle) -> None:
    assert handle.admin("POST", "deliveries/flush", {"timeout": 10})["drained"]


def install(handle: PortalHandle, receiver: Receiver) -> dict[str, Any]:
    """Register an API-only app (installed at once) and drain its ONAPPINSTALL."""
    app = handle.register_app(title="Events test", api_only=True, install_url=receiver.url("install"))
    flush(handle)
    return app


def emit(handle: PortalHandle, event: str, data: dict[str, Any], user_id: int | None = 1) -> None:
    handle.admin("POST", "events/emit", {"event": event, "data": data, "user_id": user_id})
    flush(handle)


# --- install -----------------------------------------------------------------------------------


def test_api_only_app_gets_onappinstall_with_working_tokens(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    [post] = [p for p in receiver.posts if p["path"] == "install"]
    assert post["content_type"] == "application/x-www-form-urlencoded"
    body = post["body"]
    assert list(body) == ["event", "data", "ts", "auth"]
    assert body["event"] == "ONAPPINSTALL"
    assert body["data"] == {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}
    assert body["ts"].isdigit()
    auth = body["auth"]
    assert list(auth) == [*APP_AUTH_KEYS[:-1], "refresh_token", "application_token"]
    assert all(isinstance(v, str) for v in auth.values())
    assert auth["application_token"] == app["application_token"]
    assert auth["member_id"] == portal.portal.config.member_id
    assert auth["domain"] == portal.portal.domain
    assert auth["client_endpoint"] == f"{portal.base_url}/rest/"
    assert auth["user_id"] == "1"
    # The tokens are real: the access token calls REST, the refresh token renews.
    assert ok(portal, "app.info", auth["access_token"])["CODE"] == app["client_id"]
    renewed = requests.post(
        portal.portal.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "refresh_token": auth["refresh_token"],
        },
        timeout=10,
    )
    assert renewed.status_code == 200 and renewed.json()["access_token"]


# --- bind / unbind / get -----------------------------------------------------------------------


def test_bind_get_unbind(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    assert ok(portal, "event.bind", token, event="onCrmContactAdd", handler="https://app.example/h") is True
    assert ok(portal, "event.bind", token, event="ONCRMDEALUPDATE", handler="https://app.example/d") is True
    assert ok(portal, "event.get", token) == [
        {"event": "ONCRMCONTACTADD", "handler": "https://app.example/h", "auth_type": "0", "offline": 0},
        {"event": "ONCRMDEALUPDATE", "handler": "https://app.example/d", "auth_type": "0", "offline": 0},
    ]
    # The same handler again is refused and not duplicated.
    status, body = rest(portal, "event.bind", token, event="ONCRMCONTACTADD", handler="https://app.example/h")
    assert status == 400
    assert body["error"] == "ERROR_CORE" and "Handler already binded" in body["error_description"]
    assert len(ok(portal, "event.get", token)) == 2
    assert ok(portal, "event.unbind", token, event="oncrmcontactadd", handler="https://app.example/h") == {
        "count": 1
    }
    assert ok(portal, "event.unbind", token, event="ONCRMCONTACTADD", handler="https://app.example/h") == {
        "count": 0
    }
    assert [h["event"] for h in ok(portal, "event.get", token)] == ["ONCRMDEALUPDATE"]


def test_unbind_without_event_removes_all_matching(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    for event in ("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMLEADADD"):
        ok(portal, "event.bind", token, event=event, handler="https://app.example/h")
    ok(portal, "event.bind", token, event="ONCRMLEADADD", handler="https://app.example/other")
    assert ok(portal, "event.unbind", token, handler="https://app.example/h") == {"count": 3}
    assert ok(portal, "event.get", token) == [
        {"event": "ONCRMLEADADD", "handler": "https://app.example/other", "auth_type": "0", "offline": 0}
    ]


def test_unknown_event_and_bad_handler(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    status, body = rest(portal, "event.bind", token, event="ONNOSUCHTHING", handler="https://app.example/h")
    assert (status, body["error"], body["error_description"]) == (
        400,
        "ERROR_EVENT_NOT_FOUND",
        "Event not found",
    )
    status, body = rest(portal, "event.bind", token, event="ONCRMLEADADD")
    assert (status, body["error"], body.get("argument")) == (400, "ERROR_ARGUMENT", "handler")
    status, body = rest(portal, "event.bind", token, event="ONCRMLEADADD", handler="ftp://app.example/h")
    assert (status, body["error"]) == (400, "ERROR_UNSUPPORTED_PROTOCOL")
    assert ok(portal, "event.get", token) == []


def test_event_without_scope_is_not_found(portal: PortalHandle) -> None:
    app = portal.register_app(title="No CRM", scopes=["task"])
    token = portal.issue_tokens(app["client_id"])["access_token"]
    status, body = rest(portal, "event.bind", token, event="ONCRMLEADADD", handler="https://app.example/h")
    assert (status, body["error"]) == (400, "ERROR_EVENT_NOT_FOUND")
    assert ok(portal, "event.bind", token, event="ONTASKADD", handler="https://app.example/h") is True
    names = ok(portal, "events", token)
    assert "ONTASKADD" in names and "ONAPPINSTALL" in names and "ONCRMLEADADD" not in names


def test_events_lists_upper_case_names(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    names = ok(portal, "events", token)
    for name in (
        "ONCRMCONTACTADD",
        "ONCRMDEALDELETE",
        "ONTASKADD",
        "ONAPPINSTALL",
        "ONAPPUNINSTALL",
        "ONAPPTEST",
    ):
        assert name in names
    assert all(n == n.upper() for n in names)
    assert ok(portal, "events", token, SCOPE="crm") == sorted(n for n in names if n.startswith("ONCRM"))
    assert "ONOFFLINEEVENT" in ok(portal, "events", token, FULL=1)


@pytest.mark.parametrize(
    "method", ["event.bind", "event.unbind", "event.get", "events", "event.test", "event.offline.get"]
)
def test_webhooks_get_wrong_auth_type(portal: PortalHandle, method: str) -> None:
    resp = requests.post(
        f"{portal.webhook_url}{method}.json",
        data={"event": "ONCRMLEADADD", "handler": "https://a.example/"},
        timeout=10,
    )
    assert resp.status_code == 403
    assert resp.json() == {
        "error": "WRONG_AUTH_TYPE",
        "error_description": "Current authorization type is denied for this method Application context required",
    }


def test_offline_and_auth_type_need_an_admin(portal: PortalHandle) -> None:
    admin = portal.issue_tokens(user_id=1)["access_token"]
    user = portal.issue_tokens(user_id=2)["access_token"]
    status, body = rest(portal, "event.bind", user, event="ONCRMLEADADD", event_type="offline")
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    assert (
        body["error_description"]
        == "Access denied! Offline events binding requires administrator access rights"
    )
    status, body = rest(
        portal, "event.bind", user, event="ONCRMLEADADD", handler="https://a.example/", auth_type=2
    )
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    assert (
        body["error_description"]
        == "Access denied! Event binding with AUTH_TYPE requires administrator access rights"
    )
    # A plain bind is open to anyone; a non-admin sees only their own handlers.
    ok(portal, "event.bind", user, event="ONCRMLEADADD", handler="https://a.example/user")
    ok(portal, "event.bind", admin, event="ONCRMLEADADD", handler="https://a.example/admin", auth_type=3)
    ok(portal, "event.bind", admin, event="ONCRMLEADADD", event_type="offline")
    assert [h["handler"] for h in ok(portal, "event.get", user)] == ["https://a.example/user"]
    assert ok(portal, "event.get", admin) == [
        {"event": "ONCRMLEADADD", "handler": "https://a.example/user", "auth_type": "0", "offline": 0},
        {"event": "ONCRMLEADADD", "handler": "https://a.example/admin", "auth_type": "3", "offline": 0},
        {"event": "ONCRMLEADADD", "handler": "", "auth_type": "0", "offline": 1},
    ]
    # auth_type and event_type select what event.unbind removes.
    assert ok(portal, "event.unbind", admin, event="ONCRMLEADADD") == {"count": 1}
    assert ok(portal, "event.unbind", admin, event="ONCRMLEADADD", auth_type=3) == {"count": 1}
    assert ok(portal, "event.unbind", admin, event="ONCRMLEADADD", event_type="offline") == {"count": 1}
    assert ok(portal, "event.get", admin) == []


# --- delivery ----------------------------------------------------------------------------------


def test_event_test_sends_onapptest_with_the_query(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONAPPTEST", handler=receiver.url("test"))
    assert ok(portal, "event.test", token, any="thing", nested={"a": "1"}) == 1
    flush(portal)
    [body] = receiver.at("test")
    assert body["event"] == "ONAPPTEST"
    assert body["data"] == {"QUERY": {"any": "thing", "nested": {"a": "1"}}}
    assert list(body["auth"]) == [*APP_AUTH_KEYS[:-1], "refresh_token", "application_token"]
    [handler] = portal.portal.events.handlers_of(app["client_id"])
    assert body["event_handler_id"] == handler["id"]


def _check_crm_event(
    portal: PortalHandle, app: dict[str, Any], body: dict[str, Any], contact_id: str
) -> None:
    assert list(body) == ["event", "event_handler_id", "data", "ts", "auth"]
    assert body["event"] == "ONCRMCONTACTADD"
    assert body["data"] == {"FIELDS": {"ID": contact_id}}
    auth = body["auth"]
    assert list(auth) == APP_AUTH_KEYS  # no refresh token for an ordinary event
    assert auth["user_id"] == "1" and auth["application_token"] == app["application_token"]
    assert abs(int(body["ts"]) - time.time()) < 60
    # The token acts as the user who made the change.
    assert ok(portal, "profile", auth["access_token"])["ID"] == "1"


def test_bound_handler_receives_a_change_with_tokens(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONCRMCONTACTADD", handler=receiver.url("crm"))
    ok(portal, "event.bind", token, event="ONCRMCONTACTUPDATE", handler=receiver.url("other"))
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 7405}})
    [body] = receiver.at("crm")
    _check_crm_event(portal, app, body, "7405")
    assert receiver.at("other") == []
    [record] = [r for r in portal.admin("GET", "deliveries") if r["event"] == "ONCRMCONTACTADD"]
    assert record["status"] == 200 and record["ok"] and record["url"] == receiver.url("crm")


def test_crm_contact_add_raises_the_event_end_to_end(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONCRMCONTACTADD", handler=receiver.url("crm"))
    new_id = ok(portal, "crm.contact.add", token, fields={"NAME": "Ann"})
    flush(portal)
    [body] = receiver.at("crm")
    _check_crm_event(portal, app, body, str(new_id))


def test_no_user_means_no_tokens(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONCRMDEALADD", handler=receiver.url("deal"))
    emit(portal, "ONCRMDEALADD", {"FIELDS": {"ID": 1}}, user_id=None)
    [body] = receiver.at("deal")
    assert set(body["auth"]) == NO_TOKEN_KEYS
    assert body["auth"]["application_token"] == app["application_token"]


def test_auth_type_issues_tokens_for_the_bound_user(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONCRMDEALADD", handler=receiver.url("deal"), auth_type=3)
    emit(portal, "ONCRMDEALADD", {"FIELDS": {"ID": 1}}, user_id=1)
    [body] = receiver.at("deal")
    assert body["auth"]["user_id"] == "3"
    assert ok(portal, "profile", body["auth"]["access_token"])["ID"] == "3"


def test_no_events_before_the_app_is_installed(portal: PortalHandle, receiver: Receiver) -> None:
    client_id = portal.portal.default_app["client_id"]
    assert not portal.portal.credentials.apps.get(client_id)["installed"]
    token = portal.issue_tokens(client_id)["access_token"]
    ok(portal, "event.bind", token, event="ONCRMLEADADD", handler=receiver.url("lead"))
    ok(portal, "event.bind", token, event="ONAPPTEST", handler=receiver.url("test"))
    ok(portal, "event.test", token)
    emit(portal, "ONCRMLEADADD", {"FIELDS": {"ID": 1}})
    assert receiver.posts == [] and portal.admin("GET", "deliveries") == []
    # Once installation completes (BX24.installFinish for a UI app), events flow.
    with portal.portal.lock:
        app = portal.portal.credentials.apps.get(client_id)
        portal.portal.credentials.update_app(app, installed=True)
    emit(portal, "ONCRMLEADADD", {"FIELDS": {"ID": 2}})
    assert [b["data"] for b in receiver.at("lead")] == [{"FIELDS": {"ID": "2"}}]


def test_a_failing_handler_is_not_retried(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    receiver.status["fail"] = 500
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}/gone"
    ok(portal, "event.bind", token, event="ONCRMLEADADD", handler=receiver.url("fail"))
    ok(portal, "event.bind", token, event="ONCRMLEADADD", handler=dead_url)
    emit(portal, "ONCRMLEADADD", {"FIELDS": {"ID": 1}})
    time.sleep(0.3)  # give a retry, if there were one, the time to show up
    flush(portal)
    assert len(receiver.at("fail")) == 1
    records = [r for r in portal.admin("GET", "deliveries") if r["event"] == "ONCRMLEADADD"]
    assert len(records) == 2
    by_url = {r["url"]: r for r in records}
    assert by_url[receiver.url("fail")]["status"] == 500 and not by_url[receiver.url("fail")]["ok"]
    assert by_url[dead_url]["status"] is None and "ConnectionError" in by_url[dead_url]["error"]


def test_delivery_happens_outside_the_request(portal: PortalHandle, receiver: Receiver) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    receiver.delay["slow"] = 1.0
    ok(portal, "event.bind", token, event="ONAPPTEST", handler=receiver.url("slow"))
    started = time.perf_counter()
    assert ok(portal, "event.test", token) == 1
    assert time.perf_counter() - started < 0.8
    assert receiver.at("slow") == []
    flush(portal)
    assert len(receiver.at("slow")) == 1


# --- uninstall ----------------------------------------------------------------------------------


def test_deleting_an_app_sends_onappuninstall_and_removes_what_it_owned(
    portal: PortalHandle, receiver: Receiver
) -> None:
    app = install(portal, receiver)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONAPPUNINSTALL", handler=receiver.url("bye"))
    ok(portal, "event.bind", token, event="ONCRMLEADADD", handler=receiver.url("lead"))
    ok(portal, "placement.bind", token, PLACEMENT="CRM_LEAD_DETAIL_TAB", HANDLER=receiver.url("tab"))
    ok(portal, "app.option.set", token, options={"k": "v"})
    result = portal.admin("DELETE", f"apps/{app['client_id']}?clean=1")
    assert result["uninstalled"] is True and result["installed"] is False
    flush(portal)
    [body] = receiver.at("bye")
    assert body["event"] == "ONAPPUNINSTALL"
    assert body["data"] == {"LANGUAGE_ID": "en", "CLEAN": "1"}
    assert set(body["auth"]) == NO_TOKEN_KEYS
    assert body["auth"]["application_token"] == app["application_token"]
    assert portal.portal.events.handlers_of(app["client_id"]) == []
    assert portal.portal.events.placements_of(app["client_id"]) == []
    assert portal.portal.options.get(app["client_id"]) == {}
    status, _ = rest(portal, "event.get", token)
    assert status == 401  # its tokens died with it
    emit(portal, "ONCRMLEADADD", {"FIELDS": {"ID": 1}})
    assert receiver.at("lead") == []


# --- outgoing webhooks -------------------------------------------------------------------------


def test_outgoing_webhook_gets_events_without_tokens(portal: PortalHandle, receiver: Receiver) -> None:
    hook = portal.admin(
        "POST", "outgoing-webhooks", {"url": receiver.url("hook"), "events": ["onCrmDealAdd"]}
    )
    assert set(hook) >= {"id", "application_token"} and len(hook["application_token"]) == 32
    emit(portal, "ONCRMDEALADD", {"FIELDS": {"ID": 7405}}, user_id=1)
    emit(portal, "ONCRMDEALUPDATE", {"FIELDS": {"ID": 7405}}, user_id=1)
    [body] = receiver.at("hook")
    assert body["event"] == "ONCRMDEALADD"
    assert body["event_handler_id"] == str(hook["id"])
    assert body["data"] == {"FIELDS": {"ID": "7405"}}
    assert body["auth"] == {
        "domain": portal.portal.domain,
        "client_endpoint": f"{portal.base_url}/rest/",
        "server_endpoint": portal.portal.server_endpoint,
        "member_id": portal.portal.config.member_id,
        "application_token": hook["application_token"],
    }


def test_outgoing_webhook_admin_validation(portal: PortalHandle) -> None:
    resp = requests.post(
        f"{portal.base_url}/_portal/outgoing-webhooks",
        json={"url": "x", "events": ["ONCRMDEALADD"]},
        headers=portal.admin_headers,
        timeout=10,
    )
    assert resp.status_code == 400
    resp = requests.post(
        f"{portal.base_url}/_portal/outgoing-webhooks",
        json={"url": "https://a.example/", "events": ["ONNOPE"]},
        headers=portal.admin_headers,
        timeout=10,
    )
    assert resp.status_code == 400


# --- offline events ----------------------------------------------------------------------------


def _offline_setup(portal: PortalHandle, receiver: Receiver) -> str:
    app = install(portal, receiver)
    token: str = portal.issue_tokens(app["client_id"])["access_token"]
    ok(portal, "event.bind", token, event="ONCRMCONTACTADD", event_type="offline")
    ok(portal, "event.bind", token, event="ONCRMCONTACTUPDATE", event_type="offline")
    return token


def test_offline_queue_keeps_the_latest_state_per_object(portal: PortalHandle, receiver: Receiver) -> None:
    token = _offline_setup(portal, receiver)
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 1}})
    emit(portal, "ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 1}, "V": 1})
    emit(portal, "ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 1}, "V": 2})
    emit(portal, "ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 2}})
    assert [p["path"] for p in receiver.posts] == ["install"]  # offline handlers get no POST
    listed = ok(portal, "event.offline.list", token)
    assert [(r["EVENT_NAME"], r["EVENT_DATA"]) for r in listed] == [
        ("ONCRMCONTACTADD", {"FIELDS": {"ID": 1}}),
        ("ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 1}, "V": 2}),
        ("ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 2}}),
    ]
    assert set(listed[0]) == {
        "ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA", "EVENT_ADDITIONAL", "MESSAGE_ID", "PROCESS_ID", "ERROR",
    }  # fmt: skip
    # The default get (clear=1) hands them out and removes them.
    got = ok(portal, "event.offline.get", token)
    assert len(got["process_id"]) == 32
    assert [e["ID"] for e in got["events"]] == [r["ID"] for r in listed]
    assert set(got["events"][0]) == {
        "ID",
        "TIMESTAMP_X",
        "EVENT_NAME",
        "EVENT_DATA",
        "EVENT_ADDITIONAL",
        "MESSAGE_ID",
    }
    assert got["events"][0]["EVENT_ADDITIONAL"] == {"user_id": "1"}
    assert ok(portal, "event.offline.list", token) == []
    assert ok(portal, "event.offline.get", token)["events"] == []


def test_offline_reservation_with_process_id(portal: PortalHandle, receiver: Receiver) -> None:
    token = _offline_setup(portal, receiver)
    for i in range(1, 5):
        emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": i}})
    first = ok(portal, "event.offline.get", token, clear=0, limit=2)
    pid = first["process_id"]
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in first["events"]] == [1, 2]
    assert [r["PROCESS_ID"] for r in ok(portal, "event.offline.list", token)] == [pid, pid, "", ""]
    # Another reader gets the rest, never the reserved ones.
    second = ok(portal, "event.offline.get", token, clear=0, limit=10)
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in second["events"]] == [3, 4]
    assert second["process_id"] != pid
    # A change to a reserved object does not move under its reader: it queues anew.
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 1}, "V": "new"})
    again = ok(portal, "event.offline.get", token, clear=0, limit=2, process_id=pid)
    assert again["process_id"] == pid
    assert [e["ID"] for e in again["events"]] == [e["ID"] for e in first["events"]]
    # Clear one by id, then the rest of the process.
    assert ok(portal, "event.offline.clear", token, process_id=pid, id=[first["events"][0]["ID"]]) is True
    assert len(ok(portal, "event.offline.list", token)) == 4
    assert ok(portal, "event.offline.clear", token, process_id=pid) is True
    left = ok(portal, "event.offline.list", token)
    assert [(r["EVENT_DATA"]["FIELDS"]["ID"], r["PROCESS_ID"]) for r in left] == [
        (3, second["process_id"]),
        (4, second["process_id"]),
        (1, ""),
    ]
    # A failed message is released, flagged, and returned only to error=1.
    mid = second["events"][0]["MESSAGE_ID"]
    ok(portal, "event.offline.error", token, process_id=second["process_id"], message_id=[mid])
    flagged = [r for r in ok(portal, "event.offline.list", token) if r["ERROR"] == 1]
    assert [r["MESSAGE_ID"] for r in flagged] == [mid]
    plain = ok(portal, "event.offline.get", token, clear=0)
    assert mid not in [e["MESSAGE_ID"] for e in plain["events"]]
    with_errors = ok(portal, "event.offline.get", token, clear=0, error=1)
    assert [e["MESSAGE_ID"] for e in with_errors["events"]] == [mid]
    status, body = rest(portal, "event.offline.clear", token)
    assert (status, body["error"], body["argument"]) == (400, "ERROR_ARGUMENT", "process_id")


def test_parallel_offline_gets_are_disjoint(portal: PortalHandle, receiver: Receiver) -> None:
    token = _offline_setup(portal, receiver)
    for i in range(1, 13):
        portal.portal.events.emit("ONCRMCONTACTADD", {"FIELDS": {"ID": i}}, user_id=1)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: ok(portal, "event.offline.get", token, clear=0, limit=2), range(6)))
    ids = [e["ID"] for r in results for e in r["events"]]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert len({r["process_id"] for r in results}) == 6


def test_offline_get_filter_and_order(portal: PortalHandle, receiver: Receiver) -> None:
    token = _offline_setup(portal, receiver)
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 1}})
    emit(portal, "ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 2}})
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 3}})
    got = ok(
        portal, "event.offline.get", token, filter={"=EVENT_NAME": "ONCRMCONTACTADD"}, order={"ID": "DESC"}
    )
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in got["events"]] == [3, 1]
    assert [r["EVENT_NAME"] for r in ok(portal, "event.offline.list", token)] == ["ONCRMCONTACTUPDATE"]


def test_onofflineevent_pings_no_more_often_than_min_timeout(
    portal: PortalHandle, receiver: Receiver
) -> None:
    token = _offline_setup(portal, receiver)
    ok(
        portal,
        "event.bind",
        token,
        event="ONOFFLINEEVENT",
        handler=receiver.url("ping"),
        options={"minTimeout": 30},
    )
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 1}})
    emit(portal, "ONCRMCONTACTADD", {"FIELDS": {"ID": 2}})
    [body] = receiver.at("ping")
    assert body["event"] == "ONOFFLINEEVENT"
    assert body["data"] == {
        "type": "add",
        "event": "ONCRMCONTACTADD",
        "handler": receiver.url("ping"),
        "minTimeout": "30",
    }
    assert "refresh_token" in body["auth"]
    portal.advance(31)
    emit(portal, "ONCRMCONTACTUPDATE", {"FIELDS": {"ID": 1}})
    assert len(receiver.at("ping")) == 2
