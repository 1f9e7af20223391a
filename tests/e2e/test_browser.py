"""The app inside the portal, in real headless Chromium (Playwright, Debian's /usr/bin/chromium).

The portal runs on ``127.0.0.1``, the app on ``localhost``: two origins, as in production. A
third origin (another port) tries to frame the app page and must be blocked by the browser,
because the app's ``frame-ancestors`` names only the verified portal. Screenshots go to
``tests/artifacts/``. Nothing is loaded from outside loopback.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from portal.app_testing import AppHandle, running_app
from portal.server import ServerThread
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms
LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture
def demo() -> Iterator[tuple[PortalHandle, AppHandle]]:
    with running_portal(contacts=5) as portal, running_app(portal) as app:
        yield portal, app


def shot(page: Any, name: str) -> None:
    screenshot(page, f"webapp-{name}")


def _open_app(page: Any, portal: PortalHandle, app: AppHandle) -> Any:
    page.goto(f"{portal.base_url}/marketplace/app/{app.registered['id']}/")
    return page.frame_locator("iframe.app-iframe")


def test_install_then_app_page_then_contact_tab(page: Any, demo: tuple[PortalHandle, AppHandle]) -> None:
    from playwright.sync_api import expect

    portal, app = demo
    frame = _open_app(page, portal, app)
    # The installer runs in the frame, calls installFinish, and the portal reopens the handler.
    expect(frame.locator("#user-name")).to_have_text(portal.portal.directory.full_name(1), timeout=WAIT)
    [inst] = app.store.all_installations()
    assert inst.client_endpoint == portal.portal.client_endpoint
    assert portal.portal.credentials.apps.get(app.client_id)["installed"] is True
    # The page's own request, authenticated by its page token (no cookies in a third-party frame).
    expect(frame.locator("#api-name")).to_have_text(portal.portal.directory.full_name(1), timeout=WAIT)
    shot(page, "app-page")

    contact = portal.portal.crm.entities["contact"].get(2)
    assert contact is not None
    page.goto(f"{portal.base_url}/crm/contact/details/2/")
    page.locator("a[data-tab^='placement_']", has_text="b24-crest").click()
    tab = page.frame_locator("iframe.app-iframe")
    name = f"{contact['NAME']} {contact['LAST_NAME']}".strip()
    expect(tab.locator("#contact-name")).to_have_text(name, timeout=WAIT)
    shot(page, "contact-tab")


def test_another_user_sees_their_own_name(page: Any, demo: tuple[PortalHandle, AppHandle]) -> None:
    from playwright.sync_api import expect

    portal, app = demo
    app.install()  # by the admin, outside the browser
    page.goto(f"{portal.base_url}/marketplace/app/{app.registered['id']}/?user_id=2")
    frame = page.frame_locator("iframe.app-iframe")
    expect(frame.locator("#user-name")).to_have_text(portal.portal.directory.full_name(2), timeout=WAIT)


ATTACKER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>third origin</title></head>
<body><h1>not the portal</h1>
<iframe name="victim" id="victim" style="width:800px;height:400px"></iframe>
<form id="f" method="post" target="victim" action="{action}">{fields}</form>
<script>document.getElementById("f").submit();</script>
</body></html>"""


def test_third_origin_cannot_frame_the_app(page: Any, demo: tuple[PortalHandle, AppHandle]) -> None:
    portal, app = demo
    app.install()
    # A genuine, fresh context: the server answers 200 with the user's name; only the
    # browser's enforcement of frame-ancestors keeps it out of the attacker's frame.
    query, body = app.frame_fields()
    action = f"{app.url}/?" + "&".join(f"{k}={v}" for k, v in query.items())
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in body.items()
    )
    attacker = Flask("attacker")
    attacker.add_url_rule(
        "/", "index", lambda: ATTACKER_PAGE.format(action=html.escape(action), fields=fields)
    )
    served: list[int] = []

    @attacker.after_request
    def count(resp: Any) -> Any:
        served.append(resp.status_code)
        return resp

    with ServerThread(attacker, "127.0.0.1", 0) as server:
        assert server.url.split(":")[-1] != portal.base_url.split(":")[-1]  # another origin
        page.goto(server.url + "/")
        page.wait_for_timeout(1500)
        victim = next((f for f in page.frames if f.name == "victim"), None)
        assert victim is not None
        shot(page, "third-origin-blocked")
        # Blocked: the frame holds Chromium's error page, not the app's document.
        assert not victim.url.startswith(app.url)
        assert victim.locator("#user-name").count() == 0
    assert served == [200]
