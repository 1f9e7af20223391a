"""Page tokens (T9, T10): only a fresh, untampered token of ours, for this app and portal, opens the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from crest.installation import Installation
from crest.settings import Settings
from crest.stores import MemoryStore
from portal.app_testing import AppHandle
from webapp import create_app
from webapp.extension import state
from webapp.session import PageTokenError, PageTokens, bearer_token

MEMBER = "a" * 32
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


# --- the signer on its own ----------------------------------------------------------------------


def test_valid_token_round_trips() -> None:
    tokens = PageTokens("k" * 32, Clock())
    claims = tokens.verify(tokens.issue(MEMBER, 7, "app:x"), audience="app:x", member_id=MEMBER)
    assert (claims.member_id, claims.user_id, claims.audience) == (MEMBER, 7, "app:x")
    assert claims.expires_at - claims.issued_at == tokens.lifetime


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "other-key",
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "wrong-member",
        "garbage",
        "empty",
    ],
)
def test_bad_tokens_are_refused(case: str) -> None:
    clock = Clock()
    tokens = PageTokens("k" * 32, clock)
    token = tokens.issue(MEMBER, 7, "app:x")
    audience, member = "app:x", MEMBER
    if case == "tampered":
        body, sig = token.rsplit(".", 1)
        token = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    elif case == "other-key":
        token = PageTokens("z" * 32, clock).issue(MEMBER, 7, "app:x")
    elif case == "expired":
        clock.now += tokens.lifetime + 11
    elif case == "not-yet-valid":
        clock.now -= 60
    elif case == "wrong-audience":
        audience = "app:other"
    elif case == "wrong-member":
        member = "b" * 32
    elif case == "garbage":
        token = "not.a.token"
    else:
        token = ""
    with pytest.raises(PageTokenError):
        tokens.verify(token, audience=audience, member_id=member)


def test_clock_skew_within_leeway_is_tolerated() -> None:
    clock = Clock()
    tokens = PageTokens("k" * 32, clock)
    token = tokens.issue(MEMBER, 7, "app:x")
    clock.now += tokens.lifetime + 5
    assert tokens.verify(token, audience="app:x").user_id == 7


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""), ("", ""), (None, ""), ("Bearer", "")],
)
def test_bearer_header_parsing(header: str | None, token: str) -> None:
    assert bearer_token(header) == token


# --- the API route ------------------------------------------------------------------------------


def _app(clock: Clock, client_id: str = "local.app") -> Flask:
    store = MemoryStore()
    store.save(
        Installation(
            member_id=MEMBER,
            domain="portal.example.com",
            client_endpoint="https://portal.example.com/rest/",
            access_token="access-token-1",
            refresh_token="refresh-token-1",
            expires=None,
        )
    )
    settings = Settings(client_id=client_id, secret_key="s" * 32, store="memory:", events_worker="off")
    app = create_app(settings, store=store)
    state(app).clock = clock
    return app


def _token(app: Flask, member: str = MEMBER, audience: str = "app:local.app") -> str:
    return state(app).page_tokens().issue(member, 7, audience)


@pytest.mark.parametrize("case", ["expired", "tampered", "wrong-audience", "wrong-member", "other-app"])
def test_api_refuses_bad_tokens_before_any_call(case: str) -> None:
    clock = Clock()
    app = _app(clock)
    token = _token(app)
    if case == "expired":
        clock.now += 3600
    elif case == "tampered":
        token = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    elif case == "wrong-audience":
        token = _token(app, audience="app:local.other")
    elif case == "wrong-member":
        token = _token(app, member="b" * 32)  # signed by us, but for a portal not installed
    else:
        token = _token(_app(clock, client_id="local.other"), audience="app:local.other")
    calls: list[Any] = []
    state(app).http.request = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
    resp = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert resp.is_json
    assert calls == []


def test_cookie_only_or_form_post_is_401() -> None:
    app = _app(Clock())
    client = app.test_client()
    client.set_cookie("session", _token(app))
    assert client.get("/api/me").status_code == 401
    assert client.get(f"/api/me?token={_token(app)}").status_code == 401
    # A cross-site form post carries cookies but never our header (T10).
    assert client.post("/api/me", data={"token": _token(app)}).status_code in {401, 405}


def test_no_cookie_is_ever_set(installed: AppHandle) -> None:
    page = installed.post_frame("/")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers
    token = re.search(r'"token": "([^"]+)"', page.text)
    assert token
    api = installed.http.get(
        installed.url + "/api/me", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30
    )
    assert api.status_code == 200
    assert "Set-Cookie" not in api.headers


def test_expired_page_token_over_http(installed: AppHandle) -> None:
    page = installed.post_frame("/")
    token = re.search(r'"token": "([^"]+)"', page.text)
    assert token
    crest = state(installed.app)
    crest.clock = lambda: 10**10
    resp = installed.http.get(
        installed.url + "/api/me", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30
    )
    assert resp.status_code == 401
