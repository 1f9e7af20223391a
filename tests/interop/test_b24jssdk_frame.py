"""b24jssdk's ``B24Frame``, unchanged, in real Chromium inside the portal's iframe.

The app lives on its own origin (``localhost``, the portal is on 127.0.0.1): a tiny server of
this test serves its pages and the SDK's browser bundle straight from tests/js/node_modules.
The page runs ``initializeB24Frame()`` and writes what it learns into its own DOM, which the
test reads through the portal page. The same flows run once more with the portal's own BX24
library, for comparison: both libraries must meet the same parent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request

from portal.server import ServerThread
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms
BUNDLE = Path(__file__).resolve().parents[1] / "js/node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js"
TAB = "CRM_CONTACT_DETAIL_TAB"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{library} app</title>
<script src="{script}"></script></head>
<body><h1 id="stage">loading</h1>
<dl>
  <dt>install</dt><dd id="install"></dd>
  <dt>placement</dt><dd id="placement"></dd>
  <dt>options</dt><dd id="options"></dd>
  <dt>name</dt><dd id="name"></dd>
  <dt>resized</dt><dd id="resized"></dd>
  <dt>crm</dt><dd id="crm"></dd>
  <dt>error</dt><dd id="error"></dd>
</dl>
<script>
var BIND = {bind};
function out(id, text) {{ document.getElementById(id).textContent = text; }}
function report(what) {{ return fetch("/report", {{method: "POST", body: JSON.stringify(what)}}); }}
{script_body}
</script></body></html>
"""

# b24jssdk: what its README shows, with nothing adapted to this portal.
JSSDK = """
(async function () {
  try {
    var b24 = await B24Js.initializeB24Frame();
    out("install", String(b24.isInstallMode));
    out("placement", b24.placement.placement);
    out("options", JSON.stringify(b24.placement.options));
    if (b24.isInstallMode) {
      out("stage", "installer");
      await report({stage: "installer", install: b24.isInstallMode, placement: b24.placement.placement});
      if (BIND) {
        await b24.actions.v2.call.make({method: "placement.bind",
          params: {PLACEMENT: "CRM_CONTACT_DETAIL_TAB", HANDLER: BIND, TITLE: "jssdk tab"}});
      }
      await b24.installFinish();
      return;
    }
    out("stage", "handler");
    var me = await b24.actions.v2.call.make({method: "user.current", params: {}});
    out("name", me.getData().result.NAME + " " + me.getData().result.LAST_NAME);
    await b24.parent.resizeWindow(640, 480);
    out("resized", "yes");
    await b24.parent.setTitle("jssdk title");
    if (b24.placement.placement === "DEFAULT") {
      var picked = await b24.dialog.selectCRM({entityType: ["contact", "company"], multiple: true});
      out("crm", JSON.stringify(picked));
    }
  } catch (e) {
    out("error", String(e && (e.code || e.message) || e));
  }
})();
"""

# The portal's own BX24 library: the same flows, in its callback style.
BX24 = """
BX24.install(function () {
  out("install", "true");
  out("stage", "installer");
  report({stage: "installer", install: true, placement: BX24.placement.info().placement}).then(function () {
    if (!BIND) { BX24.installFinish(); return; }
    BX24.callMethod("placement.bind", {PLACEMENT: "CRM_CONTACT_DETAIL_TAB", HANDLER: BIND, TITLE: "BX24 tab"},
      function () { BX24.installFinish(); });
  });
});
BX24.init(function () {
  var info = BX24.placement.info();
  out("install", "false");
  out("stage", "handler");
  out("placement", info.placement);
  out("options", JSON.stringify(info.options));
  BX24.callMethod("user.current", {}, function (res) {
    out("name", res.data().NAME + " " + res.data().LAST_NAME);
    BX24.resizeWindow(640, 480, function () {
      out("resized", "yes");
      BX24.setTitle("BX24 title");
      if (info.placement === "DEFAULT") {
        BX24.selectCRM({entityType: ["contact", "company"], multiple: true}, function (picked) {
          out("crm", JSON.stringify(picked));
        });
      }
    });
  });
});
"""


class SdkApp:
    """An app with UI on its own origin, in two builds: b24jssdk's and BX24's."""

    def __init__(self, portal_url: str) -> None:
        self.reports: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = Flask("b24jssdk_test_app")

        @app.route("/<library>/<stage>", methods=["GET", "POST"])
        def page(library: str, stage: str) -> str:
            with self.lock:
                self.posts.append({"library": library, "stage": stage, **request.form.to_dict()})
            bind = json.dumps(request.args.get("bind", "") if stage == "install" else "")
            if library == "jssdk":
                script, body = "/sdk/b24jssdk.js", JSSDK
            else:
                script, body = f"{portal_url}/bx24/api/v1/", BX24
            return PAGE.format(library=library, script=script, script_body=body, bind=bind)

        @app.get("/sdk/b24jssdk.js")
        def bundle() -> Response:
            return Response(BUNDLE.read_bytes(), content_type="application/javascript")

        @app.post("/report")
        def report() -> str:
            with self.lock:
                self.reports.append(json.loads(request.get_data()))
            return "ok"

        self.server = ServerThread(app, "localhost", 0).start()
        self.url = self.server.url


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalHandle]:
    with running_portal(contacts=20, companies=3) as handle:
        yield handle


@pytest.fixture(scope="module")
def sdk_app(portal: PortalHandle) -> Iterator[SdkApp]:
    if not BUNDLE.exists():
        pytest.fail("@bitrix24/b24jssdk is missing: run `npm ci --prefix tests/js` (`make test` does)")
    app = SdkApp(portal.base_url)
    try:
        yield app
    finally:
        app.server.stop()


@pytest.mark.parametrize("library", ["jssdk", "bx24"])
def test_frame_install_call_resize_placement_and_select_crm(
    page: Any, portal: PortalHandle, sdk_app: SdkApp, library: str
) -> None:
    from playwright.sync_api import expect

    handler = f"{sdk_app.url}/{library}/handler"
    app = portal.register_app(
        title=f"{library} app",
        handler_url=handler,
        install_url=f"{sdk_app.url}/{library}/install?bind={handler}",
        scopes=["crm", "user", "placement"],
    )
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")

    # The installer ran with INSTALL set, bound the tab, and installFinish opened the handler.
    expect(frame.locator("#stage")).to_have_text("handler", timeout=WAIT)
    assert {"stage": "installer", "install": True, "placement": "DEFAULT"} in sdk_app.reports
    assert portal.portal.credentials.apps.get(app["client_id"])["installed"] is True
    expect(frame.locator("#install")).to_have_text("false")
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)
    expect(frame.locator("#placement")).to_have_text("DEFAULT")
    # resizeWindow reached the parent, which resized the iframe.
    expect(frame.locator("#resized")).to_have_text("yes", timeout=WAIT)
    expect(page.locator("iframe.app-iframe")).to_have_attribute("style", "height: 480px; width: 640px;")
    expect(page.locator("[data-b24-title]")).to_have_text(
        f"{'jssdk' if library == 'jssdk' else 'BX24'} title"
    )

    # selectCRM: the portal's picker opens over the app; the user picks two contacts and a company.
    picker = page.locator("dialog.b24-picker")
    expect(picker).to_be_visible(timeout=WAIT)
    contacts = picker.locator('fieldset[data-kind="contact"] label')
    expect(contacts.first).to_be_visible(timeout=WAIT)
    picker.get_by_label("Search").fill("")
    contacts.nth(2).locator("input").check()
    contacts.nth(4).locator("input").check()
    picker.locator('fieldset[data-kind="company"] label input').first.check()
    screenshot(page, f"b24jssdk-{library}-picker")
    picker.get_by_role("button", name="Select").click()
    expect(picker).to_have_count(0)
    expect(frame.locator("#crm")).not_to_be_empty(timeout=WAIT)
    picked = json.loads(frame.locator("#crm").text_content() or "{}")
    rows = portal.portal.crm.entities["contact"].rows
    assert [c["id"] for c in picked["contact"]] == ["C_3", "C_5"]
    assert picked["contact"][0] == {
        "id": "C_3",
        "type": "contact",
        "place": "contact",
        "title": f"{rows[3]['NAME']} {rows[3]['LAST_NAME']}",
        "desc": "",
        "url": "/crm/contact/details/3/",
    }
    assert [c["id"][:3] for c in picked["company"]] == ["CO_"]
    assert set(picked) == {"contact", "company"}

    # A placement's options: the tab the installer bound, on contact 7's card.
    page.goto(f"{portal.base_url}/crm/contact/details/7/")
    page.get_by_role("link", name=f"{'jssdk' if library == 'jssdk' else 'BX24'} tab").click()
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#placement")).to_have_text(TAB, timeout=WAIT)
    assert json.loads(frame.locator("#options").text_content() or "") == {
        "ID": "7",
        "URI": "/crm/contact/details/7/",
    }
    expect(frame.locator("#name")).to_have_text("Maria Ivanova", timeout=WAIT)
    expect(frame.locator("#error")).to_be_empty()
    screenshot(page, f"b24jssdk-{library}-tab")
