"""The ``/rest/`` endpoint: incoming webhooks and OAuth calls over HTTP."""

from __future__ import annotations

import contextlib
import socket
import time as _time
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request

from portal import errors, phpjson
from portal.core import Portal
from portal.credentials import AuthContext
from portal.dispatch import Outcome, envelope, execute, time_block
from portal.faults import RequestRecord
from portal.params import AUTH_KEYS, read_params
from portal.registry import lookup

bp = Blueprint("rest", __name__)

_BASE_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "origin, content-type, accept",
    "X-Content-Type-Options": "nosniff",
}


def portal() -> Portal:
    return current_app.extensions["b24portal"]  # type: ignore[no-any-return]


def _xml(value: Any, tag: str = "response") -> str:
    if isinstance(value, dict):
        inner = "".join(_xml(v, k if not str(k).isdigit() else "item") for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml(v, "item") for v in value)
    elif isinstance(value, bool):
        inner = "true" if value else ""
    else:
        inner = escape("" if value is None else str(value))
    return f"<{tag}>{inner}</{tag}>"


def render(body: dict[str, Any], status: int, transport: str, auth: AuthContext | None = None) -> Response:
    if transport == "xml":
        text = '<?xml version="1.0" encoding="utf-8"?>' + _xml(phpjson.php_shape(body))
        resp = Response(text, status=status, content_type="text/xml; charset=utf-8")
    else:
        resp = Response(phpjson.dumps(body), status=status, content_type="application/json; charset=utf-8")
    resp.headers.update(_BASE_HEADERS)
    if auth is not None and auth.client_id:
        resp.headers["X-Bitrix-Rest-Application"] = auth.client_id
    return resp


def _split(path: str) -> tuple[str | None, str | None, str, str]:
    """``uid/secret/method.json`` or ``method.json`` into (uid, secret, method, transport)."""
    parts = path.split("/")
    if len(parts) == 3:
        uid, secret, name = parts
    elif len(parts) == 1:
        uid, secret, name = None, None, parts[0]
    else:
        return None, None, "", "json"
    transport = "json"
    lowered = name.lower()
    for suffix in ("json", "xml"):
        if lowered.endswith("." + suffix):
            name, transport = name[: -len(suffix) - 1], suffix
            break
    return uid, secret, name.lower(), transport


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def authenticate(p: Portal, uid: str | None, secret: str | None, params: dict[str, Any]) -> AuthContext:
    if secret is not None and uid is not None:
        if p.config.webhook_https_only and request.scheme != "https":
            raise errors.RestError("INVALID_REQUEST", "Https required.", 400)
        return p.credentials.resolve_webhook(uid, secret)
    token: Any = None
    for key in AUTH_KEYS:
        if key in params:
            token = params.pop(key)
    token = token or _bearer()
    if not token or not isinstance(token, str):
        raise errors.no_auth()
    return p.credentials.resolve_token(token)


def _drop_connection() -> None:
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@bp.route("/rest/<path:path>", methods=["GET", "POST"])
def rest(path: str) -> Response:
    p = portal()
    ip = request.remote_addr or ""
    uid, secret, name, transport = _split(path)
    auth: AuthContext | None = None
    status = 200
    outcome: Outcome
    batch_size = 0
    if p.config.latency:
        _time.sleep(p.config.scaled(p.config.latency))
    try:
        if request.host in p.moved_from:
            return _moved(p)
        if p.deleted:
            raise errors.RestError("PORTAL_DELETED", "Portal was deleted", 403)
        if p.config.limits and not p.bucket.hit(f"{p.config.member_id}|{ip}"):
            raise errors.query_limit()
        fault = p.faults.take(name)
        if fault is not None and fault.kind == "error":
            raise errors.RestError(fault.error, fault.description, fault.status)
        if fault is not None and fault.kind == "delay":
            _time.sleep(fault.delay)
        spec = lookup(name) if name else None
        if spec is None:
            raise errors.method_not_found()
        params = read_params(request)
        auth = authenticate(p, uid, secret, params)
        if spec.name == "batch":
            batch_size = len(params.get("cmd") or ())
        outcome = execute(p, spec, auth, params, in_batch=False)
        if fault is not None and fault.kind == "drop":
            _drop_connection()
    except errors.RestError as exc:
        now = p.clock.time()
        outcome = Outcome(error=exc, time=time_block(p, now, now, 0.0, None))
    if outcome.error is not None:
        status = outcome.error.status
    p.requests.add(
        RequestRecord(
            time=p.clock.time(),
            path=request.path,
            method=name,
            status=status,
            error=outcome.error.code if outcome.error is not None else None,
            auth=auth.kind if auth else ("webhook" if secret else "none"),
            ip=ip,
            batch_size=batch_size,
        )
    )
    return render(envelope(outcome), status, transport, auth)


def _moved(p: Portal) -> Response:
    """A renamed portal: the old domain answers 302 to the new one with a non-JSON body."""
    location = p.base_url + request.full_path.rstrip("?")
    resp = Response(f'<html><body>Moved to <a href="{location}">{location}</a></body></html>', status=302)
    resp.headers["Location"] = location
    p.requests.add(
        RequestRecord(p.clock.time(), request.path, "", 302, None, "none", request.remote_addr or "")
    )
    return resp
