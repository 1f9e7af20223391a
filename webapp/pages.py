"""The iframe entry points (the handler path ``/``, your own frame pages, ``/placement/...``)
and the API the pages' scripts call.

A POST to a frame page is the one kind of request accepted without our page token: it is the
portal's iframe POST, and nothing runs before :func:`verified_frame` has tied it to the stored
installation and the OAuth server has vouched for ``AUTH_ID`` (T6, T10). Then the view that
:mod:`webapp.hooks` registered for that path gets a :class:`~webapp.hooks.Page`: a client that
acts as the current user (*their* token, not the installer's) and a page token for the page's
own later requests (T9). Every ``/api/`` route requires that token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from crest.errors import ApiError, CrestError, TransportError
from crest.installation import Installation
from webapp.extension import state
from webapp.hooks import FrameView, Page, pages
from webapp.placement import frame_client, full_name, verified_frame
from webapp.session import PageClaims, PageTokenError, bearer_token

__all__ = ["audience", "bp", "bx24_js_url", "init_app", "require_page_token"]

bp = Blueprint("pages", __name__)

#: The documented address of Bitrix24's BX24.js (the settings' default).
_CLOUD_BX24 = "//api.bitrix24.com/api/v1/"


def audience() -> str:
    # Tokens of another app (another client_id) sharing the secret key are refused.
    return f"app:{state().settings.client_id or ''}"


def bx24_js_url(installation: Installation) -> str:
    """Where the page loads BX24.js: the setting, except for a portal on this machine.

    The local portal serves the library itself; pointing its pages at the cloud address would
    leave them waiting forever with no network. An explicit ``bx24_js_url`` always wins.
    """
    configured = state().settings.bx24_js_url
    parts = urlsplit(installation.client_endpoint)
    if configured == _CLOUD_BX24 and parts.hostname in {"127.0.0.1", "localhost", "::1"}:
        return f"{parts.scheme}://{parts.netloc}/bx24/api/v1/"
    return configured


def _serve(view: FrameView | None, *, placement: str | None = None) -> ResponseReturnValue:
    frame = verified_frame()
    if placement is not None and frame.context.placement != placement:
        abort(400, "this handler serves another placement")
    if view is None:
        return render_template("no_page.html", domain=frame.installation.domain), 404
    token = state().page_tokens().issue(frame.installation.member_id, frame.user_id, audience())
    page = Page(frame, frame_client(frame), token, bx24_js_url(frame.installation))
    try:
        return view(page)
    except ApiError as exc:
        abort(502, f"the portal refused a call: {exc.code or 'error'}")
    except TransportError:
        abort(502, "the portal did not answer")


@bp.get("/")
def outside() -> Any:
    """Opened directly, not from a portal: explain, show nothing."""
    return render_template("outside.html")


@bp.post("/")
def app_page() -> Any:
    return _serve(pages().frames.get("/"))


@bp.post("/placement/<slug>")
def widget(slug: str) -> Any:
    found = pages().placements.get(slug)
    if found is None:
        abort(404)
    return _serve(found.view, placement=found.code)


def _extra_frame(path: str) -> Any:
    def view() -> Any:
        return _serve(pages().frames.get(path))

    return view


def init_app(app: Flask) -> None:
    """Serve frame pages registered at paths of their own (``@pages(app).frame("/settings")``)."""
    kit = pages(app)

    def added(path: str) -> None:
        if path != "/":
            Flask.add_url_rule(app, path, f"crest_frame:{path}", _extra_frame(path), methods=["POST"])

    kit.on_frame_added = added
    for path in kit.frames:
        added(path)


def require_page_token() -> PageClaims:
    """The claims of the request's bearer token; 401 when missing or invalid. Cookies never count."""
    token = bearer_token(request.headers.get("Authorization"))
    if not token:
        abort(401)
    crest = state()
    try:
        claims = crest.page_tokens().verify(token, audience=audience())
    except PageTokenError:
        abort(401)
    # The portal must still be installed: a token outlives a `crest reset-install`.
    if crest.store.find(claims.member_id) is None:
        abort(401)
    return claims


@bp.get("/api/me")
def api_me() -> Any:
    """The current user's name, read with the app's stored tokens (renewed as needed)."""
    claims = require_page_token()
    try:
        users = state().client(claims.member_id).call("user.get", {"ID": claims.user_id})
    except CrestError as exc:
        return jsonify({"error": exc.code or "error"}), 502
    user = users[0] if isinstance(users, list) and users else {}
    return jsonify({"user_id": claims.user_id, "name": full_name(user)})


@bp.get("/api/events")
def api_events() -> Any:
    """The latest events this portal sent the app (names and times only: bodies hold tokens)."""
    claims = require_page_token()
    from webapp.events import events_state

    recent = [e for e in events_state().inbox.recent(50) if e["member_id"] == claims.member_id]
    return jsonify({"events": recent[:20]}), 200, {"Cache-Control": "no-store"}
