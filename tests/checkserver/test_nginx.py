"""A real nginx (Debian's nginx-light) in front of the app: good and deliberately broken hosting.

The broken configs are the ones Bitrix24's docs and support threads describe: nginx adding
``X-Frame-Options SAMEORIGIN`` while the app allows the portal to frame it ("site does not
allow connection"), two conflicting values, the obsolete ALLOW-FROM, a second CSP header,
plain HTTP without a redirect, and CRest's settings.json left in the document root.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from crest.checks import Check, remote_checks
from crest.settings import Settings
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from portal.tls import TlsFiles
from tests.checkserver.conftest import running_nginx


@pytest.fixture
def installed_app(portal: PortalHandle, tmp_path: Path) -> Iterator[AppHandle]:
    """The app on 127.0.0.1 with a file store, installed on the portal (so it knows the portal)."""
    store = f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}"
    with running_app(portal, host="127.0.0.1", store=store) as app:
        app.install()
        yield app


def checker_settings(app: AppHandle, tls: TlsFiles, url: str) -> Settings:
    # What the operator's settings.py would say: the app's own, plus the CA of our test certificate.
    return dataclasses.replace(app.settings, ca_bundle=tls.ca_bundle, app_base_url=url.rstrip("/"))


def by_name(checks: list[Check], prefix: str) -> list[Check]:
    return [c for c in checks if c.check.startswith(prefix)]


def statuses(checks: list[Check]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in checks:
        out.setdefault(c.check, set()).add(c.status)
    return out


def test_good_nginx_passes_every_remote_check(
    installed_app: AppHandle, tls: TlsFiles, tmp_path: Path
) -> None:
    with running_nginx(tmp_path / "nginx", installed_app.url, tls) as nginx:
        settings = checker_settings(installed_app, tls, nginx.https_url)
        checks = remote_checks(nginx.https_url, settings, http_url=nginx.http_url)
    assert [c for c in checks if c.status != "ok"] == []
    names = {c.check for c in checks}
    assert {
        "https certificate",
        "http redirect",
        "framing (GET /)",
        "framing (POST /)",
        "app page endpoint",
        "install endpoint",
        "events endpoint",
        "no secrets served",
        "response time",
    } <= names
    cert = by_name(checks, "https certificate")[0]
    assert "expires in 824 days" in cert.detail or "expires in 823 days" in cert.detail
    assert "ca_bundle" in cert.detail  # trusted through the private CA, and it says so
    portal_origin = installed_app.portal.base_url.lower()
    assert portal_origin in by_name(checks, "framing (GET /)")[0].detail


def test_nginx_sameorigin_while_app_allows_framing(
    installed_app: AppHandle, tls: TlsFiles, tmp_path: Path
) -> None:
    """Bitrix24's documented failure: the app admits the portal, nginx adds SAMEORIGIN."""
    with running_nginx(
        tmp_path / "nginx", installed_app.url, tls, server_extra="add_header X-Frame-Options SAMEORIGIN;"
    ) as nginx:
        settings = checker_settings(installed_app, tls, nginx.https_url)
        checks = remote_checks(nginx.https_url, settings, http_url=nginx.http_url)
    framing = [c for c in checks if c.check == "framing (GET /)" and c.status == "fail"]
    assert len(framing) == 1, checks
    assert "X-Frame-Options: SAMEORIGIN" in framing[0].detail
    assert "remove `add_header X-Frame-Options SAMEORIGIN;`" in framing[0].fix
    # nginx's add_header skips error answers (no `always`), so the 401 of POST / stays clean:
    # only reading the 200 of GET / catches it.
    assert statuses(checks)["framing (POST /)"] == {"ok"}
    # Nothing else is wrong with this hosting.
    others = [c for c in checks if c.status != "ok" and not c.check.startswith("framing")]
    assert others == []


def test_nginx_always_header_shows_on_the_portals_post_too(
    installed_app: AppHandle, tls: TlsFiles, tmp_path: Path
) -> None:
    with running_nginx(
        tmp_path / "nginx",
        installed_app.url,
        tls,
        server_extra="add_header X-Frame-Options DENY always;",
    ) as nginx:
        checks = remote_checks(
            nginx.https_url, checker_settings(installed_app, tls, nginx.https_url), http_url=nginx.http_url
        )
    assert statuses(checks)["framing (POST /)"] == {"fail"}
    assert statuses(checks)["framing (GET /)"] == {"fail"}


@pytest.mark.parametrize(
    ("server_extra", "status", "detail", "fix"),
    [
        (
            "add_header X-Frame-Options SAMEORIGIN;\n add_header X-Frame-Options DENY;",
            "fail",
            "conflicting X-Frame-Options values (DENY, SAMEORIGIN)",
            "add_header X-Frame-Options",
        ),
        (
            'add_header X-Frame-Options "ALLOW-FROM https://portal.example";',
            "warn",
            "is obsolete",
            "remove `add_header X-Frame-Options ALLOW-FROM HTTPS://PORTAL.EXAMPLE;`",
        ),
        (
            "add_header Content-Security-Policy \"frame-ancestors 'self'\";",
            "fail",
            "does not admit",
            "remove `add_header Content-Security-Policy \"frame-ancestors 'self'\";`",
        ),
    ],
    ids=["two-xfo", "allow-from", "second-csp"],
)
def test_broken_frame_headers(
    installed_app: AppHandle,
    tls: TlsFiles,
    tmp_path: Path,
    server_extra: str,
    status: str,
    detail: str,
    fix: str,
) -> None:
    with running_nginx(tmp_path / "nginx", installed_app.url, tls, server_extra=server_extra) as nginx:
        checks = remote_checks(
            nginx.https_url, checker_settings(installed_app, tls, nginx.https_url), http_url=nginx.http_url
        )
    found = [c for c in by_name(checks, "framing (GET /)") if c.status == status and detail in c.detail]
    assert found, [c for c in checks if c.status != "ok"]
    assert fix in found[0].fix


def test_second_csp_header_is_reported_as_such(
    installed_app: AppHandle, tls: TlsFiles, tmp_path: Path
) -> None:
    with running_nginx(
        tmp_path / "nginx",
        installed_app.url,
        tls,
        server_extra="add_header Content-Security-Policy \"default-src 'self'\";",
    ) as nginx:
        checks = remote_checks(
            nginx.https_url, checker_settings(installed_app, tls, nginx.https_url), http_url=nginx.http_url
        )
    framing = by_name(checks, "framing (GET /)")
    # No frame-ancestors in the proxy's policy: the portal is still admitted, but the second
    # header is a trap for the next edit.
    assert {c.status for c in framing} == {"warn", "ok"}
    warn = next(c for c in framing if c.status == "warn")
    assert "2 Content-Security-Policy headers" in warn.detail
    assert "add_header Content-Security-Policy" in warn.fix


def test_settings_json_in_document_root_and_no_https_redirect(
    installed_app: AppHandle, tls: TlsFiles, tmp_path: Path
) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "settings.json").write_text('{"client_secret": "SENTINEL_NOT_TO_BE_PRINTED"}')
    with running_nginx(
        tmp_path / "nginx",
        installed_app.url,
        tls,
        # CRest's layout: the PHP files and settings.json served from one folder.
        extra_locations=f"location = /settings.json {{ root {docroot}; }}\nlocation = /install {{ return 404; }}",
        http_redirects=False,
    ) as nginx:
        checks = remote_checks(
            nginx.https_url, checker_settings(installed_app, tls, nginx.https_url), http_url=nginx.http_url
        )
    secrets = [c for c in checks if c.check == "no secrets served" and c.status == "fail"]
    assert [c.detail for c in secrets] == ["GET /settings.json -> 200: the file is downloadable by anyone"]
    assert "return 404" in secrets[0].fix
    assert statuses(checks)["http redirect"] == {"warn"}
    assert "return 301 https://" in by_name(checks, "http redirect")[0].fix
    install = by_name(checks, "install endpoint")[0]
    assert install.status == "fail" and "404" in install.detail
    assert "SENTINEL" not in repr(checks)


def test_expired_certificate_behind_nginx(
    installed_app: AppHandle, expired_tls: TlsFiles, tmp_path: Path
) -> None:
    with running_nginx(tmp_path / "nginx", installed_app.url, expired_tls) as nginx:
        checks = remote_checks(
            nginx.https_url,
            checker_settings(installed_app, expired_tls, nginx.https_url),
            http_url=nginx.http_url,
        )
    cert = by_name(checks, "https certificate")[0]
    assert cert.status == "fail"
    assert "expired" in cert.detail
    assert "renew" in cert.fix
    # The other probes still ran (unverified, sending nothing secret), so every finding shows.
    assert statuses(checks)["framing (GET /)"] == {"ok"}
