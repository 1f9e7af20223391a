"""GET /operator: who installed the app, read with the stored tokens, behind the operator key."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from crest.stores import open_store
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from webapp.cli import reset_install_command
from webapp.extension import state

KEY = "operator-key-0123456789abcdef"


@pytest.fixture
def operated(portal: PortalHandle) -> Iterator[AppHandle]:
    with running_app(portal, operator_key=KEY) as handle:
        handle.install()
        portal.clear_requests()
        yield handle


def _installer_name(app: AppHandle) -> str:
    return app.portal.portal.directory.full_name(1)


def test_shows_the_installer_with_the_header_key(operated: AppHandle) -> None:
    resp = operated.http.get(operated.url + "/operator", headers={"X-Operator-Key": KEY}, timeout=30)
    assert resp.status_code == 200
    assert f'<b class="installer">{_installer_name(operated)}</b>' in resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert operated.portal_calls() == ["user.get"]


def test_key_in_the_url_is_refused_and_never_logged(
    operated: AppHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        resp = operated.http.get(operated.url + "/operator", params={"key": KEY}, timeout=30)
        resp_post = operated.http.post(operated.url + "/operator?key=" + KEY, timeout=30)
    for r in (resp, resp_post):
        assert r.status_code == 400
        assert "X-Operator-Key" in r.text
        assert _installer_name(operated) not in r.text
    assert operated.portal_calls() == []


@pytest.mark.parametrize("logger", ["werkzeug", "gunicorn.access", "webapp.install"])
def test_create_app_masks_the_key_in_server_logs(
    portal: PortalHandle, caplog: pytest.LogCaptureFixture, logger: str
) -> None:
    # As a WSGI server's access log would write a request that put the key in its URL anyway.
    logging.getLogger(logger)  # exists before the app, as the server's own loggers do
    with caplog.at_level(logging.INFO), running_app(portal, operator_key=KEY):
        logging.getLogger(logger).info('127.0.0.1 "GET /operator?key=%s HTTP/1.1" 400', KEY)
    assert "/operator?key=" in caplog.text
    assert KEY not in caplog.text


def test_the_key_form_opens_the_page_and_its_token_the_next(operated: AppHandle) -> None:
    login = operated.http.get(operated.url + "/operator", timeout=30)
    assert login.status_code == 401
    assert 'name="key"' in login.text and 'method="post"' in login.text
    page = operated.http.post(operated.url + "/operator", data={"key": KEY}, timeout=30)
    assert page.status_code == 200
    assert _installer_name(operated) in page.text
    token = re.search(r'name="operator_token" value="([^"]+)"', page.text)
    assert token is not None
    # The page's own form runs the hosting check with its token; no key travels again.
    checks = operated.http.post(
        operated.url + "/checkserver", data={"operator_token": token.group(1)}, timeout=60
    )
    assert checks.status_code == 200
    assert "Hosting check" in checks.text
    api = operated.http.get(
        operated.url + "/events/recent", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30
    )
    assert api.status_code == 200
    forged = operated.http.post(operated.url + "/checkserver", data={"operator_token": "x" + token.group(1)})
    assert forged.status_code == 401


def test_wrong_keys_are_rate_limited(operated: AppHandle) -> None:
    for _ in range(5):
        assert (
            operated.http.post(operated.url + "/operator", data={"key": "guess"}, timeout=30).status_code
            == 401
        )
    # Now even the right key is refused from this address until the window passes.
    limited = operated.http.post(operated.url + "/operator", data={"key": KEY}, timeout=30)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert operated.http.get(operated.url + "/operator", headers={"X-Operator-Key": KEY}).status_code == 429
    assert operated.portal_calls() == []
    clock = state(operated.app).clock
    state(operated.app).clock = lambda: clock() + 61
    assert operated.http.post(operated.url + "/operator", data={"key": KEY}, timeout=30).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-Operator-Key": "wrong"}, {"X-Operator-Key": KEY + "x"}])
def test_missing_or_wrong_key_is_401_without_calls(operated: AppHandle, headers: dict[str, str]) -> None:
    resp = operated.http.get(operated.url + "/operator", headers=headers, timeout=30)
    assert resp.status_code == 401
    assert _installer_name(operated) not in resp.text
    assert operated.portal_calls() == []


def test_without_a_configured_key_the_page_does_not_exist(installed: AppHandle) -> None:
    for headers in ({}, {"X-Operator-Key": ""}, {"X-Operator-Key": "anything"}):
        assert installed.http.get(installed.url + "/operator", headers=headers, timeout=30).status_code == 404


def test_expired_tokens_are_renewed(operated: AppHandle) -> None:
    [before] = operated.store.all_installations()
    operated.portal.advance(2 * 3600)  # the stored access token is now dead at the portal
    resp = operated.http.get(operated.url + "/operator", headers={"X-Operator-Key": KEY}, timeout=30)
    assert resp.status_code == 200
    assert _installer_name(operated) in resp.text
    [after] = operated.store.all_installations()
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert operated.portal_calls().count("oauth.token") == 1


def test_dead_chain_is_reported_not_crashed(operated: AppHandle) -> None:
    operated.portal.advance(200 * 86400)  # past the refresh token's lifetime as well
    resp = operated.http.get(operated.url + "/operator", headers={"X-Operator-Key": KEY}, timeout=30)
    assert resp.status_code == 200
    assert "reinstall" in resp.text.lower()
    [inst] = operated.store.all_installations()
    assert inst.needs_reinstall


def test_not_installed_yet(portal: PortalHandle) -> None:
    with running_app(portal, operator_key=KEY) as app:
        resp = app.http.get(app.url + "/operator", headers={"X-Operator-Key": KEY}, timeout=30)
        assert resp.status_code == 200
        assert "not installed" in resp.text


# --- crest reset-install -------------------------------------------------------------------------


def test_reset_install_releases_the_pin(portal: PortalHandle, tmp_path: str) -> None:
    store_url = f"sqlite:{tmp_path}/crest.sqlite"
    with running_app(portal, store=store_url) as app:
        app.install()
        runner = CliRunner()
        refused = runner.invoke(reset_install_command, ["--store", store_url], input="n\n")
        assert refused.exit_code != 0
        assert len(open_store(store_url).all_installations()) == 1
        done = runner.invoke(reset_install_command, ["--store", store_url, "--yes"])
        assert done.exit_code == 0, done.output
        assert portal.portal.domain in done.output
        assert open_store(store_url).all_installations() == []
        assert app.store.all_installations() == []
        again = runner.invoke(reset_install_command, ["--store", store_url, "--yes"])
        assert "nothing to reset" in again.output
