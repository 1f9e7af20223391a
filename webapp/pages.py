"""The application page (the handler path, ``/``) and the API its scripts call.

``POST /`` is the one entry point that accepts a request without our page token: it is the
portal's iframe POST, and it does nothing before :func:`verified_frame` has tied it to the
stored installation and the OAuth server has vouched for ``AUTH_ID`` (T6, T10). The page then
shows the current user (``user.current`` with *their* token, not the installer's) and gets a
page token for its own later requests (T9). Every ``/api/`` route requires that token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from crest.errors import ApiError, CrestError, TransportError
from webapp.extension import state
from webapp.placement import frame_client, full_name, verified_frame
from webapp.session import PageClaims, PageTokenError, bearer_token

__all__ = ["bp", "require_page_token"]

bp = Blueprint("pages", __name__)


def audience() -> str:
    # Tokens of another app (another client_id) sharing the secret key are refused.
    return f"app:{state().settings.client_id or ''}"


@bp.get("/")
def outside() -> Any:
    """Opened directly, not from a portal: explain, show nothing."""
    return render_template("outside.html")


@bp.post("/")
def app_page() -> Any:
    frame = verified_frame()
    try:
        user = frame_client(frame).call("user.current")
    except ApiError as exc:
        abort(502, f"the portal refused user.current: {exc.code or 'error'}")
    except TransportError:
        abort(502, "the portal did not answer")
    token = state().page_tokens().issue(frame.installation.member_id, frame.user_id, audience())
    return render_template(
        "app.html",
        user_name=full_name(user),
        domain=frame.installation.domain,
        placement=frame.context.placement,
        page={
            "token": token,
            "api": request.script_root + "/api/me",
            "events": request.script_root + "/api/events",
        },
        bx24_js_url=state().settings.bx24_js_url,
    )


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
