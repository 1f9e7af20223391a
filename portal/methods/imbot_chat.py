"""REST methods: group chats made by a bot (``imbot.chat.add``, ``imbot.chat.get``).

In a group chat a bot of type ``B`` hears only the messages that mention it
(``[USER=<bot id>]...[/USER]``), one of type ``S`` every message (:mod:`portal.im_events`).
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.im_events import im_store
from portal.methods.imbot import _own_bot, post_as_bot
from portal.registry import method

_SCOPE = "imbot"
_TYPES = {"CHAT": "C", "OPEN": "O"}


def _users(call: Call, raw: Any) -> list[int]:
    if raw in (None, ""):
        return []
    if isinstance(raw, dict):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise errors.RestError("INVALID_FORMAT", "Parameter USERS has wrong type", 400)
    users = []
    for value in raw:
        try:
            user_id = int(str(value))
        except ValueError:
            raise errors.RestError("INVALID_FORMAT", "Parameter USERS has wrong type", 400) from None
        if call.portal.directory.get(user_id) is None:
            raise errors.RestError("WRONG_REQUEST", "Chat can't be created", 400)
        users.append(user_id)
    return users


@method("imbot.chat.add", scope=_SCOPE, app_only=True)
def chat_add(call: Call) -> int:
    bot = _own_bot(call, call.param("BOT_ID"), optional=True)
    users = _users(call, call.param("USERS"))
    kind = _TYPES.get(str(call.param("TYPE") or "CHAT").upper(), "C")
    bot_id = int(bot["ID"])
    chat = im_store(call.portal).add_chat(
        {
            "TYPE": kind,
            "TITLE": str(call.param("TITLE") or "").strip() or f"Chat of {bot['CODE']}",
            "DESCRIPTION": str(call.param("DESCRIPTION") or ""),
            "COLOR": str(call.param("COLOR") or "GREEN").upper(),
            "ENTITY_TYPE": str(call.param("ENTITY_TYPE") or ""),
            "ENTITY_ID": str(call.param("ENTITY_ID") or ""),
            "USERS": [bot_id, *dict.fromkeys(u for u in users if u != bot_id)],
            "OWNER": bot_id,
        }
    )
    welcome = str(call.param("MESSAGE") or "").strip()
    if welcome:
        post_as_bot(call, bot, int(chat["ID"]), welcome)
    return int(chat["ID"])


@method("imbot.chat.get", scope=_SCOPE, app_only=True)
def chat_get(call: Call) -> int | None:
    bot = _own_bot(call, call.param("BOT_ID"), optional=True)
    entity_type = str(call.require("ENTITY_TYPE"))
    entity_id = str(call.require("ENTITY_ID"))
    for _, chat in sorted(im_store(call.portal).chats.rows.items()):
        if (
            chat["ENTITY_TYPE"] == entity_type
            and chat["ENTITY_ID"] == entity_id
            and int(bot["ID"]) in chat["USERS"]
        ):
            return int(chat["ID"])
    return None
