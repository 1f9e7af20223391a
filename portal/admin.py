"""The admin API under ``/_portal/``: faults, the request record, the clock.

Tests and benchmarks drive the portal through it, over HTTP, as they would a real one. Every
request is first checked by :mod:`portal.admin_access` (loopback, the portal's own ``Host``,
the admin token), for this blueprint and every other route under ``/_portal/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from portal.credentials import ALL_SCOPES
from portal.faults import Fault
from portal.rest import portal

bp = Blueprint("admin", __name__, url_prefix="/_portal")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.get("/info")
def info() -> Response:
    return jsonify(portal().info())


@bp.get("/requests")
def requests_() -> Response:
    records = portal().requests.all()
    since = request.args.get("since", type=float)
    if since is not None:
        records = [r for r in records if r["time"] >= since]
    return jsonify(records)


@bp.delete("/requests")
def clear_requests() -> Response:
    portal().requests.clear()
    return jsonify({"ok": True})


@bp.get("/faults")
def faults() -> Response:
    return jsonify(portal().faults.pending())


@bp.post("/faults")
def add_fault() -> Response:
    try:
        fault = Fault.from_json(_body())
    except (KeyError, ValueError, TypeError) as exc:
        return jsonify({"error": f"bad fault: {exc}"}), 400  # type: ignore[return-value]
    portal().faults.add(fault)
    return jsonify({"ok": True, "fault": fault.__dict__})


@bp.delete("/faults")
def clear_faults() -> Response:
    portal().faults.clear()
    return jsonify({"ok": True})


@bp.post("/oauth-outage")
def oauth_outage() -> Response:
    status = int(_body().get("status", 503))
    portal().faults.oauth_outage = status
    return jsonify({"ok": True, "status": status})


@bp.delete("/oauth-outage")
def oauth_restore() -> Response:
    portal().faults.oauth_outage = None
    return jsonify({"ok": True})


@bp.post("/clock")
def clock() -> Response:
    """``{"advance": seconds}`` moves the clock on; ``{"freeze": true|false}`` stops or restarts it."""
    body = _body()
    c = portal().clock
    if "freeze" in body:
        c.freeze(bool(body["freeze"]))
    offset = c.advance(float(body.get("advance", 0)))
    return jsonify({"offset": offset, "time": c.time(), "frozen": c.frozen})


@bp.post("/limits/reset")
def reset_limits() -> Response:
    p = portal()
    p.bucket.reset()
    p.operating.reset()
    return jsonify({"ok": True})


@bp.post("/domain-change")
def domain_change() -> Response:
    """Rename the portal: the old host answers 302 to ``base_url`` from now on."""
    p = portal()
    new = str(_body().get("base_url", "")).rstrip("/")
    parts = urlsplit(new)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return jsonify({"error": "base_url must be an absolute http(s) URL"}), 400  # type: ignore[return-value]
    p.moved_from.add(p.domain)
    p.moved_from.discard(parts.netloc)
    p.set_base_url(new)
    return jsonify(p.info())


@bp.post("/deleted")
def deleted() -> Response:
    p = portal()
    p.deleted = bool(_body().get("deleted", True))
    return jsonify({"deleted": p.deleted})


@bp.post("/webhooks")
def add_webhook() -> Response:
    data = _body()
    p = portal()
    scopes = tuple(data.get("scopes") or ALL_SCOPES)
    with p.lock:
        hook = p.credentials.add_webhook(int(data.get("user_id", 1)), scopes)
    return jsonify({**hook, "url": p.credentials.webhook_url(hook)})


@bp.post("/apps")
def add_app() -> Response:
    """Register a local application, as on the portal's Developer resources form."""
    data = _body()
    p = portal()
    with p.lock:
        app = p.register_app(
            title=str(data.get("title", "Local application")),
            handler_url=str(data.get("handler_url", "")),
            install_url=str(data.get("install_url", "")),
            scopes=tuple(data.get("scopes") or ALL_SCOPES),
            api_only=bool(data.get("api_only", False)),
            redirect_uri=str(data.get("redirect_uri", "")),
        )
    return jsonify(app)


@bp.post("/tokens")
def issue_tokens() -> Response:
    """Issue a token pair for an app and user directly (what an install or authorize would give)."""
    data = _body()
    p = portal()
    client_id = str(data.get("client_id") or p.default_app["client_id"])
    app = p.credentials.apps.get(client_id)
    if app is None:
        return jsonify({"error": "unknown client_id"}), 404  # type: ignore[return-value]
    if app.get("uninstalled"):
        return jsonify({"error": "the application is not installed"}), 409  # type: ignore[return-value]
    with p.lock:
        return jsonify(p.credentials.issue(client_id, int(data.get("user_id", 1))))
