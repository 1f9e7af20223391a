"""The ``/rest/`` endpoint: incoming webhooks and OAuth calls over HTTP."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time as _time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from flask import Response, current_app
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from portal import errors, phpjson
from portal.core import Portal
from portal.credentials import AuthContext
from portal.dispatch import Outcome, envelope, execute
from portal.faults import RequestRecord
from portal.params import AUTH_KEYS, read_params
from portal.registry import lookup

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


def encode(
    body: dict[str, Any], status: int, transport: str, auth: AuthContext | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    """The payload and headers of an answer; the REST fast path sends them without a Response."""
    if transport == "xml":
        payload = ('<?xml version="1.0" encoding="utf-8"?>' + _xml(phpjson.php_shape(body))).encode()
        headers = [("Content-Type", "text/xml; charset=utf-8"), *_BASE_HEADERS.items()]
    else:
        payload = phpjson.dumps(body).encode()
        headers = [("Content-Type", "application/json; charset=utf-8"), *_BASE_HEADERS.items()]
    if auth is not None and auth.client_id:
        headers.append(("X-Bitrix-Rest-Application", auth.client_id))
    headers.append(("Content-Length", str(len(payload))))
    return payload, headers


def render(body: dict[str, Any], status: int, transport: str, auth: AuthContext | None = None) -> Response:
    payload, headers = encode(body, status, transport, auth)
    return Response(payload, status=status, headers=headers)


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


def _bearer(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def authenticate(
    p: Portal, req: Request, uid: str | None, secret: str | None, params: dict[str, Any]
) -> AuthContext:
    # Auth parameters are taken out of the parameters before the method sees them.
    token: Any = None
    for key in AUTH_KEYS:
        if key in params:
            token = params.pop(key)
    if secret is not None and uid is not None:
        if p.config.webhook_https_only and req.scheme != "https":
            raise errors.RestError("INVALID_REQUEST", "Https required.", 400)
        return p.credentials.resolve_webhook(uid, secret)
    token = token or _bearer(req)
    if not token or not isinstance(token, str):
        raise errors.no_auth()
    return p.credentials.resolve_token(token)


def _drop_connection(req: Request) -> None:
    sock = req.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class RestRequest(Request):
    # The same cap as the Flask app's MAX_CONTENT_LENGTH. Werkzeug cuts a chunked body at it
    # instead of refusing it; that cut body is never processed, because it is over
    # crest.forms.MAX_LENGTH (8 MiB), which read_params refuses (400). Keep this cap above that.
    max_content_length = 16 * 1024 * 1024


def handle(p: Portal, req: Request, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Answer one ``/rest/{path}`` request: status, headers and payload.

    This runs outside Flask (see :class:`RestFastPath`): it is the portal's hot path, and a
    Flask request context, routing and ``Response`` object cost more than the method itself.
    """
    ip = req.remote_addr or ""
    uid, secret, name, transport = _split(path)
    auth: AuthContext | None = None
    outcome: Outcome
    batch_size = 0
    if p.config.latency:
        _time.sleep(p.config.scaled(p.config.latency))
    if req.host in p.moved_from:
        return _moved(p, req)
    try:
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
        params = read_params(req)
        auth = authenticate(p, req, uid, secret, params)
        if spec.name == "batch":
            cmd = params.get("cmd")
            batch_size = len(cmd) if isinstance(cmd, dict | list) else 0
        outcome = execute(p, spec, auth, params, in_batch=False)
        if fault is not None and fault.kind == "drop":
            # Processed, then the connection goes: the client cannot know the outcome.
            _drop_connection(req)
    except errors.RestError as exc:
        outcome = Outcome(error=exc)
    status = outcome.error.status if outcome.error is not None else 200
    p.requests.add(
        RequestRecord(
            time=p.clock.time(),
            path=req.path,
            method=name,
            status=status,
            error=outcome.error.code if outcome.error is not None else None,
            auth=auth.kind if auth else ("webhook" if secret else "none"),
            ip=ip,
            batch_size=batch_size,
        )
    )
    payload, headers = encode(envelope(outcome), status, transport, auth)
    return status, headers, payload


def _moved(p: Portal, req: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    """A renamed portal: the old domain answers 302 to the new one with a non-JSON body."""
    location = p.base_url + req.full_path.rstrip("?")
    body = f'<html><body>Moved to <a href="{escape(location)}">{escape(location)}</a></body></html>'.encode()
    p.requests.add(RequestRecord(p.clock.time(), req.path, "", 302, None, "none", req.remote_addr or ""))
    return (
        302,
        [
            ("Location", location),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}"


_SLASHES = re.compile(r"//+")


class RestFastPath:
    """WSGI middleware that answers ``/rest/...`` itself and hands everything else to Flask."""

    def __init__(self, wsgi_app: WSGIApplication, state: Portal) -> None:
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Bitrix24's nginx merges slashes (merge_slashes on): b24jssdk's OAuth client calls
        # /rest//user.current, since its client_endpoint ends in "/", and that works there.
        path: str = _SLASHES.sub("/", environ.get("PATH_INFO", ""))
        environ["PATH_INFO"] = path
        if not path.startswith("/rest/"):
            return self.wsgi_app(environ, start_response)
        req = RestRequest(environ)
        self.state.learn_base_url(req.host_url)
        try:
            status, headers, payload = handle(self.state, req, path[len("/rest/") :])
        except Exception:  # a bug in a method: answer as a portal does, and say why on stderr
            traceback.print_exc(file=sys.stderr)
            status = 500
            payload, headers = encode(
                {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500, "json"
            )
        start_response(_status_line(status), headers)
        return [payload]
