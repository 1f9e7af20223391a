"""The kit's demo: the page that shows who opened the app and the events it receives, and a
CRM contact tab. ``crest demo`` turns them on (``create_app(..., demo=True)``); an app of your
own registers its own pages through :mod:`webapp.hooks` instead.
"""

from __future__ import annotations

from flask import Flask, request

from crest.errors import ApiError
from webapp.hooks import Page, pages
from webapp.placement import full_name

__all__ = ["init_demo"]


def _app_page(page: Page) -> str:
    user = page.client.call("user.current")
    return page.render(
        "app.html",
        user_name=full_name(user),
        domain=page.domain,
        placement=page.placement,
        js={
            "token": page.token,
            "api": request.script_root + "/api/me",
            "events": request.script_root + "/api/events",
        },
        bx24_js_url=page.bx24_js_url,
    )


def _contact_tab(page: Page) -> str:
    contact_id = str(page.options.get("ID") or "")
    view: dict[str, str]
    if not contact_id.isdigit():
        view = {"title": "Contact", "error": "The portal did not say which contact is open."}
    else:
        try:
            contact = page.client.call("crm.contact.get", {"ID": contact_id})
            view = {"title": "Contact", "contact_id": contact_id, "name": full_name(contact)}
        except ApiError as exc:
            view = {"title": "Contact", "error": f"The portal refused: {exc.code or 'error'}."}
    return page.render(
        "placement.html",
        placement=page.placement,
        view=view,
        domain=page.domain,
        bx24_js_url=page.bx24_js_url,
    )


def init_demo(app: Flask) -> None:
    kit = pages(app)
    kit.frame("/")(_app_page)
    kit.placement("CRM_CONTACT_DETAIL_TAB", title="b24-crest", path="/placement/crm_contact_tab")(
        _contact_tab
    )
