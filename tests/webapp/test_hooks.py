"""Your own pages, placements and install steps (webapp.hooks), against the real portal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint

from crest.client import Client
from crest.errors import ConfigError
from crest.installation import Installation
from crest.settings import Settings
from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle
from tests.conftest import screenshot
from webapp.factory import create_app
from webapp.hooks import Page, pages

WAIT = 15_000


def _own_pages(app: Any, seen: list[Any]) -> None:
    kit = pages(app)

    @kit.frame("/")
    def index(page: Page) -> str:
        me = page.client.call("user.current")
        seen.append(("index", page.user_id))
        return f'<!doctype html><script src="{page.bx24_js_url}"></script><h1 id="me">{me["NAME"]}</h1>'

    @kit.frame("/settings")
    def settings_page(page: Page) -> str:
        return '<h1 id="settings">settings</h1>'

    @kit.placement("CRM_CONTACT_DETAIL_TAB", title="Contact ERP")
    def contact_tab(page: Page) -> str:
        seen.append(("deal", page.options.get("ID")))
        return f'<h1 id="deal">deal {page.options.get("ID")}</h1>'

    @kit.on_install
    def installed(installation: Installation) -> None:
        seen.append(("installed", installation.member_id))


@pytest.fixture
def own(portal: PortalHandle) -> Iterator[tuple[AppHandle, list[Any]]]:
    seen: list[Any] = []
    with running_app(portal, demo=False) as app:
        _own_pages(app.app, seen)
        yield app, seen


def test_own_pages_are_served_after_verification(own: tuple[AppHandle, list[Any]]) -> None:
    app, seen = own
    app.install()
    assert ("installed", app.portal.portal.config.member_id) in seen
    resp = app.post_frame("/")
    assert resp.status_code == 200
    assert '<h1 id="me">Maria</h1>' in resp.text
    assert f"frame-ancestors {app.portal.base_url}" == resp.headers["Content-Security-Policy"]
    assert app.post_frame("/settings").status_code == 200
    # A forged AUTH_ID never reaches the view.
    before = len(seen)
    forged = app.post_frame(
        "/", tokens={"access_token": "forged0token0x", "refresh_token": "r" * 12, "expires_in": 3600}
    )
    assert forged.status_code == 401
    assert len(seen) == before


def test_only_the_apps_own_placements_are_bound(own: tuple[AppHandle, list[Any]]) -> None:
    app, seen = own
    app.install()
    bound = app.portal.portal.events.placements_of(app.client_id)
    assert [(p["placement"], p["handler"], p["title"]) for p in bound] == [
        ("CRM_CONTACT_DETAIL_TAB", f"{app.url}/placement/crm_contact_detail_tab", "Contact ERP")
    ]
    resp = app.post_frame(
        "/placement/crm_contact_detail_tab", placement="CRM_CONTACT_DETAIL_TAB", options={"ID": "4"}
    )
    assert resp.status_code == 200
    assert ("deal", "4") in seen
    assert resp.headers["Content-Security-Policy"] == f"frame-ancestors {app.portal.base_url}"
    # The handler serves its own placement only.
    wrong = app.post_frame("/placement/crm_contact_detail_tab", placement="CRM_DEAL_DETAIL_TAB")
    assert wrong.status_code == 400


def test_bare_kit_has_no_demo_page_or_tab(portal: PortalHandle) -> None:
    with running_app(portal, demo=False) as app:
        app.install()
        assert app.portal.portal.events.placements_of(app.client_id) == []
        resp = app.post_frame("/")
        assert resp.status_code == 404
        assert "@pages(app).frame" in resp.text


@pytest.mark.parametrize(
    ("rule", "hint"),
    [
        ("/", "@pages(app).frame"),
        ("/placement/crm_deal_tab", "@pages(app).placement"),
        ("/install", "@pages(app).on_install"),
        ("/events", "@router(app).on"),
        ("/operator", "operator"),
    ],
)
def test_registering_a_kit_route_names_the_hook(rule: str, hint: str) -> None:
    app = create_app(Settings(client_id="local.x", secret_key="k" * 32, store="memory:", events_worker="off"))
    with pytest.raises(ConfigError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        app.add_url_rule(rule, "mine", lambda: "mine", methods=["POST"])
    bp = Blueprint("mine", __name__)
    bp.add_url_rule(rule, "mine", lambda: "mine", methods=["POST"])
    with pytest.raises(ConfigError, match=rule):
        app.register_blueprint(bp)
    # Paths of the app's own are free.
    app.add_url_rule("/api/orders", "orders", lambda: "orders")


def test_frame_pages_cannot_take_kit_paths() -> None:
    app = create_app(Settings(client_id="local.x", secret_key="k" * 32, store="memory:", events_worker="off"))
    for path in ("/install", "/events", "/placement/x", "/api/me", "not-a-path"):
        with pytest.raises(ConfigError):
            pages(app).frame(path)
    with pytest.raises(ConfigError):
        pages(app).placement("crm tab", title="x")


@pytest.mark.browser
def test_own_page_and_tab_in_the_portal(page: Any, portal: PortalHandle) -> None:
    from playwright.sync_api import expect

    seen: list[Any] = []
    with running_app(portal, demo=False) as app:
        _own_pages(app.app, seen)
        page.goto(f"{portal.base_url}/marketplace/app/{app.registered['id']}/")
        frame = page.frame_locator("iframe.app-iframe")
        # The kit's installer page finishes the install; the portal reopens the app's own page.
        expect(frame.locator("#me")).to_have_text("Maria", timeout=WAIT)
        screenshot(page, "hooks-own-page")
        webhook = Client.from_webhook(portal.webhook_url, ca_bundle=portal.ca_bundle)
        contact_id = webhook.call("crm.contact.add", {"fields": {"NAME": "Ada"}})
        page.goto(f"{portal.base_url}/crm/contact/details/{contact_id}/")
        page.locator("a[data-tab^='placement_']", has_text="Contact ERP").click()
        expect(page.frame_locator("iframe.app-iframe").locator("#deal")).to_have_text(
            f"deal {contact_id}", timeout=WAIT
        )
        # Only the app's own tab: the kit's demo tab is not on the card.
        assert page.locator("a[data-tab^='placement_']", has_text="b24-crest").count() == 0
