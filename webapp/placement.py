"""Reading what the portal POSTs into the iframe, and the placement widgets (``/placement/<code>``).

Bodies are decoded from the raw bytes with :func:`crest.forms.decode` (PHP's rules, with
limits), never through ``request.form``: Werkzeug keeps the first of duplicated keys where PHP
keeps the last, and silently returns an empty form for a body that is not UTF-8 (T18, T23).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, render_template, request

from crest.client import Client
from crest.errors import ApiError, FormError, TransportError
from crest.forms import decode
from crest.placement import VerifiedFrame, check_field_names, parse_frame, verify_frame
from webapp.extension import state

__all__ = ["bp", "frame_client", "full_name", "read_form", "read_query", "verified_frame"]

bp = Blueprint("placement", __name__)

#: Depth of PHP-style nested keys an app route accepts; real payloads use 3 (``data[FIELDS][ID]``).
FORM_DEPTH = 8


def read_form() -> dict[str, Any]:
    """The decoded body; 400 for a body that is not a readable form, 413 for one over the limit."""
    if request.mimetype not in ("", "application/x-www-form-urlencoded"):
        abort(400, "expected an application/x-www-form-urlencoded body")
    # get_data() enforces MAX_CONTENT_LENGTH (413) before reading.
    body = request.get_data(cache=True)
    try:
        form = decode(body, max_depth=FORM_DEPTH)
        check_field_names(body)
    except FormError as exc:
        abort(400, exc.description)
    if body.strip(b"& \r\n\t") and not form:
        # Something was sent but nothing could be read from it: never treat it as empty.
        abort(400, "the body holds no form fields")
    return form


def read_query() -> dict[str, Any]:
    """The query string, read by the same rules as the body (``?DOMAIN=a&DOMAIN=b`` is a 400)."""
    raw = request.query_string
    try:
        query = decode(raw, max_depth=FORM_DEPTH)
        check_field_names(raw)
    except FormError as exc:
        abort(400, exc.description)
    return query


def verified_frame() -> VerifiedFrame:
    """The posted iframe context, verified against the store and the OAuth server (T6)."""
    crest = state()
    form = read_form()
    context = parse_frame(form, read_query())
    installation = crest.store.find(context.member_id)
    return verify_frame(context, installation, crest.oauth(), crest.settings.client_id or "")


def frame_client(frame: VerifiedFrame) -> Client:
    """A client that acts as the current user (their ``AUTH_ID``) on the verified endpoint."""
    return state().token_client(frame.client_endpoint, frame.context.auth_id)


def full_name(record: Any) -> str:
    if not isinstance(record, dict):
        return ""
    return " ".join(str(record.get(k) or "").strip() for k in ("NAME", "LAST_NAME")).strip()


def _crm_contact_tab(frame: VerifiedFrame) -> dict[str, Any]:
    contact_id = str(frame.context.options.get("ID") or "")
    if not contact_id.isdigit():
        return {"title": "Contact", "error": "The portal did not say which contact is open."}
    try:
        contact = frame_client(frame).call("crm.contact.get", {"ID": contact_id})
    except ApiError as exc:
        return {"title": "Contact", "error": f"The portal refused: {exc.code or 'error'}."}
    return {"title": "Contact", "contact_id": contact_id, "name": full_name(contact)}


#: URL code -> (the placement it serves, what it shows).
WIDGETS: dict[str, tuple[str, Callable[[VerifiedFrame], dict[str, Any]]]] = {
    "crm_contact_tab": ("CRM_CONTACT_DETAIL_TAB", _crm_contact_tab),
}


@bp.post("/placement/<code>")
def widget(code: str) -> Any:
    found = WIDGETS.get(code)
    if found is None:
        abort(404)
    placement, render = found
    frame = verified_frame()
    if frame.context.placement != placement:
        abort(400, "this handler serves another placement")
    try:
        view = render(frame)
    except TransportError:
        abort(502, "the portal did not answer")
    return render_template(
        "placement.html",
        placement=placement,
        view=view,
        domain=frame.installation.domain,
        bx24_js_url=state().settings.bx24_js_url,
    )
