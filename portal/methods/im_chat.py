"""REST methods: a person's side of the messenger (``im.message.add``, ``im.message.command``).

A message the calling user sends to a bot's dialog is what the portal's messenger page sends
too: it reaches the bot as ``ONIMBOTMESSAGEADD`` (or ``ONIMCOMMANDADD``), see
:mod:`portal.im_events`.
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.im_blocks import read_blocks
from portal.im_events import im_store, pressed, user_wrote
from portal.registry import method

_SCOPE = "im"


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


@method("im.message.add", scope=_SCOPE)
def message_add(call: Call) -> int:
    dialog_id = str(call.param("DIALOG_ID") or "").strip()
    text = str(call.param("MESSAGE") or "").strip()
    blocks = read_blocks(call.params)
    if not text and "ATTACH" not in blocks:
        raise errors.RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    if not dialog_id.lower().startswith("chat"):
        peer = _int(dialog_id)
        if peer <= 0:
            raise errors.RestError("USER_ID_EMPTY", "User ID can't be empty", 400)
        if call.portal.directory.get(peer) is None and im_store(call.portal).bot(peer) is None:
            raise errors.RestError("USER_NOT_FOUND", "User not found", 400)
    blocks["SYSTEM"] = "Y" if str(call.param("SYSTEM") or "N").upper() == "Y" else "N"
    return int(user_wrote(call.portal, call.user_id, dialog_id, text, blocks)["ID"])


@method("im.message.command", scope=_SCOPE)
def message_command(call: Call) -> bool:
    message_id = _int(call.param("MESSAGE_ID"))
    if message_id <= 0:
        raise errors.RestError("MESSAGE_ID_ERROR", "Message ID can't be empty", 400)
    bot_id = _int(call.param("BOT_ID"))
    if bot_id <= 0:
        raise errors.RestError("BOT_ID_ERROR", "Bot ID can't be empty", 400)
    name = str(call.param("COMMAND") or "").strip().lstrip("/")
    if not name:
        raise errors.RestError("COMMAND_ERROR", "Command can't be empty", 400)
    params = str(call.param("COMMAND_PARAMS") or "").strip()
    pressed(call.portal, call.user_id, message_id, bot_id, name, params)
    return True
