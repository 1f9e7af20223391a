"""Reading what the portal POSTs into the iframe (the frame pages are served by :mod:`webapp.pages`).

Bodies are decoded from the raw bytes with :func:`crest.forms.decode` (PHP's rules, with
limits), never through ``request.form``: Werkzeug keeps the first of duplicated keys where PHP
keeps the last, and silently returns an empty form for a body that is not UTF-8 (T18, T23).
"""

from __future__ import annotations

from typing import Any

from flask import abort, request

from crest.client import Client
from crest.errors import FormError
from crest.forms import decode
from crest.placement import VerifiedFrame, check_field_names, parse_frame, verify_frame
from webapp.extension import state

__all__ = ["frame_client", "full_name", "read_form", "read_query", "verified_frame"]

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
