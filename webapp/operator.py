"""``/operator``: Bitrix24's "server-side app without UI", for the person who runs the app.

It shows who installed the app, read with the stored tokens; the client renews them when they
have expired, so the page doubles as a check that the token chain is alive. CRest's equivalent
is open to anyone; this one needs ``settings.operator_key`` and does not exist at all when no
key is configured.

The key comes in the ``X-Operator-Key`` header or the page's own POSTed form, never in the URL
(:mod:`crest.operator_key`: URLs are written to access logs), and wrong keys are rate limited.
A page that accepted it carries a short-lived signed token (audience ``operator``) for its
later requests: the hidden ``operator_token`` of its forms, or ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, make_response, render_template, request

from crest.errors import CrestError
from crest.operator_key import KeyCheck
from webapp.extension import state
from webapp.placement import full_name
from webapp.session import PageTokenError, bearer_token

__all__ = ["NO_STORE", "bp", "require_operator"]

bp = Blueprint("operator", __name__)

AUDIENCE = "operator"
#: Operator pages hold installation details: never cached, never in a Referer.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _refuse(status: int, message: str, *, login: bool, retry_after: float = 0.0) -> Any:
    if login:
        body = render_template("operator_login.html", action=request.path, message=message)
        resp = make_response(body, status)
    else:
        resp = make_response(jsonify({"error": "unauthorized", "error_description": message}), status)
    resp.headers.update(NO_STORE)
    if retry_after:
        resp.headers["Retry-After"] = str(int(retry_after) + 1)
    abort(resp)


def require_operator(*, login: bool = True) -> str:
    """Let an operator through, or answer for us (404, 400, 401 or 429); returns a fresh token.

    ``login``: refusals render the key form (pages); otherwise they are JSON (APIs).
    """
    crest = state()
    if not crest.settings.operator_key:
        abort(404)
    if "key" in request.args:
        abort(
            400,
            "The operator key is never accepted in a URL, because URLs are written to access logs: "
            "send it in the X-Operator-Key header or through the form on /operator.",
        )
    tokens = crest.page_tokens()
    token = bearer_token(request.headers.get("Authorization"))
    if not token and request.method == "POST":
        token = str(request.form.get("operator_token") or "")
    if token:
        try:
            tokens.verify(token, audience=AUDIENCE)
        except PageTokenError:
            _refuse(401, "This page has expired; enter the operator key again.", login=login)
        return tokens.issue("", 0, AUDIENCE)
    given = request.headers.get("X-Operator-Key") or ""
    if not given and request.method == "POST":
        given = str(request.form.get("key") or "")
    if not given:
        _refuse(401, "", login=login)
    gate = crest.operator_gate()
    client = request.remote_addr or "unknown"
    outcome = gate.check(given, client)
    if outcome is KeyCheck.LIMITED:
        _refuse(429, "Too many wrong keys; wait a minute.", login=login, retry_after=gate.retry_after(client))
    if outcome is KeyCheck.WRONG:
        _refuse(401, "Wrong operator key.", login=login)
    return tokens.issue("", 0, AUDIENCE)


@bp.route("/operator", methods=["GET", "POST"])
def operator_page() -> Any:
    token = require_operator()
    crest = state()
    installations = crest.store.all_installations()
    rows: list[dict[str, Any]] = []
    for inst in installations:
        row: dict[str, Any] = {"domain": inst.domain, "member_id": inst.member_id, "user_id": inst.user_id}
        try:
            if inst.user_id is None:
                raise LookupError
            users = crest.client(inst.member_id).call("user.get", {"ID": inst.user_id})
            row["installer"] = full_name(users[0]) if isinstance(users, list) and users else ""
        except LookupError:
            row["error"] = "The installation does not name the installing user."
        except CrestError as exc:
            # needs_reinstall, an OAuth outage, a refused call: say which, show no detail.
            row["error"] = exc.hint or exc.code or "error"
        rows.append(row)
    return render_template("operator.html", rows=rows, operator_token=token), 200, NO_STORE
