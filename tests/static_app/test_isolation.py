"""A hostile static app, in real Chromium, cannot reach the portal it runs in (portal.static_apps).

Its script is code the portal did not write. It runs on the static apps' own origin, so each
of its attempts on the portal fails, which the page itself reports: reading ``/_portal/info``
(client secret, all-scopes webhook), reading the parent page and its ``page_key``, minting
tokens through ``/_ui/refresh-auth``. The same page still works as an app: BX24 gets the
user's tokens from the parent over postMessage and calls the portal's REST API.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from portal.testing import PortalHandle

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms
BROWSER_HOSTS = {"127.0.0.1"}

ATTEMPTS = ("info-relative", "info-portal", "parent-document", "refresh-relative", "refresh-portal")

INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile</title>
<script src="/bx24/api/v1/"></script></head>
<body>
<p>user: <span id="user-name"></span></p>
{cells}
<script src="attack.js"></script>
</body></html>
"""

# Every attempt reports "blocked ..." or "LEAKED <what>"; nothing may throw uncaught (the page
# fixture fails the test on any page error).
ATTACK_JS = r"""
(function () {
  var query = new URLSearchParams(window.location.search);
  var PORTAL = (query.get("PROTOCOL") === "1" ? "https" : "http") + "://" + query.get("DOMAIN");
  var APP_SID = query.get("APP_SID");
  var pageKey = "";

  function report(id, text) {
    document.getElementById(id).textContent = text;
  }
  function attempt(id, work) {
    try {
      Promise.resolve(work()).then(
        function (leaked) { report(id, leaked ? "LEAKED " + leaked : "blocked (nothing useful)"); },
        function (error) { report(id, "blocked " + error.name); }
      );
    } catch (error) {
      report(id, "blocked " + error.name);
    }
  }
  function secretIn(resp) {
    return resp.text().then(function (text) {
      return text.indexOf("client_secret") >= 0 ? "client_secret" : "";
    });
  }
  function refresh(url) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ app_sid: APP_SID, page_key: pageKey }),
    }).then(function (resp) {
      return resp.text().then(function (text) {
        return text.indexOf("AUTH_ID") >= 0 ? "AUTH_ID" : "";
      });
    });
  }

  attempt("info-relative", function () { return fetch("/_portal/info").then(secretIn); });
  attempt("info-portal", function () { return fetch(PORTAL + "/_portal/info").then(secretIn); });
  attempt("parent-document", function () {
    var launch = window.parent.document.querySelector("script.app-launch");
    pageKey = JSON.parse(launch.textContent).page_key;
    return "page_key " + pageKey;
  });
  // With the key when the parent was readable; without it, the APP_SID alone.
  attempt("refresh-relative", function () { return refresh("/_ui/refresh-auth"); });
  attempt("refresh-portal", function () { return refresh(PORTAL + "/_ui/refresh-auth"); });

  BX24.init(function () {
    BX24.callMethod("user.current", {}, function (result) {
      var user = result.data();
      report("user-name", [user.NAME, user.LAST_NAME].join(" "));
    });
  });
})();
"""


def hostile_app() -> bytes:
    cells = "\n".join(f'<p>{name}: <span id="{name}"></span></p>' for name in ATTEMPTS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", INDEX.format(cells=cells))
        archive.writestr("attack.js", ATTACK_JS)
    return buffer.getvalue()


def test_a_static_apps_script_cannot_reach_the_portal_but_bx24_works(page: Any, portal: PortalHandle) -> None:
    from playwright.sync_api import expect

    resp = portal.upload_static_app(hostile_app(), title="Hostile", scopes=["user"])
    assert resp.status_code == 200, resp.text
    app = resp.json()
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")
    # The app still works: BX24 over postMessage, REST on the portal with the user's token.
    expect(frame.locator("#user-name")).to_have_text(portal.portal.directory.full_name(1), timeout=WAIT)
    for name in ATTEMPTS:
        expect(frame.locator(f"#{name}")).not_to_be_empty(timeout=WAIT)
    outcomes = {name: frame.locator(f"#{name}").inner_text() for name in ATTEMPTS}
    assert all(text.startswith("blocked") for text in outcomes.values()), outcomes


def test_the_static_origin_serves_nothing_of_the_portal(portal: PortalHandle) -> None:
    app = portal.upload_static_app(hostile_app(), title="Hostile").json()
    assert urlsplit(portal.static_url).port != urlsplit(portal.base_url).port
    for path in ("/_portal/info", "/_ui/refresh-auth", "/", f"/marketplace/app/{app['id']}/", "/devops/"):
        for verb in ("GET", "POST"):
            resp = requests.request(verb, portal.static_url + path, headers=portal.admin_headers, timeout=10)
            assert resp.status_code in {404, 405}, (verb, path, resp.status_code)
            assert "client_secret" not in resp.text and "page_key" not in resp.text
    # And the portal grants that origin no CORS on anything but its REST API (which wants a token).
    origin = {"Origin": portal.static_url}
    for verb, path in (("GET", "/_portal/info"), ("POST", "/_ui/refresh-auth"), ("GET", "/")):
        resp = requests.request(
            verb, portal.base_url + path, headers={**origin, **portal.admin_headers}, json={}, timeout=10
        )
        assert "Access-Control-Allow-Origin" not in resp.headers, path
    served = requests.get(f"{portal.static_url}/static-apps/{app['id']}/index.html", timeout=10)
    csp = served.headers["Content-Security-Policy"]
    assert f"connect-src 'self' {portal.base_url}/rest/" in csp
    assert f"frame-ancestors {portal.base_url}" in csp


def test_a_portal_without_a_static_origin_hosts_no_static_apps() -> None:
    from portal.app import create_portal
    from portal.config import PortalConfig

    base = "http://127.0.0.1:9"  # never contacted: the Flask test client is the HTTP boundary here
    app = create_portal(PortalConfig(base_url=base, limits=False, cost=None))
    token = app.extensions["b24portal"].admin_token
    resp = app.test_client().post(
        "/_portal/static-apps",
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        data={"title": "x", "archive": (io.BytesIO(hostile_app()), "a.zip")},
    )
    assert resp.status_code == 409 and resp.json is not None
    assert resp.json["error"] == "no static origin"
