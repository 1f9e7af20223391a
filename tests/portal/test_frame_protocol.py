"""The portal page's side of the frame protocol, driven by b24jssdk in real Chromium.

Beyond the flows of tests/interop/test_b24jssdk_frame.py: options that survive a reload,
sliders (openApplication with closeApplication from inside, openPath), the user picker, and
the message formats themselves (the BX24 library's four parts with an empty one, the object
form). The app is on its own origin (``localhost``) and loads the SDK's bundle from
tests/js/node_modules.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response

from portal.server import ServerThread
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms
BUNDLE = Path(__file__).resolve().parents[1] / "js/node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>protocol app</title>
<script src="/sdk/b24jssdk.js"></script></head>
<body><h1 id="stage">loading</h1>
<button id="close" type="button">close me</button>
<pre id="out"></pre><pre id="error"></pre>
<script>
function out(text) {{ document.getElementById("out").textContent = text; }}
(async function () {{
  try {{
    var b24 = await B24Js.initializeB24Frame();
    {body}
  }} catch (e) {{
    document.getElementById("error").textContent = String(e && (e.code || e.message) || e);
  }}
}})();
</script></body></html>
"""

SCENARIOS = {
    # Set an app option and a user option, reload, and read both from the new init data.
    "options": """
    var color = null;
    try { color = b24.options.appGet("color"); } catch (e) { color = null; }
    if (color === null) {
      await b24.options.appSet("color", "green");
      await b24.options.userSet("lang", "fr");
      document.getElementById("stage").textContent = "reloading";
      await b24.parent.reloadWindow();
      return;
    }
    document.getElementById("stage").textContent = "reloaded";
    out(color + "/" + b24.options.userGet("lang"));
    """,
    # Open the app itself in a slider with options; the slider's page closes it.
    "slider": """
    var opts = b24.placement.options;
    if (opts.mode === "inner") {
      document.getElementById("stage").textContent = "inner";
      out(JSON.stringify(opts));
      document.getElementById("close").onclick = function () { b24.slider.closeSliderAppPage(); };
      return;
    }
    document.getElementById("stage").textContent = "opener";
    await b24.slider.openSliderAppPage({mode: "inner", n: 5});
    out("slider closed");
    """,
    # A portal page in a slider; its close answers the app.
    "path": """
    document.getElementById("stage").textContent = "path";
    var answer = await b24.slider.openPath(b24.slider.getUrl("/crm/contact/details/3/"));
    out(JSON.stringify(answer));
    """,
    # A new token from the parent, then the placement's interface and an event binding.
    "auth": """
    document.getElementById("stage").textContent = "auth";
    var first = b24.auth.getAuthData().access_token;
    var second = await b24.auth.refreshAuth();
    var me = await b24.actions.v2.call.make({method: "user.current", params: {}});
    var face = await b24.placement.getInterface();
    var bound = await b24.placement.bindEvent("SomeEvent", function () {});
    await b24.parent.scrollParentWindow(0);
    out(JSON.stringify({renewed: second.access_token !== first, id: me.getData().result.ID,
                        face: face, bound: bound}));
    """,
    "user": """
    document.getElementById("stage").textContent = "user";
    out(JSON.stringify(await b24.dialog.selectUser()));
    """,
    # The older wire forms, sent by hand: four parts with empty params, and the object form.
    "wire": """
    document.getElementById("stage").textContent = "wire";
    var sid = b24.getAppSid();
    var origin = b24.getTargetOrigin();
    var answers = {};
    window.addEventListener("message", function (e) {
      if (typeof e.data !== "string") { return; }
      var id = e.data.split(":")[0];
      if (id === "four" || id === "object" || id === "params") {
        answers[id] = JSON.parse(e.data.slice(id.length + 1));
        if (Object.keys(answers).length === 3) { out(JSON.stringify(answers)); }
      }
    });
    parent.postMessage("getInitData::four:" + sid, origin);
    parent.postMessage("setTitle:{\\"title\\":\\"a:b:c\\"}:params:" + sid, origin);
    parent.postMessage({method: "resizeWindow", params: {width: "100%", height: 321}, callback: "object",
                        appSid: sid}, origin);
    """,
}


class ProtocolApp:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loads: dict[str, int] = {}  # how often each scenario's page was served
        app = Flask("frame_protocol_app")

        @app.route("/app/<scenario>", methods=["GET", "POST"])
        def page(scenario: str) -> str:
            with self.lock:
                self.loads[scenario] = self.loads.get(scenario, 0) + 1
            return PAGE.format(body=SCENARIOS[scenario])

        @app.get("/sdk/b24jssdk.js")
        def bundle() -> Response:
            return Response(BUNDLE.read_bytes(), content_type="application/javascript")

        self.server = ServerThread(app, "localhost", 0).start()
        self.url = self.server.url


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalHandle]:
    with running_portal(contacts=10) as handle:
        yield handle


@pytest.fixture(scope="module")
def proto_app() -> Iterator[ProtocolApp]:
    if not BUNDLE.exists():
        pytest.fail("@bitrix24/b24jssdk is missing: run `npm ci --prefix tests/js` (`make test` does)")
    app = ProtocolApp()
    try:
        yield app
    finally:
        app.server.stop()


def open_scenario(page: Any, portal: PortalHandle, proto_app: ProtocolApp, scenario: str) -> dict[str, Any]:
    app = portal.register_app(
        title=f"{scenario} app", handler_url=f"{proto_app.url}/app/{scenario}", scopes=["crm", "user"]
    )
    portal.portal.credentials.update_app(portal.portal.credentials.apps.get(app["client_id"]), installed=True)
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    return app


def test_frame_is_named_as_bitrix24_names_it(page: Any, portal: PortalHandle, proto_app: ProtocolApp) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "user")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#stage")).to_have_text("user", timeout=WAIT)
    child = next(f for f in page.frames if f.url.startswith(proto_app.url))
    domain, protocol, app_sid = child.evaluate("window.name").split("|")
    assert domain == portal.portal.domain and protocol == "0" and len(app_sid) == 32
    assert child.evaluate("new URLSearchParams(location.search).get('APP_SID')") == app_sid


def test_app_and_user_options_survive_a_reload(
    page: Any, portal: PortalHandle, proto_app: ProtocolApp
) -> None:
    from playwright.sync_api import expect

    app = open_scenario(page, portal, proto_app, "options")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#stage")).to_have_text("reloaded", timeout=WAIT)
    expect(frame.locator("#out")).to_have_text("green/fr")
    assert portal.portal.options.get(app["client_id"]) == {"color": "green"}


def test_app_options_are_for_administrators(page: Any, portal: PortalHandle, proto_app: ProtocolApp) -> None:
    from playwright.sync_api import expect

    app = portal.register_app(
        title="options app 2", handler_url=f"{proto_app.url}/app/options", scopes=["user"]
    )
    portal.portal.credentials.update_app(portal.portal.credentials.apps.get(app["client_id"]), installed=True)
    assert not portal.portal.directory.is_admin(2)
    before = proto_app.loads.get("options", 0)
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=2")
    frame = page.frame_locator("iframe.app-iframe")
    # The parent answered with Bitrix24's error; nothing was saved, so the page reloads and
    # tries again, never seeing "green". (Its "reloading" moment is too short to catch reliably
    # on a loaded machine: count the page's loads instead.)
    deadline = time.monotonic() + WAIT / 1000
    while proto_app.loads.get("options", 0) - before < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # not time.sleep: the page's route guard runs in this thread
    assert proto_app.loads.get("options", 0) - before >= 3
    expect(frame.locator("#stage")).not_to_have_text("reloaded")
    assert portal.portal.options.get(app["client_id"]) == {}


def test_open_application_in_a_slider_closed_from_inside(
    page: Any, portal: PortalHandle, proto_app: ProtocolApp
) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "slider")
    main = page.frame_locator("main iframe.app-iframe")
    expect(main.locator("#stage")).to_have_text("opener", timeout=WAIT)
    slider = page.locator(".b24-slider")
    expect(slider).to_be_visible(timeout=WAIT)
    inner = page.frame_locator(".b24-slider iframe.app-iframe")
    expect(inner.locator("#stage")).to_have_text("inner", timeout=WAIT)
    assert json.loads(inner.locator("#out").text_content() or "") == {"mode": "inner", "n": 5}
    screenshot(page, "frame-protocol-slider")
    inner.locator("#close").click()
    expect(slider).to_have_count(0, timeout=WAIT)
    expect(main.locator("#out")).to_have_text("slider closed", timeout=WAIT)


def test_open_path_in_a_slider(page: Any, portal: PortalHandle, proto_app: ProtocolApp) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "path")
    slider = page.locator(".b24-slider")
    expect(slider).to_be_visible(timeout=WAIT)
    card = page.frame_locator(".b24-slider iframe.b24-slider-page")
    expect(card.locator("main")).to_contain_text(
        portal.portal.crm.entities["contact"].rows[3]["NAME"], timeout=WAIT
    )
    slider.get_by_role("button", name="Close").click()
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#out")).to_have_text(
        json.dumps({"isOpenAtNewWindow": False, "isClose": True}).replace(" ", ""), timeout=WAIT
    )


def test_select_user_answers_in_bitrix24s_shape(
    page: Any, portal: PortalHandle, proto_app: ProtocolApp
) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "user")
    picker = page.locator("dialog.b24-picker")
    expect(picker).to_be_visible(timeout=WAIT)
    picker.get_by_label("Search").fill("pav")
    expect(picker.locator("label.b24-picker-item")).to_have_count(1, timeout=WAIT)
    picker.get_by_label("Pavel Sokolov").check()
    picker.get_by_role("button", name="Select").click()
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#out")).not_to_be_empty(timeout=WAIT)
    user = json.loads(frame.locator("#out").text_content() or "")
    assert user == {
        "id": "2",
        "name": "Pavel Sokolov",
        "photo": "",
        "position": portal.portal.directory.get(2)["WORK_POSITION"],
        "url": "/company/personal/user/2/",
        "sub": False,
        "sup": False,
    }


def test_refresh_auth_interface_and_event_binding(
    page: Any, portal: PortalHandle, proto_app: ProtocolApp
) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "auth")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#out")).not_to_be_empty(timeout=WAIT)
    answer = json.loads(frame.locator("#out").text_content() or "")
    assert answer == {"renewed": True, "id": "1", "face": {"command": [], "event": []}, "bound": {}}


def test_older_wire_forms_are_understood(page: Any, portal: PortalHandle, proto_app: ProtocolApp) -> None:
    from playwright.sync_api import expect

    open_scenario(page, portal, proto_app, "wire")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#out")).not_to_be_empty(timeout=WAIT)
    answers = json.loads(frame.locator("#out").text_content() or "")
    assert answers["four"]["DOMAIN"] == portal.portal.domain and answers["four"]["AUTH_ID"]
    assert answers["params"] == {}
    assert answers["object"] == {"width": "100%", "height": 321}
    expect(page.locator("[data-b24-title]")).to_have_text("a:b:c")
    expect(page.locator("iframe.app-iframe")).to_have_attribute("style", "height: 321px; width: 100%;")
