"""``POST /install``: both install kinds, verified before anything is stored (T1, T2, T5).

* API-only apps get ONAPPINSTALL, server to server; the answer is a plain ``OK``.
* UI apps get the install path POSTed into the iframe (``PLACEMENT=DEFAULT``); the answer is a
  page that calls ``BX24.installFinish()``, which makes the portal reload into the handler.

:class:`crest.install.Installer` does the verifying, pinning and idempotence; this module
adds HTTP and what an installed app sets up once: the placements the app registered
(:mod:`webapp.hooks`), the event bindings of :mod:`webapp.events`, then the app's own
``on_install`` hooks.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, render_template

from crest.errors import CrestError
from crest.install import parse_install
from crest.installation import Installation
from webapp.extension import state
from webapp.hooks import pages
from webapp.pages import bx24_js_url
from webapp.placement import read_form, read_query

__all__ = ["bind_placements", "bp"]

log = logging.getLogger("webapp.install")

bp = Blueprint("install", __name__)


def bind_placements(installation: Installation, base_url: str | None) -> None:
    """Bind the widgets with the installer's tokens. A failure is logged, never fatal to the install.

    Handler URLs come only from ``app_base_url``: a request's ``Host`` header is the sender's
    to choose, and a handler bound there would receive users' tokens (docs/threats.md).
    """
    if not base_url:
        log.warning("app_base_url is not set (CREST_APP_BASE_URL): placements are not bound")
        return
    base_url = base_url.rstrip("/")
    client = state().client(installation.member_id)
    for spec in pages().placements.values():
        fields = {"PLACEMENT": spec.code, "HANDLER": base_url + spec.path, "TITLE": spec.title}
        if spec.description:
            fields["DESCRIPTION"] = spec.description
        try:
            client.call("placement.bind", fields)
        except CrestError as exc:
            # Already bound (a reinstall), or the app lacks the placement scope.
            log.warning("placement.bind %s failed: %s", spec.code, exc.code or type(exc).__name__)


def _after_install(app: Flask, installation: Installation) -> None:
    bind_placements(installation, state().settings.app_base_url)
    from webapp import events

    try:
        events.on_installed(app, installation)
    except CrestError as exc:
        log.warning("binding events failed: %s", exc.code or type(exc).__name__)
    for hook in pages(app).install_hooks:
        # The install itself has succeeded; a failing hook of the app's must not undo it.
        try:
            hook(installation)
        except Exception:
            log.exception("an on_install hook failed on %s", installation.domain)


@bp.post("/install")
def install() -> Any:
    crest = state()
    form = read_form()
    payload = parse_install(form, read_query())
    installation, changed = crest.installer().accept(payload, crest.clock())
    # The frame headers of this very answer may need the portal just verified (no prior install).
    g.crest_installed = installation
    if changed:
        crest.forget(installation.member_id)
        _after_install(current_app._get_current_object(), installation)  # type: ignore[attr-defined]
    log.info("installed on %s (%s, changed=%s)", installation.domain, payload.kind, changed)
    if payload.kind == "event":
        return Response("OK", content_type="text/plain; charset=utf-8")
    return render_template("install.html", domain=installation.domain, bx24_js_url=bx24_js_url(installation))
