"""``GET /operator``: Bitrix24's "server-side app without UI", for the person who runs the app.

It shows who installed the app, read with the stored tokens; the client renews them when they
have expired, so the page doubles as a check that the token chain is alive. CRest's equivalent
is open to anyone; this one needs ``settings.operator_key`` (header ``X-Operator-Key`` or
``?key=``), compared in constant time, and does not exist at all when no key is configured.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, render_template, request

from crest.errors import CrestError
from webapp.extension import state
from webapp.placement import full_name

__all__ = ["bp"]

bp = Blueprint("operator", __name__)


def _require_operator() -> None:
    expected = state().settings.operator_key
    if not expected:
        abort(404)
    given = request.headers.get("X-Operator-Key") or request.args.get("key") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        abort(401)


@bp.get("/operator")
def operator_page() -> Any:
    _require_operator()
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
    response = render_template("operator.html", rows=rows)
    # The key may have come in the query string: keep the page out of caches and Referer headers.
    return response, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
