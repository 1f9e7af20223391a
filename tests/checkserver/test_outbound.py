"""Outbound checks: DNS and TLS to the OAuth server and the portal; no network is a warning."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import pytest

from crest.checks import Check, _skew_check, outbound_checks
from crest.settings import Settings
from portal.testing import PortalHandle


def find(checks: list[Check], prefix: str, suffix: str = "") -> Check:
    return next(c for c in checks if c.check.startswith(prefix) and c.check.endswith(suffix))


@pytest.mark.b24portal(https=True)
def test_https_portal_and_oauth_server_with_ca_bundle(portal: PortalHandle) -> None:
    settings = Settings(
        client_id="local.x",
        client_secret="s" * 20,
        oauth_token_url=portal.portal.token_url,
        oauth_server_endpoint=portal.portal.server_endpoint,
        ca_bundle=portal.ca_bundle,
        web_hook_url=portal.webhook_url,
        store="memory:",
    )
    checks = outbound_checks(settings)
    assert [c for c in checks if c.status != "ok"] == []
    assert "answered over verified TLS" in find(checks, "oauth server TLS").detail
    assert find(checks, "clock skew").status == "ok"
    assert find(checks, "portal 127.0.0.1", "TLS").status == "ok"
    # The webhook's secret path is never requested nor shown.
    assert portal.webhook_url.split("/")[-2] not in repr(checks)


@pytest.mark.b24portal(https=True)
def test_portal_with_an_untrusted_certificate_fails(portal: PortalHandle) -> None:
    checks = outbound_checks(Settings(web_hook_url=portal.webhook_url, store="memory:"))
    tls = find(checks, "portal 127.0.0.1", "TLS")
    assert tls.status == "fail"
    assert "CREST_CA_BUNDLE" in tls.fix


def test_no_network_is_a_warning_and_fast() -> None:
    settings = Settings(
        client_id="local.x",
        client_secret="s" * 20,
        oauth_token_url="https://oauth.checkserver-test.invalid/oauth/token/",
        web_hook_url="https://portal.checkserver-test.invalid/rest/1/abcdef123/",
        store="memory:",
    )
    started = time.monotonic()
    checks = outbound_checks(settings)
    assert time.monotonic() - started < 15
    assert {c.status for c in checks} == {"warn"}
    assert "does not resolve" in find(checks, "oauth server DNS").detail


def test_nothing_listening_is_a_warning() -> None:
    checks = outbound_checks(Settings(web_hook_url="https://127.0.0.1:9/rest/1/abcdef123/", store="memory:"))
    assert find(checks, "portal 127.0.0.1:9 TLS").status == "warn"


def test_portal_endpoints_come_from_the_store(portal: PortalHandle) -> None:
    from portal.app_testing import running_app

    with running_app(portal) as app:
        app.install()
        checks = outbound_checks(app.settings, store=app.store)
    http = find(checks, "portal 127.0.0.1", "HTTP")
    assert http.status == "ok" and "plain HTTP" in http.detail


@pytest.mark.parametrize(("offset", "status"), [(0, "ok"), (120, "warn"), (-900, "fail")])
def test_clock_skew(offset: float, status: str) -> None:
    now = time.time()
    check: Any = _skew_check("oauth.example", formatdate(now - offset, usegmt=True), now)
    assert check.status == status
