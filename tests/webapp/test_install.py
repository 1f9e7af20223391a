"""POST /install: both install kinds, verified before anything is stored (T1, T2, T5)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from crest.forms import encode
from crest.installation import Installation
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle, running_portal


def _onappinstall(app: AppHandle, tokens: dict[str, object], **auth: object) -> str:
    portal = app.portal.portal
    fields = {
        "access_token": tokens["access_token"],
        "expires": tokens["expires"],
        "expires_in": tokens["expires_in"],
        "scope": tokens["scope"],
        "domain": portal.domain,
        "server_endpoint": portal.server_endpoint,
        "status": "L",
        "client_endpoint": portal.client_endpoint,
        "member_id": portal.config.member_id,
        "user_id": "1",
        "refresh_token": tokens["refresh_token"],
        "application_token": app.application_token,
    }
    fields.update(auth)
    return encode(
        {
            "event": "ONAPPINSTALL",
            "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"},
            "ts": "1700000000",
            "auth": fields,
        }
    )


def _post_event(app: AppHandle, body: str) -> requests.Response:
    return app.http.post(
        app.url + "/install",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )


# --- genuine installs -------------------------------------------------------------------------


def test_ui_install_stores_verified_tokens_and_answers_install_finish(app: AppHandle) -> None:
    resp = app.install()
    assert resp.status_code == 200
    assert "BX24.installFinish()" in resp.text
    assert f'src="{app.portal.base_url}/bx24/api/v1/"' in resp.text
    [inst] = app.store.all_installations()
    portal = app.portal.portal
    assert inst.member_id == portal.config.member_id
    assert inst.domain == portal.domain
    assert inst.client_endpoint == portal.client_endpoint
    assert inst.application_token == app.application_token
    assert inst.user_id == 1


def test_ui_install_binds_the_contact_tab_with_the_installed_tokens(app: AppHandle) -> None:
    app.install()
    bound = app.portal.portal.events.placements_of(app.client_id)
    assert [(p["placement"], p["handler"]) for p in bound] == [
        ("CRM_CONTACT_DETAIL_TAB", f"{app.url}/placement/crm_contact_tab")
    ]


def test_repeated_ui_install_is_idempotent(app: AppHandle) -> None:
    app.install()
    [first] = app.store.all_installations()
    again = app.install()
    assert again.status_code == 200
    assert app.store.all_installations() == [first]
    # No second bind either: nothing changed, so nothing is set up again.
    assert app.portal_calls().count("placement.bind") == 1


def test_api_only_app_is_installed_by_the_portals_onappinstall(portal: PortalHandle) -> None:
    with running_app(portal, api_only=True) as app:
        assert portal.portal.events.flush(10)
        [delivery] = [d for d in portal.portal.events.deliveries() if d["event"] == "ONAPPINSTALL"]
        assert (delivery["url"], delivery["status"]) == (f"{app.url}/install", 200)
        [inst] = app.store.all_installations()
        assert inst.client_endpoint == portal.portal.client_endpoint
        assert inst.application_token == app.application_token
        assert inst.refresh_token


def test_onappinstall_answers_plain_ok(app: AppHandle) -> None:
    resp = _post_event(app, _onappinstall(app, app.portal.issue_tokens(app.client_id)))
    assert resp.status_code == 200
    assert resp.text == "OK"
    assert len(app.store.all_installations()) == 1


# --- forged installs (T1) ---------------------------------------------------------------------


@pytest.fixture
def sqlite_app(portal: PortalHandle, tmp_path: Path) -> Iterator[tuple[AppHandle, Path]]:
    path = tmp_path / "crest.sqlite"
    with running_app(portal, store=f"sqlite:{path}") as handle:
        yield handle, path


def _forged(app: AppHandle, path: Path, **overrides: str) -> requests.Response:
    query, body = app.frame_fields()
    for key, value in overrides.items():
        (query if key == "DOMAIN" else body)[key] = value
    return app.http.post(app.url + "/install", params=query, data=body, timeout=30)


@pytest.mark.parametrize(
    "overrides",
    [
        {"AUTH_ID": "forged0token0that0app0info0rejects"},
        {"member_id": "0123456789abcdef0123456789abcdef"},
        {"DOMAIN": "evil.example"},
    ],
    ids=["unknown-token", "other-member", "other-domain"],
)
def test_forged_install_is_refused_and_changes_nothing(
    sqlite_app: tuple[AppHandle, Path], overrides: dict[str, str]
) -> None:
    app, path = sqlite_app
    app.install()
    before = path.read_bytes()
    resp = _forged(app, path, **overrides)
    assert resp.status_code == 403
    assert "Traceback" not in resp.text
    assert path.read_bytes() == before


def test_forged_first_install_stores_nothing(app: AppHandle) -> None:
    query, body = app.frame_fields()
    body["AUTH_ID"] = "forged0token0that0app0info0rejects"
    resp = app.http.post(app.url + "/install", params=query, data=body, timeout=30)
    assert resp.status_code == 403
    assert app.store.all_installations() == []
    assert "placement.bind" not in app.portal_calls()


def test_token_of_another_application_is_refused(app: AppHandle) -> None:
    other = app.portal.register_app(title="other", handler_url="http://localhost:1/", scopes=["crm"])
    resp = app.post_frame("/install", tokens=app.portal.issue_tokens(other["client_id"]))
    assert resp.status_code == 403
    assert app.store.all_installations() == []


def test_token_of_another_portal_is_refused(app: AppHandle) -> None:
    # Our settings point at portal A's OAuth server, which has never seen portal B's token.
    with running_portal(member_id="b" * 32) as other_portal:
        registered = other_portal.register_app(title="same app elsewhere", scopes=["crm"])
        tokens = other_portal.issue_tokens(registered["client_id"])
        query, body = app.frame_fields(tokens=tokens)
        query["DOMAIN"], body["member_id"] = other_portal.portal.domain, "b" * 32
        resp = app.http.post(app.url + "/install", params=query, data=body, timeout=30)
    assert resp.status_code == 403
    assert app.store.all_installations() == []


def test_get_install_is_405(app: AppHandle) -> None:
    query, body = app.frame_fields()
    resp = app.http.get(app.url + "/install", params={**query, **body}, timeout=30)
    assert resp.status_code == 405
    assert app.store.all_installations() == []
    assert app.portal_calls() == []


def test_second_portal_gets_409_while_pinned(app: AppHandle) -> None:
    other = Installation(
        member_id="c" * 32,
        domain="first.example",
        client_endpoint="https://first.example/rest/",
        access_token="a" * 20,
        refresh_token="r" * 20,
        expires=None,
        application_token="t" * 32,
    )
    app.store.save(other)
    resp = app.post_frame("/install")
    assert resp.status_code == 409
    assert app.store.all_installations() == [other]


# --- T2: endpoints in the payload are never used ------------------------------------------------


class _Trap(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap() -> Iterator[str]:
    _Trap.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_posted_endpoints_are_never_contacted(app: AppHandle, trap: str) -> None:
    body = _onappinstall(
        app,
        app.portal.issue_tokens(app.client_id),
        server_endpoint=f"{trap}/rest/",
        client_endpoint=f"{trap}/rest/",
    )
    resp = _post_event(app, body)
    assert resp.status_code == 200
    [inst] = app.store.all_installations()
    assert inst.client_endpoint == app.portal.portal.client_endpoint
    # A call with the stored tokens goes to the verified portal, not the posted endpoint.
    app.post_frame("/")
    assert _Trap.hits == []


# --- T5: late and repeated deliveries ---------------------------------------------------------


def test_late_onappinstall_keeps_the_first_chain(app: AppHandle) -> None:
    app.install()
    [first] = app.store.all_installations()
    late = _onappinstall(app, app.portal.issue_tokens(app.client_id))
    for _ in range(2):  # the delayed delivery, then a replay of it
        resp = _post_event(app, late)
        assert resp.status_code == 200
        assert app.store.all_installations() == [first]
    assert "oauth.token" not in app.portal_calls()
