"""The portal page and BX24.js in real headless Chromium (Playwright).

The portal runs on 127.0.0.1 and a small test app on ``localhost``: a different origin, as a
real app is. The app's pages load the portal's BX24 library and write what they learn into
their own DOM; the tests read it through the portal page's frame. Nothing loads from the
network. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request

from portal.server import ServerThread
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms

# --- the test app -------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>test app</title>
<script src="{bx24}"></script></head>
<body><h1>{heading}</h1>
<dl>
  <dt>name</dt><dd id="name">waiting</dd>
  <dt>placement</dt><dd id="placement"></dd>
  <dt>contact</dt><dd id="contact-id"></dd>
  <dt>batch</dt><dd id="batch"></dd>
  <dt>pages</dt><dd id="pages"></dd>
  <dt>error</dt><dd id="error"></dd>
  <dt>auth</dt><dd id="auth"></dd>
  <dt>refreshed</dt><dd id="refreshed"></dd>
  <dt>after refresh</dt><dd id="after"></dd>
</dl>
<script>
var POSTED = {posted};
function out(id, text) {{ document.getElementById(id).textContent = text; }}
{script}
</script></body></html>
"""

HANDLER_JS = """
BX24.init(function () {
  var info = BX24.placement.info();
  out("placement", info.placement);
  out("contact-id", info.options.ID || "");
  BX24.callMethod("user.current", {}, function (res) {
    if (res.error()) { out("name", "error " + res.error()); return; }
    out("name", res.data().NAME + " " + res.data().LAST_NAME);
  });
  BX24.callBatch({me: ["user.current", {}], list: {method: "crm.contact.list", params: {select: ["ID"]}}},
    function (results) {
      out("batch", results.me.data().ID + "/" + results.list.data().length + "/" + results.list.total());
    });
  BX24.callMethod("crm.contact.list", {select: ["ID"], order: {ID: "ASC"}}, function (res) {
    var seen = res.data().length;
    if (!res.more()) { out("pages", "no more"); return; }
    res.next(function (page2) { out("pages", seen + "+" + page2.data().length + " of " + page2.total()); });
  });
  BX24.callMethod("no.such.method", {}, function (res) {
    var e = res.error();
    out("error", e.status + " " + e.ex.error);
  });
  BX24.setTitle("Test app title");
  BX24.resizeWindow("100%", 432);
});
"""

INSTALL_JS = """
BX24.init(function () {
  if (POSTED.bind) {
    BX24.callMethod("placement.bind", {PLACEMENT: "CRM_CONTACT_DETAIL_TAB", HANDLER: POSTED.bind, TITLE: "Test tab"},
      function (res) {
        if (res.error()) { out("error", String(res.error())); return; }
        BX24.installFinish();
      });
  } else {
    BX24.installFinish();
  }
});
"""

AUTH_JS = """
BX24.init(function () {
  var first = BX24.getAuth();
  out("auth", [first.access_token === POSTED.AUTH_ID, first.refresh_token === POSTED.REFRESH_ID,
               first.domain === POSTED.DOMAIN, first.member_id === POSTED.member_id,
               first.expires_in > 3500].join(","));
  BX24.refreshAuth(function (second) {
    out("refreshed", second.access_token !== first.access_token ? "new token" : "same token");
    BX24.callMethod("user.current", {}, function (res) {
      out("after", res.data().NAME + " with " + (BX24.getAuth().access_token === second.access_token));
    });
  });
});
"""


IMPOSTOR = """<!doctype html><html><body>
<script>
window.received = [];
window.addEventListener("message", function (e) {{ window.received.push(String(e.data)); }});
</script>
<iframe id="app" src="{src}"></iframe>
</body></html>
"""


class FramedApp:
    """A Bitrix24 app with UI on its own origin; it records what the portal POSTed to it."""

    def __init__(self, portal_url: str) -> None:
        self.hits: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = Flask("b24_test_app")
        bx24 = f"{portal_url}/bx24/api/v1/"

        def page(heading: str, script: str, **extra: Any) -> str:
            posted = {**request.form.to_dict(), **request.args.to_dict(), **extra}
            with self.lock:
                self.hits.append({"path": request.path, "method": request.method, "posted": posted})
            # The posted values go into the page as JSON, escaped for a <script> block.
            data = json.dumps(posted).replace("<", "\\u003c")
            return PAGE.format(bx24=bx24, heading=heading, posted=data, script=script)

        @app.route("/handler", methods=["GET", "POST"])
        def handler() -> str:
            return page("handler", HANDLER_JS)

        @app.route("/install", methods=["GET", "POST"])
        def install() -> str:
            return page("installer", INSTALL_JS, bind=request.args.get("bind_to", ""))

        @app.route("/auth", methods=["GET", "POST"])
        def auth() -> str:
            return page("auth", AUTH_JS)

        @app.get("/impostor")
        def impostor() -> str:
            # A page on the app's own origin that frames the app as if it were the portal.
            query = request.query_string.decode()
            return IMPOSTOR.format(src=html.escape(f"/handler?{query}"))

        self.server = ServerThread(app, "localhost", 0).start()
        self.url = self.server.url

    def posts(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [h["posted"] for h in self.hits if h["path"] == path and h["method"] == "POST"]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalHandle]:
    with running_portal(contacts=60) as handle:
        yield handle


@pytest.fixture(scope="module")
def test_app(portal: PortalHandle) -> Iterator[FramedApp]:
    app = FramedApp(portal.base_url)
    try:
        yield app
    finally:
        app.server.stop()


def shot(page: Any, name: str) -> None:
    screenshot(page, f"ui-{name}")


def register(
    portal: PortalHandle, test_app: FramedApp, *, handler: str, install: str = "", **fields: Any
) -> Any:
    return portal.register_app(
        title=fields.pop("title", "Browser app"),
        handler_url=f"{test_app.url}{handler}",
        install_url=f"{test_app.url}{install}" if install else "",
        scopes=["crm", "user", "placement"],
        **fields,
    )


def install_in_browser(page: Any, portal: PortalHandle, app: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("h1")).to_have_text("handler", timeout=WAIT)


# --- tests --------------------------------------------------------------------------------


def test_app_opens_in_the_iframe_and_calls_the_rest_api(
    page: Any, portal: PortalHandle, test_app: FramedApp
) -> None:
    from playwright.sync_api import expect

    app = register(portal, test_app, handler="/handler", install="/install", title="Name app")
    install_in_browser(page, portal, app)
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)
    expect(frame.locator("#placement")).to_have_text("DEFAULT")
    expect(frame.locator("#batch")).to_have_text("1/50/60", timeout=WAIT)
    expect(frame.locator("#pages")).to_have_text("50+10 of 60", timeout=WAIT)
    expect(frame.locator("#error")).to_have_text("404 ERROR_METHOD_NOT_FOUND", timeout=WAIT)
    # The parent obeyed resizeWindow and setTitle.
    expect(page.locator("iframe.app-iframe")).to_have_attribute("style", "height: 432px; width: 100%;")
    expect(page.locator("[data-b24-title]")).to_have_text("Test app title")
    shot(page, "app")

    # The app really got the frame POST, with the query a real portal adds.
    posted = test_app.posts("/handler")[-1]
    assert posted["DOMAIN"] == portal.portal.domain and posted["PROTOCOL"] == "0"
    assert posted["PLACEMENT"] == "DEFAULT" and len(posted["APP_SID"]) == 32
    assert posted["member_id"] == portal.portal.config.member_id

    # Another user opening the same app sees their own name.
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=2")
    expect(page.frame_locator("iframe.app-iframe").locator("#name")).to_have_text(
        "Pavel Sokolov", timeout=WAIT
    )


def test_install_finish_installs_the_app_and_opens_the_handler(
    page: Any, portal: PortalHandle, test_app: FramedApp
) -> None:
    from playwright.sync_api import expect

    app = register(portal, test_app, handler="/handler", install="/install", title="Installer app")
    assert not portal.portal.credentials.apps.get(app["client_id"])["installed"]
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    expect(page.locator(f'li[data-client-id="{app["client_id"]}"] .badge')).to_have_count(0, timeout=WAIT)
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("h1")).to_have_text("handler", timeout=WAIT)
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)
    shot(page, "installed")
    assert portal.portal.credentials.apps.get(app["client_id"])["installed"] is True
    installer, handler = test_app.posts("/install")[-1], test_app.posts("/handler")[-1]
    assert installer["PLACEMENT"] == handler["PLACEMENT"] == "DEFAULT"
    assert installer["APP_SID"] != handler["APP_SID"]


def test_get_auth_and_refresh_auth(page: Any, portal: PortalHandle, test_app: FramedApp) -> None:
    from playwright.sync_api import expect

    app = register(portal, test_app, handler="/auth", title="Auth app")
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#auth")).to_have_text("true,true,true,true,true", timeout=WAIT)
    expect(frame.locator("#refreshed")).to_have_text("new token", timeout=WAIT)
    expect(frame.locator("#after")).to_have_text("Maria with true", timeout=WAIT)
    shot(page, "auth")


def test_placement_tab_on_a_contact_card(page: Any, portal: PortalHandle, test_app: FramedApp) -> None:
    from playwright.sync_api import expect

    # The installer binds the tab (reference 6.2 step 3), then calls installFinish.
    app = register(
        portal,
        test_app,
        handler="/handler",
        install=f"/install?bind_to={test_app.url}/handler",
        title="Tab app",
    )
    install_in_browser(page, portal, app)
    page.goto(f"{portal.base_url}/crm/contact/details/7/")
    page.get_by_role("link", name="Test tab").click()
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#placement")).to_have_text("CRM_CONTACT_DETAIL_TAB", timeout=WAIT)
    expect(frame.locator("#contact-id")).to_have_text("7")
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)
    shot(page, "contact-tab")
    posted = test_app.posts("/handler")[-1]
    assert posted["PLACEMENT"] == "CRM_CONTACT_DETAIL_TAB"
    assert json.loads(posted["PLACEMENT_OPTIONS"]) == {"ID": "7", "URI": "/crm/contact/details/7/"}


def test_parent_answers_only_its_frame_with_its_app_sid(
    page: Any, portal: PortalHandle, test_app: FramedApp
) -> None:
    from playwright.sync_api import expect

    app = register(portal, test_app, handler="/auth", title="Probe app")
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    expect(page.frame_locator("iframe.app-iframe").locator("#auth")).not_to_be_empty(timeout=WAIT)
    child = next(f for f in page.frames if f.url.startswith(test_app.url))
    probe = """async (sid) => {
        const origin = new URLSearchParams(location.search);
        const target = (origin.get("PROTOCOL") === "1" ? "https://" : "http://") + origin.get("DOMAIN");
        return await new Promise((resolve) => {
            const id = "probe" + Math.random().toString(36).slice(2);
            const timer = setTimeout(() => resolve(null), 700);
            window.addEventListener("message", (e) => {
                if (typeof e.data === "string" && e.data.startsWith(id + ":")) {
                    clearTimeout(timer);
                    resolve(JSON.parse(e.data.slice(id.length + 1)));
                }
            });
            parent.postMessage("getInitData::" + id + ":" + sid, target);
        });
    }"""
    sid = child.evaluate("new URLSearchParams(location.search).get('APP_SID')")
    answer = child.evaluate(probe, sid)
    assert answer["DOMAIN"] == portal.portal.domain and answer["AUTH_ID"]
    assert child.evaluate(probe, "0" * 32) is None  # an APP_SID the page did not issue
    # The portal page itself (not its iframe) gets no answer either.
    own = page.evaluate(
        """(sid) => new Promise((resolve) => {
            const timer = setTimeout(() => resolve(null), 500);
            window.addEventListener("message", (e) => {
                if (typeof e.data === "string" && e.data.startsWith("self:")) { clearTimeout(timer); resolve(e.data); }
            });
            window.postMessage("getInitData::self:" + sid, "*");
        })""",
        sid,
    )
    assert own is None


def test_developer_resources_form_adds_an_app_to_the_menu(
    page: Any, portal: PortalHandle, test_app: FramedApp
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{portal.base_url}/devops/")
    page.fill("input[name=title]", "Typed-in app")
    page.fill("input[name=handler_url]", f"{test_app.url}/handler")
    page.fill("input[name=install_url]", f"{test_app.url}/install")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-field=client_id]")).to_contain_text("local.", timeout=WAIT)
    shot(page, "devops")
    page.get_by_role("link", name="Open the application").click()
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)


def test_bx24_talks_only_to_the_portal_origin(page: Any, portal: PortalHandle, test_app: FramedApp) -> None:
    """Framed by a page that is not the portal, BX24 sends it nothing and never initialises."""
    from playwright.sync_api import expect

    query = f"DOMAIN={portal.portal.domain}&PROTOCOL=0&LANG=en&APP_SID={'ab' * 16}"
    page.goto(f"{test_app.url}/impostor?{query}")
    frame = page.frame_locator("#app")
    expect(frame.locator("h1")).to_have_text("handler", timeout=WAIT)
    page.wait_for_timeout(500)
    assert page.evaluate("window.received") == []  # getInitData went to the portal's origin only
    expect(frame.locator("#name")).to_have_text("waiting")
    expect(frame.locator("#placement")).to_have_text("")
