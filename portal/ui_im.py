"""The portal's messenger page (``/online/``): a person writes to a chat bot and sees its answers.

The page lists the bots registered on the portal; opening one shows the personal dialog with
it (the first opening raises ``ONIMBOTJOINCHAT``). What the person writes goes through the same
code as ``im.message.add`` (:func:`portal.im_events.user_wrote`), a keyboard button with a
command through that of ``im.message.command``. ``im.js`` polls ``messages.json`` for the
bot's answers, which arrive once the bot's app has handled the event.

The page's own POSTs carry a ``sessid`` tied to the user (as Bitrix24's forms do), so another
site cannot make a person's browser write in their name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState

from portal import errors
from portal.core import Portal
from portal.im_events import im_store, opened, pressed, user_wrote
from portal.methods.imbot import bot_name
from portal.params import small_int
from portal.rest import portal

bp = Blueprint("ui_im", __name__, template_folder="templates")

DEFAULT_USER = 1
_KEY_SLOT = "b24portal.im.sessid-key"
#: The page loads nothing but the portal's own files (as every portal page).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'; form-action 'self'"
)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions[_KEY_SLOT] = secrets.token_bytes(32)


def _sessid(user_id: int) -> str:
    key: bytes = current_app.extensions[_KEY_SLOT]
    return hmac.new(key, f"im:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def _user(p: Portal) -> int:
    user_id = small_int(request.args.get("user_id", ""), DEFAULT_USER)
    if p.directory.get(user_id) is None:
        abort(404, f"No user {user_id} on this portal")
    return user_id


def _bot_or_404(bot_ref: str) -> dict[str, Any]:
    bot = im_store(portal()).bot(small_int(bot_ref, 0))
    if bot is None:
        abort(404, "No such chat bot on this portal")
    return bot


def shown(p: Portal, message: dict[str, Any]) -> dict[str, Any]:
    """One message as the page draws it (no tokens, no internal fields)."""
    im = im_store(p)
    author = int(message["AUTHOR_ID"])
    bot = im.bot(author)
    return {
        "id": int(message["ID"]),
        "author_id": author,
        "author": bot_name(bot) if bot else p.directory.full_name(author),
        "is_bot": bot is not None,
        "text": "" if message["DELETED"] else str(message["MESSAGE"]).replace("[BR]", "\n"),
        "deleted": bool(message["DELETED"]),
        "edited": bool(message["EDITED"]),
        "system": message["SYSTEM"] == "Y",
        "keyboard": message["KEYBOARD"] or [],
    }


@bp.after_request
def _headers(resp: Response) -> Response:
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", _CSP)
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp


@bp.get("/online/")
def messenger() -> str:
    p = portal()
    user_id = _user(p)
    im = im_store(p)
    bots = [
        {"id": int(b["ID"]), "name": bot_name(b), "code": b["CODE"]} for _, b in sorted(im.bots.rows.items())
    ]
    current = None
    ref = request.args.get("IM_DIALOG", "")
    if ref:
        bot = _bot_or_404(ref)
        opened(p, user_id, bot)
        current = {"id": int(bot["ID"]), "name": bot_name(bot)}
    return render_template(
        "portal/messenger.html",
        portal_name=p.domain,
        user_id=user_id,
        user_name=p.directory.full_name(user_id),
        bots=bots,
        current=current,
        sessid=_sessid(user_id),
        query_user="" if user_id == DEFAULT_USER else f"&user_id={user_id}",
    )


def _dialog_chat(p: Portal, user_id: int, bot_id: int) -> dict[str, Any]:
    return im_store(p).personal_chat(user_id, bot_id)


@bp.get("/online/messages.json")
def messages() -> Response:
    p = portal()
    user_id = _user(p)
    bot = _bot_or_404(request.args.get("dialog", ""))
    after = small_int(request.args.get("after", ""), 0)
    with p.lock:
        chat = _dialog_chat(p, user_id, int(bot["ID"]))
        rows = [shown(p, m) for m in im_store(p).history(int(chat["ID"]))]
    # Every message is sent (edits and deletions change old ones); ``after`` only says which are new.
    return jsonify({"messages": rows, "last": max((m["id"] for m in rows), default=after)})


def _posted(user_id: int) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not hmac.compare_digest(str(body.get("sessid", "")), _sessid(user_id)):
        abort(403, "The form has expired: reload the page")
    return body


def _refused(exc: errors.RestError) -> tuple[Response, int]:
    return jsonify({"error": exc.code, "error_description": exc.description}), 400


@bp.post("/online/send")
def send() -> tuple[Response, int] | Response:
    p = portal()
    user_id = _user(p)
    body = _posted(user_id)
    bot = _bot_or_404(str(body.get("dialog", "")))
    try:
        message = user_wrote(p, user_id, str(bot["ID"]), str(body.get("message", "")))
    except errors.RestError as exc:
        return _refused(exc)
    return jsonify({"id": int(message["ID"])})


@bp.post("/online/command")
def command() -> tuple[Response, int] | Response:
    p = portal()
    user_id = _user(p)
    body = _posted(user_id)
    try:
        pressed(
            p,
            user_id,
            small_int(str(body.get("message_id", "")), 0),
            small_int(str(body.get("bot_id", "")), 0),
            str(body.get("command", "")).lstrip("/"),
            str(body.get("params", "")),
        )
    except errors.RestError as exc:
        return _refused(exc)
    return jsonify({"ok": True})
