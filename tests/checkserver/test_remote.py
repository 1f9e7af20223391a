"""Remote checks against servers on 127.0.0.1 without nginx: certificates, raw duplicate
headers, endpoints, exposed files, and the frame-ancestors matching itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from crest.checks import Check, frame_findings, remote_checks, source_admits
from crest.settings import Settings
from portal.server import ServerThread
from portal.tls import TlsFiles
from webapp.factory import create_app

PORTAL = "https://b24-abc.bitrix24.com"
APP = "https://app.example.com"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"store": "memory:", "frame_ancestors": (PORTAL,)}
    base.update(values)
    return Settings(**base)


@contextmanager
def serving(app: Any, tls: TlsFiles | None = None) -> Iterator[str]:
    server = ServerThread(
        app, "127.0.0.1", 0, certfile=tls.cert if tls else None, keyfile=tls.key if tls else None
    )
    server.start()
    try:
        yield server.url + "/"
    finally:
        server.stop()


def stub(routes: dict[tuple[str, str], tuple[int, list[tuple[str, str]]]]) -> Any:
    """A WSGI app answering (method, path) with a status and raw headers (duplicates kept)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
        status, headers = routes.get(key, (404, []))
        start_response(f"{status} X", [("Content-Type", "text/plain"), *headers])
        return [b"body"]

    return app


def named(checks: list[Check], name: str) -> list[Check]:
    return [c for c in checks if c.check == name]


# --- certificates ------------------------------------------------------------------------


def test_valid_certificate_via_ca_bundle_and_the_real_app(tls: TlsFiles) -> None:
    app = create_app(settings(secret_key="k" * 40))
    with serving(app, tls) as url:
        checks = remote_checks(url, settings(ca_bundle=tls.ca_bundle), http_url="http://127.0.0.1:9/")
    cert = named(checks, "https certificate")[0]
    assert cert.status == "ok"
    assert "expires in 82" in cert.detail
    # The plain app behind no proxy: every check passes (port 9 refuses: nothing served on http).
    assert [c for c in checks if c.status != "ok"] == []


def test_unknown_ca_fails_without_ca_bundle(tls: TlsFiles) -> None:
    app = create_app(settings(secret_key="k" * 40))
    with serving(app, tls) as url:
        checks = remote_checks(url, settings(), http_url="http://127.0.0.1:9/")
    cert = named(checks, "https certificate")[0]
    assert cert.status == "fail"
    assert "unknown CA" in cert.detail
    assert "Let's Encrypt" in cert.fix


def test_expired_certificate_fails_even_with_its_ca(expired_tls: TlsFiles) -> None:
    app = create_app(settings(secret_key="k" * 40))
    with serving(app, expired_tls) as url:
        checks = remote_checks(url, settings(ca_bundle=expired_tls.ca_bundle), http_url="http://127.0.0.1:9/")
    cert = named(checks, "https certificate")[0]
    assert (cert.status, cert.detail) == ("fail", "the certificate of 127.0.0.1 has expired")


def test_plain_http_url_fails() -> None:
    app = create_app(settings(secret_key="k" * 40))
    with serving(app) as url:
        checks = remote_checks(url, settings())
    assert named(checks, "https certificate")[0].status == "fail"
    assert "plain http" in named(checks, "https certificate")[0].detail


def test_nothing_listening_is_a_finding_not_a_crash() -> None:
    checks = remote_checks("https://127.0.0.1:9/", settings(), http_url="http://127.0.0.1:9/")
    assert named(checks, "https certificate")[0].status == "fail"
    assert named(checks, "app page")[0].status == "fail"


# --- raw headers, endpoints, exposed files -------------------------------------------------


def test_duplicate_headers_are_seen_raw() -> None:
    fa = ("Content-Security-Policy", f"frame-ancestors {PORTAL}")
    routes = {
        ("GET", "/"): (200, [("X-Frame-Options", "SAMEORIGIN"), ("X-Frame-Options", "DENY"), fa]),
        ("POST", "/"): (401, [fa, ("Content-Security-Policy", "frame-ancestors 'self'")]),
        ("POST", "/install"): (400, []),
        ("POST", "/events"): (500, []),
        ("GET", "/.env"): (200, []),
        ("GET", "/logs/"): (301, [("Location", "/logs/x")]),
    }
    with serving(stub(routes)) as url:
        checks = remote_checks(url, settings())
    get = named(checks, "framing (GET /)")
    assert any(c.status == "fail" and "conflicting" in c.detail for c in get)
    post = named(checks, "framing (POST /)")
    assert any(c.status == "warn" and "2 Content-Security-Policy headers" in c.detail for c in post)
    assert any(c.status == "fail" and "'frame-ancestors 'self'' does not admit" in c.detail for c in post)
    assert named(checks, "install endpoint")[0].status == "ok"
    assert named(checks, "events endpoint")[0].status == "fail"
    assert "500" in named(checks, "events endpoint")[0].detail
    served = {c.detail: c.status for c in named(checks, "no secrets served")}
    assert served == {
        "GET /.env -> 200: the file is downloadable by anyone": "fail",
        "GET /logs/ -> 301 (expected 404)": "warn",
    }


def test_store_and_logs_paths_from_settings_are_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the relative store path must not land in the checkout
    routes = {("GET", "/data/tokens.sqlite"): (200, []), ("GET", "/mylogs/"): (200, [])}
    with serving(stub(routes)) as url:
        checks = remote_checks(
            url, settings(store="sqlite:data/tokens.sqlite", logs_dir=str(tmp_path / "mylogs"))
        )
    failed = sorted(
        c.detail.split(" ->")[0] for c in named(checks, "no secrets served") if c.status == "fail"
    )
    assert failed == ["GET /data/tokens.sqlite", "GET /mylogs/"]


def test_an_unauthenticated_post_that_succeeds_is_a_failure() -> None:
    with serving(stub({("POST", "/install"): (200, [])})) as url:
        checks = remote_checks(url, settings())
    install = named(checks, "install endpoint")[0]
    assert install.status == "fail"
    assert "should refuse" in install.detail


# --- frame-ancestors matching ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "portal", "admits"),
    [
        ("*", PORTAL, True),
        ("'none'", PORTAL, False),
        ("'self'", PORTAL, False),
        ("'self'", APP, True),
        ("https:", PORTAL, True),
        ("http:", PORTAL, True),  # upgraded
        ("https:", "http://b24.corp", False),
        (PORTAL, PORTAL, True),
        (PORTAL + "/", PORTAL, True),
        ("b24-abc.bitrix24.com", PORTAL, True),  # scheme of the app (https)
        ("*.bitrix24.com", PORTAL, True),
        ("https://*.bitrix24.com", PORTAL, True),
        ("https://*.bitrix24.com", "https://bitrix24.com", False),  # *. does not match the apex
        ("https://*.bitrix24.ru", PORTAL, False),
        ("https://b24-abc.bitrix24.com:8443", PORTAL, False),
        ("https://b24-abc.bitrix24.com:*", PORTAL, True),
        ("https://b24.corp:8443", "https://b24.corp:8443", True),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000", True),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001", False),
        ("http://b24.corp", "https://b24.corp", True),
        ("https://b24.corp", "http://b24.corp", False),
        ("'unsafe-inline'", PORTAL, False),
    ],
)
def test_source_admits(source: str, portal: str, admits: bool) -> None:
    assert source_admits(source, portal, APP) is admits


@pytest.mark.parametrize(
    ("xfo", "csp", "expected"),
    [
        ([], [f"frame-ancestors {PORTAL}"], {"ok"}),
        (["SAMEORIGIN"], [f"frame-ancestors {PORTAL}"], {"fail"}),
        (["deny"], [], {"fail"}),
        (["SAMEORIGIN, DENY"], [f"frame-ancestors {PORTAL}"], {"fail"}),  # one header, two values
        (["SAMEORIGIN", "SAMEORIGIN"], [f"frame-ancestors {PORTAL}"], {"fail"}),
        ([f"ALLOW-FROM {PORTAL}"], [f"frame-ancestors {PORTAL}"], {"warn", "ok"}),
        (["ALLOWALL"], [f"frame-ancestors {PORTAL}"], {"warn", "ok"}),
        ([], ["frame-ancestors 'none'"], {"fail"}),
        ([], [f"default-src 'self'; frame-ancestors {PORTAL}, frame-ancestors 'self'"], {"fail"}),
        ([], ["default-src 'self'"], {"warn"}),
        ([], [], {"warn"}),
    ],
)
def test_frame_findings(xfo: list[str], csp: list[str], expected: set[str]) -> None:
    assert {c.status for c in frame_findings(xfo, csp, [PORTAL], APP)} == expected


def test_frame_findings_without_a_known_portal_warns_and_shows_the_policy() -> None:
    (finding,) = frame_findings([], [f"frame-ancestors {PORTAL}"], [], APP)
    assert finding.status == "warn"
    assert PORTAL in finding.detail and "--portal" in finding.fix
