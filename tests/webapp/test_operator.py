"""GET /operator: who installed the app, read with the stored tokens, behind the operator key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from crest.stores import open_store
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from webapp.cli import reset_install_command

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


def test_query_key_works_too(operated: AppHandle) -> None:
    resp = operated.http.get(operated.url + "/operator", params={"key": KEY}, timeout=30)
    assert resp.status_code == 200


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
