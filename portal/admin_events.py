"""Admin API for events under ``/_portal/``: deliveries, outgoing webhooks, app deletion.

| route | does |
|---|---|
| ``GET /deliveries`` | every delivery attempt (event, handler, status or error, time, payload) |
| ``DELETE /deliveries`` | forget the record |
| ``POST /deliveries/flush`` | block until the delivery queue is empty (``{"timeout": s}``) |
| ``GET/POST /outgoing-webhooks`` | list / create ``{url, events}`` → ``{id, application_token}`` |
| ``DELETE /outgoing-webhooks/<id>`` | remove one |
| ``DELETE /apps/<client_id>`` | delete an app: ONAPPUNINSTALL, then its handlers, placements, options go |
| ``GET /handlers``, ``GET /placements`` | what apps have bound |
| ``POST /events/emit`` | raise an event ``{event, data, user_id}`` as a portal action would |

Access is checked once for all of ``/_portal/`` by :mod:`portal.admin_access`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from portal.eventbus import EVENTS
from portal.rest import portal

bp = Blueprint("admin_events", __name__, url_prefix="/_portal")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _bad(message: str, status: int = 400) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


@bp.get("/deliveries")
def deliveries() -> Response:
    records = portal().events.deliveries()
    event = request.args.get("event")
    if event:
        records = [r for r in records if r["event"] == event.upper()]
    after = request.args.get("after", type=int)
    if after is not None:
        records = [r for r in records if r["id"] > after]
    return jsonify(records)


@bp.delete("/deliveries")
def clear_deliveries() -> Response:
    portal().events.clear_deliveries()
    return jsonify({"ok": True})


@bp.post("/deliveries/flush")
def flush_deliveries() -> Response:
    # Never under the portal lock: the worker does not need it, but REST calls would wait.
    timeout = float(_body().get("timeout", 10))
    drained = portal().events.flush(timeout)
    return jsonify({"drained": drained})


@bp.get("/outgoing-webhooks")
def list_outgoing() -> Response:
    return jsonify(portal().events.outgoing.values())


@bp.post("/outgoing-webhooks")
def add_outgoing() -> Response:
    data = _body()
    url = str(data.get("url", ""))
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return _bad("url must be an absolute http(s) URL")
    events = data.get("events")
    if not isinstance(events, list) or not events:
        return _bad("events must be a non-empty list of event names")
    unknown = sorted({str(e).upper() for e in events} - EVENTS.keys())
    if unknown:
        return _bad(f"unknown events: {', '.join(unknown)}")
    p = portal()
    with p.lock:
        hook = p.events.add_outgoing(url, (str(e) for e in events))
    return jsonify(hook)


@bp.delete("/outgoing-webhooks/<hook_id>")
def delete_outgoing(hook_id: str) -> Response:
    p = portal()
    with p.lock:
        gone = p.events.outgoing.delete(hook_id)
    if gone is None:
        return _bad("no such outgoing webhook", 404)
    return jsonify({"ok": True})


@bp.delete("/apps/<client_id>")
def delete_app(client_id: str) -> Response:
    p = portal()
    clean = str(request.args.get("clean", _body().get("clean", ""))).lower() in {"1", "true", "y"}
    with p.lock:
        app = p.credentials.apps.get(client_id)
        if app is None:
            return _bad("unknown client_id", 404)
        app = p.events.app_uninstalled(app, clean=clean)
    return jsonify(app)


@bp.post("/apps/<client_id>/update")
def update_app(client_id: str) -> Response:
    """Publish a new version of an app, as its developer does: ONAPPUPDATE, then its handlers go."""
    p = portal()
    with p.lock:
        app = p.credentials.apps.get(client_id)
        if app is None:
            return _bad("unknown client_id", 404)
        app = p.events.app_updated(app)
    return jsonify(app)


@bp.get("/handlers")
def handlers() -> Response:
    return jsonify(portal().events.all_handlers())


@bp.get("/placements")
def placements() -> Response:
    code = request.args.get("placement")
    bus = portal().events
    rows = bus.placements_for(code) if code else bus.placements.values()
    return jsonify(rows)


@bp.post("/events/emit")
def emit() -> Response:
    data = _body()
    event = str(data.get("event", "")).upper()
    if event not in EVENTS:
        return _bad("unknown event")
    payload = data.get("data")
    user_id = data.get("user_id", 1)
    portal().events.emit(
        event, payload if isinstance(payload, dict) else {}, user_id=int(user_id) if user_id else None
    )
    return jsonify({"ok": True})
