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

import pytest

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
