"""POST /events against the real portal: verify, persist, acknowledge (T19-T23)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from crest.client import Client
from crest.events import Event, EventContext
from crest.forms import encode
from crest.inbox import Inbox, RetryPolicy
from crest.worker import Worker
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from webapp.events import events_state, router
from webapp.worker_cli import events_command

OPERATOR_KEY = "operator-key-for-tests-0123456789"


@pytest.fixture
def app(portal: PortalHandle, tmp_path: Path) -> Iterator[AppHandle]:
    # The tests drive the worker by hand (drain), so no thread races them (running_app's default).
    with running_app(
        portal, store=f"sqlite:{tmp_path / 'crest.sqlite'}", operator_key=OPERATOR_KEY
    ) as handle:
        handle.install()
        yield handle


def member(app: AppHandle) -> str:
    return str(app.portal.portal.config.member_id)


def form(app: AppHandle, name: str = "ONCRMDEALUPDATE", entity: str = "7", **auth: Any) -> dict[str, Any]:
    fields = {
        "domain": app.portal.portal.domain,
        "member_id": member(app),
        "application_token": app.application_token,
        **auth,
    }
    return {
        "event": name,
        "event_handler_id": "1",
        "data": {"FIELDS": {"ID": entity}},
        "ts": "1",
        "auth": fields,
    }


def post(
    app: AppHandle, body: bytes | str, content_type: str = "application/x-www-form-urlencoded"
) -> requests.Response:
    return app.http.post(app.url + "/events", data=body, headers={"Content-Type": content_type}, timeout=30)


def stored(app: AppHandle) -> int:
    return sum(events_state(app.app).inbox.counts().values())


def test_valid_event_is_stored_once_and_answered_200(app: AppHandle) -> None:
    body = encode(form(app))
    assert post(app, body).status_code == 200
    assert post(app, body).status_code == 200  # a replay (T21)
    assert stored(app) == 1


def test_json_body_is_accepted(app: AppHandle) -> None:
    resp = post(app, json.dumps(form(app)), "application/json")
    assert resp.status_code == 200
    assert stored(app) == 1


OTHER_MEMBER = "f" * 32


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda f: f["auth"].update(application_token="0" * 32), 401),  # wrong
        (lambda f: f["auth"].pop("application_token"), 401),  # missing
        (lambda f: f["auth"].update(application_token=""), 401),  # empty
        (lambda f: f["auth"].update(application_token=[f["auth"]["application_token"]]), 400),  # list-valued
        (lambda f: f["auth"].update(member_id=OTHER_MEMBER), 401),  # token of A with member B
        (lambda f: f["auth"].update(member_id="not-a-member"), 401),  # unknown member
        (lambda f: f["auth"].pop("member_id"), 400),  # no member at all
        (lambda f: f.pop("event"), 400),
    ],
)
def test_forged_events_are_refused_and_not_stored(app: AppHandle, mutate: Any, status: int) -> None:
    f = form(app)
    mutate(f)
    assert post(app, encode(f)).status_code == status
    assert stored(app) == 0


def test_duplicated_token_is_refused(app: AppHandle) -> None:
    # A forger's token first (Werkzeug would read it) and the real one last (PHP would): 400.
    body = "auth%5Bapplication_token%5D=" + "0" * 32 + "&" + encode(form(app))
    assert post(app, body).status_code == 400
    assert stored(app) == 0


def test_limits(app: AppHandle) -> None:
    big = encode(form(app)) + "&pad=" + "x" * (2 * 1024 * 1024)
    assert post(app, big).status_code == 413
    deep = encode(form(app)) + "&data" + "[a]" * 50 + "=1"
    assert post(app, deep).status_code == 400
    many = encode(form(app)) + "&" + "&".join(f"data[k{i}]=1" for i in range(1500))
    assert post(app, many).status_code == 400
    assert post(app, "[" * 50_000, "application/json").status_code == 400
    assert stored(app) == 0


def test_uninstall_removes_the_installation_only_when_the_portal_confirms(app: AppHandle) -> None:
    bad = form(app, "ONAPPUNINSTALL", application_token="0" * 32)
    assert post(app, encode(bad)).status_code == 401
    assert app.store.find(member(app)) is not None
    # The right token is no proof: every user who opens the app has it. The portal still
    # accepts the app's tokens, so this is a forgery.
    forged = form(app, "ONAPPUNINSTALL")
    forged["data"] = {"LANGUAGE_ID": "en", "CLEAN": "0"}
    assert post(app, encode(forged)).status_code == 403
    assert app.store.find(member(app)) is not None
    # An event waiting in the inbox holds a user's tokens: it goes with the portal.
    assert post(app, encode(form(app, entity="99"))).status_code == 200
    assert stored(app) == 1
    # The portal's own uninstall: the tokens die, then ONAPPUNINSTALL arrives and is confirmed.
    app.portal.delete_app(app.client_id)
    app.portal.flush()
    [delivery] = app.portal.deliveries("ONAPPUNINSTALL")
    assert delivery["status"] == 200
    assert app.store.find(member(app)) is None
    assert stored(app) == 0
    # Once uninstalled, the old token opens nothing.
    assert post(app, encode(form(app))).status_code == 401


def _webhook_app(portal: PortalHandle, tmp_path: Path, *bound: str) -> Any:
    return running_app(portal, store=f"sqlite:{tmp_path / 'hook.sqlite'}", outgoing_webhook_tokens=bound)


def test_outgoing_webhook_token_from_settings(portal: PortalHandle, tmp_path: Path) -> None:
    hook = portal.add_outgoing_webhook("http://localhost:1/events", ["ONCRMLEADADD"])
    member_id = portal.portal.config.member_id
    with _webhook_app(portal, tmp_path) as unconfigured:
        body = encode(form(unconfigured, "ONCRMLEADADD", application_token=hook["application_token"]))
        assert post(unconfigured, body).status_code == 401
    with _webhook_app(
        portal, tmp_path, f"{member_id}=" + "x" * 32, f"{member_id}={hook['application_token']}"
    ) as app:
        assert post(app, body).status_code == 200
        assert stored(app) == 1


def test_outgoing_webhook_token_bound_by_domain(portal: PortalHandle, tmp_path: Path) -> None:
    hook = portal.add_outgoing_webhook("http://localhost:1/events", ["ONCRMLEADADD"])
    with _webhook_app(portal, tmp_path, f"{portal.portal.domain}={hook['application_token']}") as app:
        body = encode(form(app, "ONCRMLEADADD", application_token=hook["application_token"]))
        assert post(app, body).status_code == 200
        assert stored(app) == 1


@pytest.mark.parametrize(
    "auth",
    [
        {"member_id": OTHER_MEMBER, "domain": "other.example"},  # another portal's name
        {"member_id": "not-a-member"},  # malformed: never queued under a token's authority
        {"member_id": "../../etc"},
    ],
    ids=["other-portal", "malformed", "path"],
)
def test_outgoing_webhook_token_for_another_portal_is_refused(
    portal: PortalHandle, tmp_path: Path, auth: dict[str, str]
) -> None:
    hook = portal.add_outgoing_webhook("http://localhost:1/events", ["ONCRMLEADADD"])
    member_id = portal.portal.config.member_id
    with _webhook_app(portal, tmp_path, f"{member_id}={hook['application_token']}") as app:
        body = encode(form(app, "ONCRMLEADADD", application_token=hook["application_token"], **auth))
        assert post(app, body).status_code == 401
        assert stored(app) == 0


def test_install_binds_online_and_offline_handlers(app: AppHandle) -> None:
    handlers = app.portal.admin("GET", "handlers")
    mine = {(h["event"], bool(h["offline"])) for h in handlers if h["handler"] == app.url + "/events"}
    assert ("ONCRMDEALUPDATE", False) in mine and ("ONCRMDEALUPDATE", True) in mine
    assert ("ONAPPUNINSTALL", False) in mine and ("ONAPPUNINSTALL", True) not in mine


def test_portal_delivered_crm_change_runs_the_handler_with_stored_tokens(app: AppHandle) -> None:
    seen: list[tuple[str, str]] = []

    @router(app.app).on("ONCRMCONTACTADD")
    def contact_added(event: Event, ctx: EventContext) -> None:
        contact = ctx.client.call("crm.contact.get", {"ID": event.entity_id})
        seen.append((event.name, contact["NAME"]))

    webhook = Client.from_webhook(app.portal.add_webhook(), ca_bundle=app.portal.ca_bundle)
    contact_id = webhook.call("crm.contact.add", {"fields": {"NAME": "Ada", "LAST_NAME": "Lovelace"}})
    # A robot's change: no user, so no tokens in the event (T22).
    app.portal.admin(
        "POST",
        "events/emit",
        {"event": "ONCRMCONTACTADD", "data": {"FIELDS": {"ID": str(contact_id)}}, "user_id": None},
    )
    app.portal.admin("POST", "deliveries/flush", {"timeout": 10})
    worker = events_state(app.app).worker
    assert worker is not None
    deliveries = [(d["event"], d["status"], d["error"]) for d in app.portal.admin("GET", "deliveries")]
    assert worker.drain() >= 1, deliveries
    assert seen and all(item == ("ONCRMCONTACTADD", "Ada") for item in seen)


def test_recent_needs_the_operator_key(app: AppHandle) -> None:
    assert app.http.get(app.url + "/events/recent", timeout=10).status_code == 401
    assert post(app, encode(form(app))).status_code == 200
    worker = events_state(app.app).worker
    assert worker is not None and worker.drain() == 1
    resp = app.http.get(app.url + "/events/recent", headers={"X-Operator-Key": OPERATOR_KEY}, timeout=10)
    assert resp.status_code == 200
    [row] = resp.json()["events"]
    assert row["event"] == "ONCRMDEALUPDATE" and app.application_token not in resp.text


def test_crest_events_lists_and_retries_failed(app: AppHandle) -> None:
    @router(app.app).on("ONCRMDEALUPDATE")
    def broken(event: Event, ctx: EventContext) -> None:
        raise RuntimeError("handler bug")

    st = events_state(app.app)
    assert post(app, encode(form(app))).status_code == 200
    # The same inbox file with a budget of one attempt: the first failure is final.
    Worker(Inbox(st.inbox.path, retry=RetryPolicy(max_attempts=1)), router(app.app)).drain()
    runner = CliRunner()
    result = runner.invoke(events_command, ["--inbox", str(st.inbox.path), "--failed"])
    assert result.exit_code == 0, result.output
    assert "ONCRMDEALUPDATE" in result.output and member(app) in result.output
    assert "RuntimeError: handler bug" in result.output
    failed_id = st.inbox.list_failed()[0].id
    result = runner.invoke(events_command, ["--inbox", str(st.inbox.path), "--retry", str(failed_id)])
    assert result.exit_code == 0 and "queued again" in result.output
    assert (
        runner.invoke(events_command, ["--inbox", str(st.inbox.path), "--failed"]).output.strip()
        == "no failed events"
    )


def test_app_page_lists_events_with_its_page_token(app: AppHandle) -> None:
    import json
    import re

    assert post(app, encode(form(app))).status_code == 200
    worker = events_state(app.app).worker
    assert worker is not None and worker.drain() == 1
    assert app.http.get(app.url + "/api/events", timeout=10).status_code == 401  # no page token
    page = app.post_frame("/")
    assert page.status_code == 200
    match = re.search(r"var page = (\{.*?\});", page.text)
    assert match
    token = json.loads(match.group(1))["token"]
    resp = app.http.get(app.url + "/api/events", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200
    assert [e["event"] for e in resp.json()["events"]] == ["ONCRMDEALUPDATE"]
    assert app.application_token not in resp.text


def test_environment_does_not_bypass_settings(
    portal: PortalHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings built without the environment must mean exactly that: a token exported in the
    # web server's environment opens nothing (there is one configuration path).
    hook = portal.add_outgoing_webhook("http://localhost:1/events", ["ONCRMLEADADD"])
    member_id = portal.portal.config.member_id
    monkeypatch.setenv("CREST_OUTGOING_WEBHOOK_TOKENS", f"{member_id}={hook['application_token']}")
    monkeypatch.setenv("CREST_EVENTS_WORKER", "thread")
    with _webhook_app(portal, tmp_path) as app:
        body = encode(form(app, "ONCRMLEADADD", application_token=hook["application_token"]))
        assert post(app, body).status_code == 401
        assert stored(app) == 0
        assert events_state(app.app).thread is None  # no worker thread from the environment either


# --- the inbox cannot take the event: no acknowledgement (Bitrix24 never re-sends one) -------


@contextmanager
def inbox_refuses_writes(app: AppHandle) -> Iterator[None]:
    """The real inbox file refuses every new row, as a full or failing disk would."""
    db = sqlite3.connect(events_state(app.app).inbox.path, isolation_level=None)
    db.execute(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON crest_inbox"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    try:
        yield
    finally:
        db.execute("DROP TRIGGER refuse_events")
        db.close()


@contextmanager
def inbox_locked(app: AppHandle) -> Iterator[None]:
    """Another process holds the inbox's write lock for longer than the handler may wait."""
    inbox = events_state(app.app).inbox
    patience, inbox.busy_timeout = inbox.busy_timeout, 0.2
    db = sqlite3.connect(inbox.path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()
        inbox.busy_timeout = patience


@pytest.mark.parametrize("failure", [inbox_refuses_writes, inbox_locked], ids=["refused", "locked"])
def test_event_the_inbox_cannot_store_is_answered_503_and_kept_nowhere(app: AppHandle, failure: Any) -> None:
    body = encode(form(app))
    with failure(app):
        resp = post(app, body)
        assert resp.status_code == 503
        assert resp.json() == {"error": "unavailable", "error_description": "the event could not be stored"}
    assert stored(app) == 0  # nothing claims the event was taken
    # Once the inbox works again the same delivery is taken: a 503 loses nothing.
    assert post(app, body).status_code == 200
    assert stored(app) == 1
