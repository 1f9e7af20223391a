"""Web pages the developer opens cannot drive the local portal's admin API, in real Chromium.

A cross-site page (served from another loopback port) tries what a browser lets any page do
without asking: form posts and no-cors fetches (no preflight) that would switch on an OAuth
outage, add a fault, upload a static app and mark the portal deleted, plus a fetch that
guesses a token header (needs a preflight). A DNS-rebinding page, whose own name resolves to
127.0.0.1 (Chromium's host resolver rules stand in for the attacker's DNS), tries the same on
its "own" origin. Afterwards the portal's state is what it was.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from portal.server import ServerThread
from portal.testing import PortalHandle
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms
REBOUND = "rebind.test"

# Runs on the attacker's page; PORTAL and ZIP are filled in. Sets document.title to "done"
# once every attempt has settled, and keeps what it could read in window.readable.
ATTACK_JS = """
window.readable = [];
function settle(attempt) {
  return attempt.then(
    function (resp) { return resp.type === "opaque" ? null : resp.text().then(function (t) { readable.push(t); }); },
    function () { return null; }
  );
}
function submitted(form) {
  return new Promise(function (resolve) {
    var sink = document.querySelector("iframe[name=" + form.target + "]");
    sink.addEventListener("load", resolve, { once: true });
    form.submit();
  });
}
var zip = Uint8Array.from(atob(ZIP), function (c) { return c.charCodeAt(0); });
var upload = new FormData();
upload.append("archive", new Blob([zip], { type: "application/zip" }), "app.zip");
upload.append("title", "Planted");
Promise.all([
  settle(fetch(PORTAL + "/_portal/static-apps", { method: "POST", mode: "no-cors", body: upload })),
  settle(fetch(PORTAL + "/_portal/oauth-outage", { method: "POST", mode: "no-cors" })),
  settle(fetch(PORTAL + "/_portal/deleted", { method: "POST", mode: "no-cors" })),
  settle(fetch(PORTAL + "/_portal/faults", { method: "POST", mode: "no-cors",
    body: JSON.stringify({ method: "user.current", status: 503 }) })),
  settle(fetch(PORTAL + "/_portal/faults", { method: "POST",
    headers: { "Content-Type": "application/json", "X-Portal-Admin-Token": "guess" },
    body: JSON.stringify({ method: "user.current", status: 503 }) })),
  settle(fetch(PORTAL + "/_portal/info", { mode: "cors" })),
].concat(Array.prototype.map.call(document.forms, submitted))).then(function () {
  document.title = "done";
});
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cute cats</title></head><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe><iframe name="sink3"></iframe>
<form target="sink1" method="post" action="{portal}/_portal/deleted"><input name="deleted" value="1"></form>
<form target="sink2" method="post" action="{portal}/_portal/oauth-outage"><input name="status" value="503"></form>
<form target="sink3" method="post" action="{portal}/_portal/static-apps" enctype="multipart/form-data">
  <input name="title" value="Planted by form"></form>
<script>var PORTAL = {portal_json}; var ZIP = {zip_json};
{attack}</script>
</body></html>
"""


def tiny_app() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<!doctype html><title>planted</title><p>planted</p>")
    return buffer.getvalue()


def attack_page(portal_origin: str) -> bytes:
    return PAGE.format(
        portal=portal_origin,
        portal_json=json.dumps(portal_origin),
        zip_json=json.dumps(base64.b64encode(tiny_app()).decode()),
        attack=ATTACK_JS,
    ).encode()


def serving(body_for: Callable[[], bytes]) -> ServerThread:
    """A server on another loopback port that answers every GET with the attacker's page."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = body_for()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return ServerThread(app, "127.0.0.1", 0)


def state_of(portal: PortalHandle) -> dict[str, Any]:
    p = portal.portal
    return {
        "deleted": p.deleted,
        "outage": p.faults.oauth_outage,
        "faults": p.faults.pending(),
        "apps": sorted(a["title"] for a in p.credentials.apps.values()),
    }


def run_attack(tab: Any, url: str) -> list[str]:
    tab.goto(url)
    tab.wait_for_function("document.title === 'done'", timeout=WAIT)
    return list(tab.evaluate("window.readable"))


def test_a_cross_site_page_changes_nothing(page: Any, portal: PortalHandle) -> None:
    before = state_of(portal)
    with serving(lambda: attack_page(portal.server.url)) as evil:
        # localhost vs 127.0.0.1: another site, not only another origin.
        readable = run_attack(page, f"http://localhost:{evil.port}/")
    assert state_of(portal) == before
    assert not any("client_secret" in text for text in readable)


@pytest.fixture(scope="module")
def rebinding_browser(browser: Any) -> Iterator[Any]:
    """Chromium whose DNS sends REBOUND to 127.0.0.1, and every other name nowhere."""
    rules = f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1, MAP * ~NOTFOUND"
    # The same Playwright as the `browser` fixture's: one sync Playwright per thread.
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    try:
        yield chromium
    finally:
        chromium.close()


def test_a_dns_rebound_page_changes_nothing(rebinding_browser: Any, portal: PortalHandle) -> None:
    """The page's own origin is REBOUND:PORT, now answered by the portal: same-origin to it."""
    port = urlsplit(portal.server.url).port
    origin = f"http://{REBOUND}:{port}"
    context = rebinding_browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    before = state_of(portal)
    try:
        # Any page of that origin will do (the portal's 404 here); the script is the attacker's.
        tab.goto(f"{origin}/no-such-page/")
        tab.evaluate(
            f"() => {{ document.title = 'x'; var PORTAL = {json.dumps(origin)}; "
            f"var ZIP = {json.dumps(base64.b64encode(tiny_app()).decode())}; {ATTACK_JS} }}"
        )
        tab.wait_for_function("document.title === 'done'", timeout=WAIT)
        readable = list(tab.evaluate("window.readable"))
    finally:
        context.close()
    assert errors == []
    assert state_of(portal) == before
    assert not any("client_secret" in text for text in readable)
    # Same-origin, so the answers were readable: each one a refusal of the foreign Host.
    assert readable and all("WRONG_HOST" in text for text in readable), readable
