"""A simulated call on the portal (``/telephony/``) and its call card with the ``CALL_CARD`` tabs.

Bitrix24 shows the call card when a conversation starts (external telephony raises it with
``telephony.externalCall.register``/``show``). Here a person starts one from a form: the phone
number, the direction and, when the number belongs to a CRM contact, that contact. The card
lists the ``CALL_CARD`` placements of installed apps as tabs; a tab opens the app's handler in
an iframe exactly as every placement opens (:func:`portal.ui._launch`), with the documented
``PLACEMENT_OPTIONS``: ``CALL_ID``, ``PHONE_NUMBER``, ``LINE_NUMBER``, ``LINE_NAME``,
``CRM_ENTITY_TYPE``, ``CRM_ENTITY_ID``, ``CRM_BINDINGS``, ``CRM_ACTIVITY_ID``, ``CALL_DIRECTION``,
``CALL_STATE``, ``CALL_LIST_MODE`` and ``URI``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from portal.core import Portal
from portal.params import small_int
from portal.rest import portal
from portal.ui import _current_user, _find_app, _launch, _page, _placement_title

bp = Blueprint("ui_call", __name__, template_folder="templates")

PLACEMENT = "CALL_CARD"
LINE_NUMBER = "+1 555 000-00-00"
DIRECTIONS = ("incoming", "outgoing", "callback")


@bp.url_value_preprocessor
def _pull_user(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The logged-in user, as on every portal page: user 1, or ?user_id=N (tests).
    g.user_id = small_int(request.args.get("user_id", ""), 1)


def normalized(phone: str) -> str:
    """Digits with a leading ``+``, as the card receives numbers (no spaces or separators)."""
    digits = re.sub(r"\D", "", phone)
    return f"+{digits}" if digits else ""


def contact_by_phone(p: Portal, phone: str) -> int | None:
    entity = p.crm.entities["contact"]
    wanted = re.sub(r"\D", "", phone)
    for contact_id in entity.ids:
        for item in entity.full(dict(entity.rows[contact_id])).get("PHONE") or []:
            if isinstance(item, dict) and re.sub(r"\D", "", str(item.get("VALUE") or "")) == wanted:
                return contact_id
    return None


def call_options(call_id: str, phone: str, direction: str, contact_id: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {"CALL_ID": call_id}
    if phone:
        options["PHONE_NUMBER"] = phone  # "If the client's number is unknown, the key is not passed"
    options.update(LINE_NUMBER=LINE_NUMBER, LINE_NAME=LINE_NUMBER)
    if contact_id is not None:
        options.update(CRM_ENTITY_TYPE="CONTACT", CRM_ENTITY_ID=str(contact_id))
        options["CRM_ACTIVITY_ID"] = "undefined"
        options["CRM_BINDINGS"] = [{"ENTITY_TYPE": "CONTACT", "ENTITY_ID": str(contact_id)}]
    else:
        options.update(CRM_ENTITY_TYPE="", CRM_ENTITY_ID="0", CRM_ACTIVITY_ID="undefined")
    options.update(
        CALL_DIRECTION=direction,
        CALL_STATE="connected",
        CALL_LIST_MODE="false",
        URI=f"/crm/contact/details/{contact_id}/" if contact_id is not None else "/telephony/",
    )
    return options


@bp.get("/telephony/")
def telephony() -> str:
    p = portal()
    return _page("portal/telephony.html", p, active="telephony", directions=DIRECTIONS)


@bp.get("/telephony/call/")
def call_card() -> ResponseReturnValue:
    p = portal()
    user = _current_user(p)
    phone = normalized(request.args.get("PHONE", ""))
    direction = request.args.get("DIRECTION", "incoming")
    if direction not in DIRECTIONS:
        abort(400, "DIRECTION is incoming, outgoing or callback")
    call_id = request.args.get("CALL_ID", "")
    if not re.fullmatch(r"externalCall\.[0-9a-f]{32}\.\d+", call_id):
        # A new call: its id stays in the address, so switching tabs keeps the same call.
        call_id = f"externalCall.{secrets.token_hex(16)}.{int(p.clock.time())}"
        return redirect(url_for("ui_call.call_card", PHONE=phone, DIRECTION=direction, CALL_ID=call_id))
    with p.lock:
        contact_id = contact_by_phone(p, phone) if phone else None
        rows = sorted(p.events.placements_for(PLACEMENT), key=lambda r: int(r["id"]))
        tabs: list[dict[str, Any]] = [
            {
                "key": f"placement_{r['id']}",
                "row": r,
                "title": _placement_title(r, p.credentials.apps.get(r["client_id"])),
            }
            for r in rows
        ]
        contact_name = None
        if contact_id is not None:
            row = p.crm.entities["contact"].get(contact_id) or {}
            contact_name = f"{row.get('NAME') or ''} {row.get('LAST_NAME') or ''}".strip()
    selected = request.args.get("tab") or (tabs[0]["key"] if tabs else "")
    tab = next((t for t in tabs if t["key"] == selected), None)
    launch = None
    if tab is not None:
        app = _find_app(p, tab["row"]["client_id"])
        if app is None:
            abort(404)
        launch = _launch(
            p,
            app,
            user_id=int(user["ID"]),
            placement=PLACEMENT,
            options=call_options(call_id, phone, direction, contact_id),
            path="/telephony/call/",
            handler=str(tab["row"]["handler"]),
        )
    return _page(
        "portal/call_card.html",
        p,
        active="telephony",
        phone=phone,
        direction=direction,
        call_id=call_id,
        contact_id=contact_id,
        contact_name=contact_name,
        tabs=tabs,
        selected=tab["key"] if tab else "",
        launch=launch,
        frame_name=launch["frame_name"] if launch else None,
    )
