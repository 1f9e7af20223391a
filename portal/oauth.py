"""The OAuth server (``oauth.bitrix.info`` on the real cloud), served by the local portal.

* ``/oauth/authorize/``: the user's browser; redirects to the app with a 30 s ``code``.
* ``/oauth/token/``: GET (as the docs show) or POST (as CRest sends) for the
  ``authorization_code`` and ``refresh_token`` grants.
* ``/oauth/rest/app.info``: the trusted check of a token and its installation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from crest.errors import FormError
from crest.forms import decode
from portal import phpjson
from portal.credentials import OAuthFailure
from portal.dispatch import iso, time_block
from portal.faults import RequestRecord
from portal.params import small_int
from portal.rest import portal, render

bp = Blueprint("oauth", __name__)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(phpjson.dumps(body), status=status, content_type="application/json; charset=utf-8")


def _params() -> dict[str, Any]:
    """Query and form body; an unreadable one is a 400 ``invalid_request``, never a 500."""
    params: dict[str, Any] = {}
    try:
        if request.query_string:
            params.update(decode(request.query_string))
        if request.mimetype == "application/x-www-form-urlencoded":
            params.update(decode(request.get_data()))
    except FormError as exc:
        raise OAuthFailure("invalid_request", exc.description, 400) from None
    return params


def _record(name: str, status: int, error: str | None) -> None:
    p = portal()
    p.requests.add(
        RequestRecord(
            p.clock.time(), request.path, name, status, error, "oauth_server", request.remote_addr or ""
        )
    )


@bp.route("/oauth/token/", methods=["GET", "POST"])
def token() -> Response:
    p = portal()
    if p.faults.oauth_outage is not None:
        _record("oauth.token", p.faults.oauth_outage, "outage")
        return Response("Service Unavailable", status=p.faults.oauth_outage, content_type="text/html")
    creds = p.credentials
    try:
        params = _params()
        grant = params.get("grant_type")
        with p.lock:
            if grant == "authorization_code":
                body = creds.exchange_code(
                    params.get("client_id"), params.get("client_secret"), params.get("code")
                )
            elif grant == "refresh_token":
                body = creds.refresh_tokens(
                    params.get("client_id"), params.get("client_secret"), params.get("refresh_token")
                )
            else:
                raise OAuthFailure("invalid_request", 'No "grant_type" parameter found', 400)
    except OAuthFailure as exc:
        _record("oauth.token", exc.status, exc.error)
        return _json(exc.body(), exc.status)
    _record("oauth.token", 200, None)
    return _json(body, 200)


@bp.route("/oauth/authorize/", methods=["GET"])
def authorize() -> Response:
    p = portal()
    client_id = request.args.get("client_id", "")
    app = p.credentials.apps.get(client_id)
    if app is None:
        return Response("<h1>Application not found</h1>", status=400, content_type="text/html; charset=utf-8")
    user_id = small_int(request.args.get("user_id", "1"), 1)
    code = p.credentials.new_code(client_id, user_id)
    query = {
        "code": code,
        "state": request.args.get("state", ""),
        "domain": p.domain,
        "member_id": p.config.member_id,
        "scope": ",".join(app["scopes"]),
        "server_domain": p.oauth_domain,
    }
    redirect_uri = app.get("redirect_uri") or app.get("handler_url")
    if not redirect_uri:
        return Response(
            f"<p>Authorization code: <code>{code}</code></p>", content_type="text/html; charset=utf-8"
        )
    sep = "&" if "?" in redirect_uri else "?"
    return Response(status=302, headers={"Location": f"{redirect_uri}{sep}{urlencode(query)}"})


@bp.route("/oauth/rest/<path:name>", methods=["GET", "POST"])
def server_rest(name: str) -> Response:
    """The OAuth server's own REST endpoint; it knows only ``app.info``."""
    p = portal()
    name = name.lower().removesuffix(".json").removesuffix("/")
    now = p.clock.time()
    if name != "app.info":
        _record(f"oauth.{name}", 404, "ERROR_METHOD_NOT_FOUND")
        return render(
            {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, 404, "json"
        )
    try:
        params = _params()
    except OAuthFailure as exc:
        _record("oauth.app.info", exc.status, exc.error)
        return render(exc.body(), exc.status, "json")
    token = params.get("auth") or params.get("access_token")
    header = request.headers.get("Authorization", "")
    if not token and header[:7].lower() == "bearer ":
        token = header[7:].strip()
    record = p.credentials.access.get(token) if isinstance(token, str) else None
    if record is None or record["expires"] <= now:
        code = "expired_token" if record is not None else "invalid_token"
        desc = "The access token provided has expired" if record else "Unable to get application by token"
        _record("oauth.app.info", 401, code)
        return render({"error": code, "error_description": desc}, 401, "json")
    app = p.credentials.apps.get(record["client_id"])
    scope = ",".join(app["scopes"])
    result = {
        "client_id": app["client_id"],
        "scope": scope,
        "expires": iso(record["expires"]),
        "install": {
            "installed": bool(app["installed"]),
            "version": app["version"],
            "status": app["status"],
            "scope": scope,
            "domain": p.domain,
            "uri": p.base_url,
            "client_endpoint": p.client_endpoint,
            "member_id": p.config.member_id,
            "member_type": "PORTAL",
        },
        "user_id": int(record["user_id"]),
    }
    _record("oauth.app.info", 200, None)
    return render({"result": result, "time": time_block(p, now, p.clock.time(), 0.0, None)}, 200, "json")
