"""A hostile portal user against the installed app, through HTTP (docs/threats.md, "Installation").

Every user who opens the app receives their own AUTH_ID/REFRESH_ID and the app's
APPLICATION_TOKEN in the frame POST, exactly as on Bitrix24. None of that may let them replace
the installation, re-point its handlers, or delete or re-bind it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crest.events import Event, EventContext
from crest.forms import encode
from crest.settings import Settings
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from webapp.events import events_state, router

PAVEL = 2  # an ordinary user of the seeded portal (user 1, Maria, is the administrator)
ATTACKER_TOKEN = "a77ac4e5" * 4


@pytest.fixture
def app(portal: PortalHandle, tmp_path: Path) -> Iterator[AppHandle]:
    with running_app(portal, store=f"sqlite:{tmp_path / 'crest.sqlite'}") as handle:
        handle.install()
        yield handle


def _member(app: AppHandle) -> str:
    return str(app.portal.portal.config.member_id)


def _event(app: AppHandle, name: str, data: dict[str, Any], **auth: Any) -> requests.Response:
    body = {
        "event": name,
        "event_handler_id": "1",
        "data": data,
        "ts": "1",
        "auth": {
            "domain": app.portal.portal.domain,
            "member_id": _member(app),
            "application_token": app.application_token,
            **auth,
        },
    }
    return app.http.post(
        app.url + "/events",
        data=encode(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )


def _frame_install(app: AppHandle, user_id: int, application_token: str) -> requests.Response:
    query, body = app.frame_fields(user_id=user_id)
    body["APPLICATION_TOKEN"] = application_token
    return app.http.post(app.url + "/install", params=query, data=body, timeout=30)


# --- 1. installation takeover -------------------------------------------------------------------


def test_ordinary_user_cannot_replace_the_installation(app: AppHandle) -> None:
    [before] = app.store.all_installations()
    resp = _frame_install(app, PAVEL, ATTACKER_TOKEN)
    assert resp.status_code == 403
    assert "administrator" in resp.text
    assert "Traceback" not in resp.text
    assert app.store.all_installations() == [before]
    # The portal's real events still get through: nothing was re-keyed.
    assert _event(app, "ONCRMDEALUPDATE", {"FIELDS": {"ID": "1"}}).status_code == 200


def test_ordinary_user_cannot_replace_it_with_a_forged_onappinstall(app: AppHandle) -> None:
    [before] = app.store.all_installations()
    tokens = app.portal.issue_tokens(app.client_id, PAVEL)
    auth = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_in": tokens["expires_in"],
        "domain": app.portal.portal.domain,
        "member_id": _member(app),
        "application_token": ATTACKER_TOKEN,
    }
    resp = app.http.post(
        app.url + "/install", data=encode({"event": "ONAPPINSTALL", "auth": auth}), timeout=30
    )
    assert resp.status_code == 403
    assert app.store.all_installations() == [before]


def test_administrator_reopening_the_installer_changes_nothing(app: AppHandle) -> None:
    # Even an administrator's frame POST does not swap the application token on its own word:
    # the portal still accepts the stored chain, so this is the same installation.
    [before] = app.store.all_installations()
    assert _frame_install(app, 1, ATTACKER_TOKEN).status_code == 200
    assert app.store.all_installations() == [before]


def test_reinstall_by_an_administrator_after_the_chain_died(app: AppHandle) -> None:
    [before] = app.store.all_installations()
    app.store.save(dataclasses.replace(before, needs_reinstall=True))
    # An ordinary user still cannot be the one who reinstalls.
    assert _frame_install(app, PAVEL, ATTACKER_TOKEN).status_code == 403
    assert app.store.find(_member(app)) == dataclasses.replace(before, needs_reinstall=True)
    new_token = "5eed1e55" * 4
    assert _frame_install(app, 1, new_token).status_code == 200
    [now] = app.store.all_installations()
    assert (now.application_token, now.needs_reinstall, now.user_id) == (new_token, False, 1)


# --- 2. handler URLs never come from Host ---------------------------------------------------------


def test_handlers_are_bound_only_at_the_configured_address(portal: PortalHandle, caplog: Any) -> None:
    with running_app(portal) as app:
        query, body = app.frame_fields()
        resp = app.http.post(
            app.url + "/install", params=query, data=body, headers={"Host": "attacker.example"}, timeout=30
        )
        assert resp.status_code == 200
        handlers = {h["handler"] for h in portal.admin("GET", "handlers") if h["client_id"] == app.client_id}
        placements = {
            p["handler"] for p in portal.admin("GET", "placements") if p["client_id"] == app.client_id
        }
        assert handlers == {app.url + "/events"}
        assert placements == {app.url + "/placement/crm_contact_tab"}


def test_without_app_base_url_nothing_is_bound(
    portal: PortalHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), running_app(portal, app_base_url=None) as app:
        query, body = app.frame_fields()
        resp = app.http.post(
            app.url + "/install", params=query, data=body, headers={"Host": "attacker.example"}, timeout=30
        )
        assert resp.status_code == 200
        assert [h for h in portal.admin("GET", "handlers") if h["client_id"] == app.client_id] == []
        assert [p for p in portal.admin("GET", "placements") if p["client_id"] == app.client_id] == []
        assert "event.bind" not in app.portal_calls()
    assert "CREST_APP_BASE_URL" in caplog.text


def test_checkserver_fails_without_app_base_url(tmp_path: Path) -> None:
    from crest.checks import local_checks

    settings = Settings(
        client_id="local.app",
        client_secret="s" * 32,
        secret_key="k" * 40,
        store=f"sqlite:{tmp_path / 'c.sqlite'}",
    )
    [check] = [c for c in local_checks(settings) if c.check == "app_base_url"]
    assert check.status == "fail"
    assert "CREST_APP_BASE_URL" in check.fix


# --- 3. destructive events are confirmed with the portal ------------------------------------------


def test_forged_uninstall_with_the_real_token_deletes_nothing(app: AppHandle, caplog: Any) -> None:
    [before] = app.store.all_installations()
    with caplog.at_level(logging.WARNING):
        resp = _event(app, "ONAPPUNINSTALL", {"LANGUAGE_ID": "en", "CLEAN": "1"})
    assert resp.status_code == 403
    assert app.store.all_installations() == [before]
    assert "forged ONAPPUNINSTALL" in caplog.text


def test_forged_update_is_refused_and_a_real_one_rebinds(app: AppHandle) -> None:
    seen: list[str] = []

    @router(app.app).on("ONAPPUPDATE")
    def updated(event: Event, ctx: EventContext) -> None:
        seen.append(str(event.data.get("VERSION")))

    worker = events_state(app.app).worker
    assert worker is not None
    app.portal.clear_requests()
    assert _event(app, "ONAPPUPDATE", {"VERSION": "7", "PREVIOUS_VERSION": "1"}).status_code == 200
    worker.drain()
    assert seen == []
    assert "event.bind" not in app.portal_calls()
    # The developer publishes version 2: the portal drops the handlers and says so; the worker
    # confirms the version with the portal and binds them again.
    app.portal.update_app(app.client_id)
    app.portal.flush()
    assert [d["status"] for d in app.portal.deliveries("ONAPPUPDATE")] == [200]
    worker.drain()
    assert seen == ["2"]
    handlers = {h["event"] for h in app.portal.admin("GET", "handlers") if h["client_id"] == app.client_id}
    assert {"ONCRMDEALUPDATE", "ONAPPUNINSTALL", "ONAPPUPDATE"} <= handlers


def test_a_real_uninstall_purges_the_portals_tokens_events_and_logs(
    portal: PortalHandle, tmp_path: Path
) -> None:
    from crest.logs import write_log
    from webapp.extension import state

    logs = tmp_path / "logs"
    with running_app(portal, store=f"sqlite:{tmp_path / 'crest.sqlite'}", logs_dir=str(logs)) as app:
        app.install()
        member = _member(app)
        state(app.app).client(member).call("user.current")  # a call log of this portal
        write_log(app.settings, {"url": "https://other.example/rest/user.current"}, "callCurl")
        assert _event(app, "ONCRMDEALUPDATE", {"FIELDS": {"ID": "1"}}).status_code == 200
        mine = [p for p in logs.rglob("*log.json") if portal.portal.domain in p.read_text()]
        assert mine
        app.portal.delete_app(app.client_id)
        app.portal.flush()
        assert app.store.find(member) is None
        assert sum(events_state(app.app).inbox.counts().values()) == 0
        left = [p.read_text() for p in logs.rglob("*log.json")]
        assert left and all(portal.portal.domain not in text and member not in text for text in left)
        assert any("other.example" in text for text in left)
