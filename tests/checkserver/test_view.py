"""``/checkserver`` in the web app: only behind the operator key, and never a secret on the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle

KEY = "operator-key-0123456789abcdef"


@pytest.fixture
def operated(portal: PortalHandle, tmp_path: Path) -> Iterator[AppHandle]:
    with running_app(portal, operator_key=KEY, store=f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}") as app:
        app.install()
        yield app


def test_absent_without_an_operator_key(portal: PortalHandle) -> None:
    with running_app(portal) as app:
        assert app.http.get(app.url + "/checkserver", timeout=30).status_code == 404
        assert app.http.post(app.url + "/checkserver", timeout=30).status_code == 404


def test_wrong_or_missing_key_is_refused(operated: AppHandle) -> None:
    for headers in ({}, {"X-Operator-Key": "wrong"}):
        assert (
            operated.http.get(operated.url + "/checkserver", headers=headers, timeout=30).status_code == 401
        )
        resp = operated.http.post(operated.url + "/checkserver", headers=headers, timeout=30)
        assert resp.status_code == 401
        assert "Hosting check" not in resp.text
    # A key in the URL is refused outright, right or wrong (URLs go to access logs).
    for key in ("wrong", KEY):
        resp = operated.http.post(operated.url + "/checkserver", params={"key": key}, timeout=30)
        assert resp.status_code == 400
        assert "Hosting check" not in resp.text


def test_form_and_results_with_the_key(operated: AppHandle) -> None:
    form = operated.http.get(operated.url + "/checkserver", headers={"X-Operator-Key": KEY}, timeout=30)
    assert form.status_code == 200
    assert "<form" in form.text
    assert form.headers["Cache-Control"] == "no-store"
    resp = operated.http.post(
        operated.url + "/checkserver", headers={"X-Operator-Key": KEY}, data={"remote": "1"}, timeout=60
    )
    assert resp.status_code == 200
    assert "store lock" in resp.text
    # The app checked its own public URL (app_base_url) too.
    assert "install endpoint" in resp.text
    settings = operated.settings
    for secret in (settings.client_secret, settings.secret_key, settings.operator_key):
        assert secret and secret not in resp.text
    # The page itself may not be framed by anyone.
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_json_results(operated: AppHandle) -> None:
    resp = operated.http.post(
        operated.url + "/checkserver", params={"format": "json"}, headers={"X-Operator-Key": KEY}, timeout=60
    )
    checks = resp.json()
    assert {c["check"] for c in checks} >= {"store", "settings", "oauth server HTTP"}
    assert all(set(c) == {"check", "status", "detail", "fix"} for c in checks)
