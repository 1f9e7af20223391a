"""The portal's messenger: chat bots, their commands, chats and messages.

Kept apart from the CRM: it receives only where to persist and what time it is, not the whole
portal. The REST side is :mod:`portal.methods.imbot`; the page people write on is
:mod:`portal.ui_im`. Events are raised by :mod:`portal.im_events`.

Dialog ids follow Bitrix24: a personal dialog is named by the *other* side's user id (the bot
sees ``"27"`` for its dialog with user 27, that user sees the bot's id), a group chat by
``"chat<ID>"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.persist import Persistence, Table

#: The chat bot events and the scope an app needs to bind each (merged into the event bus's list).
IMBOT_EVENTS: dict[str, str | None] = {
    "ONIMBOTMESSAGEADD": "imbot",
    "ONIMBOTMESSAGEUPDATE": "imbot",
    "ONIMBOTMESSAGEDELETE": "imbot",
    "ONIMBOTJOINCHAT": "imbot",
    "ONIMBOTDELETE": "imbot",
    "ONIMCOMMANDADD": "imbot",
}

#: imbot.register's handler parameters and the event each one is for.
HANDLER_EVENTS: dict[str, str] = {
    "EVENT_MESSAGE_ADD": "ONIMBOTMESSAGEADD",
    "EVENT_MESSAGE_UPDATE": "ONIMBOTMESSAGEUPDATE",
    "EVENT_MESSAGE_DELETE": "ONIMBOTMESSAGEDELETE",
    "EVENT_WELCOME_MESSAGE": "ONIMBOTJOINCHAT",
    "EVENT_BOT_DELETE": "ONIMBOTDELETE",
}
#: "The maximum number of bots for a single application: 5" (imbot.register).
MAX_BOTS_PER_APP = 5
#: ATTACH, KEYBOARD and MENU are each refused above 30 KB (imbot.message.add).
MAX_BLOCK_BYTES = 30 * 1024
#: Bot users are numbered after the employees, far enough that a seeded portal never meets them.
FIRST_BOT_ID = 1001


@dataclass(frozen=True)
class Dialog:
    """Where a message goes: one chat, as seen from one member."""

    chat_id: int
    kind: str  # "P" personal, "C" group
    #: For a personal dialog, the user on the other side of ``viewer``.
    peer: int | None


def _next(table: Table[int], first: int = 1) -> int:
    return max((*table.rows, first - 1)) + 1


class ImStore:
    def __init__(self, persist: Persistence, now: Callable[[], float]) -> None:
        self.now = now
        self.bots: Table[int] = Table(persist, "im_bot", int)
        self.commands: Table[int] = Table(persist, "im_command", int)
        self.chats: Table[int] = Table(persist, "im_chat", int)
        self.messages: Table[int] = Table(persist, "im_message", int)

    # --- bots -------------------------------------------------------------------------------

    def add_bot(self, record: dict[str, Any]) -> dict[str, Any]:
        bot_id = _next(self.bots, FIRST_BOT_ID)
        bot = {**record, "ID": bot_id}
        self.bots.put(bot_id, bot)
        return bot

    def bot(self, bot_id: int) -> dict[str, Any] | None:
        found = self.bots.get(bot_id)
        return dict(found) if found else None

    def bots_of(self, client_id: str) -> list[dict[str, Any]]:
        return [dict(b) for _, b in sorted(self.bots.rows.items()) if b["CLIENT_ID"] == client_id]

    def bot_by_code(self, code: str) -> dict[str, Any] | None:
        for bot in self.bots.values():
            if bot["CODE"] == code:
                return dict(bot)
        return None

    def put_bot(self, bot: dict[str, Any]) -> None:
        self.bots.put(int(bot["ID"]), bot)

    def remove_bot(self, bot_id: int) -> None:
        """The bot, its commands and its personal chats go ("personal chats ... will also be deleted")."""
        self.bots.delete(bot_id)
        for key in [k for k, c in self.commands.rows.items() if c["BOT_ID"] == bot_id]:
            self.commands.delete(key)
        for chat_id, chat in list(self.chats.rows.items()):
            if bot_id not in chat["USERS"]:
                continue
            if chat["TYPE"] == "P":
                self.chats.delete(chat_id)
                for key in [k for k, m in self.messages.rows.items() if m["CHAT_ID"] == chat_id]:
                    self.messages.delete(key)
            else:
                self.chats.put(chat_id, {**chat, "USERS": [u for u in chat["USERS"] if u != bot_id]})

    # --- commands ---------------------------------------------------------------------------

    def add_command(self, record: dict[str, Any]) -> dict[str, Any]:
        command_id = _next(self.commands)
        command = {**record, "ID": command_id}
        self.commands.put(command_id, command)
        return command

    def command(self, command_id: int) -> dict[str, Any] | None:
        found = self.commands.get(command_id)
        return dict(found) if found else None

    def find_command(self, name: str, bot_ids: list[int]) -> dict[str, Any] | None:
        """The command ``name`` of one of ``bot_ids``, or a common one (``COMMON=Y``) of any bot."""
        wanted = name.lower()
        for _, command in sorted(self.commands.rows.items()):
            if command["COMMAND"].lower() != wanted:
                continue
            if command["BOT_ID"] in bot_ids or command["COMMON"] == "Y":
                return dict(command)
        return None

    def commands_of(self, bot_ids: list[int]) -> list[dict[str, Any]]:
        return [dict(c) for _, c in sorted(self.commands.rows.items()) if c["BOT_ID"] in bot_ids]

    # --- chats ------------------------------------------------------------------------------

    def personal_chat(self, a: int, b: int) -> dict[str, Any]:
        """The personal chat of two users (a bot is a user), made on first use."""
        pair = sorted((a, b))
        for chat in self.chats.values():
            if chat["TYPE"] == "P" and sorted(chat["USERS"]) == pair:
                return dict(chat)
        return self.add_chat({"TYPE": "P", "TITLE": "", "USERS": pair, "OWNER": a})

    def add_chat(self, record: dict[str, Any]) -> dict[str, Any]:
        chat_id = _next(self.chats)
        chat = {"COLOR": "GREEN", "DESCRIPTION": "", "ENTITY_TYPE": "", "ENTITY_ID": "", **record}
        chat["ID"] = chat_id
        self.chats.put(chat_id, chat)
        return chat

    def chat(self, chat_id: int) -> dict[str, Any] | None:
        found = self.chats.get(chat_id)
        return dict(found) if found else None

    def put_chat(self, chat: dict[str, Any]) -> None:
        self.chats.put(int(chat["ID"]), chat)

    def dialog(self, viewer: int, dialog_id: str, *, known_user: Callable[[int], bool]) -> Dialog | None:
        """The chat ``dialog_id`` names for ``viewer``; ``None`` when there is no such dialog."""
        dialog_id = dialog_id.strip()
        if dialog_id.lower().startswith("chat"):
            number = dialog_id[4:]
            chat = self.chat(int(number)) if number.isdigit() else None
            if chat is None or viewer not in chat["USERS"]:
                return None
            return Dialog(int(chat["ID"]), str(chat["TYPE"]), None)
        if not dialog_id.isdigit():
            return None
        peer = int(dialog_id)
        if peer == viewer or not (known_user(peer) or peer in self.bots):
            return None
        chat = self.personal_chat(viewer, peer)
        return Dialog(int(chat["ID"]), "P", peer)

    def bots_in(self, chat: dict[str, Any]) -> list[int]:
        return [u for u in chat["USERS"] if u in self.bots]

    # --- messages ---------------------------------------------------------------------------

    def add_message(self, chat_id: int, author: int, fields: dict[str, Any]) -> dict[str, Any]:
        message_id = _next(self.messages)
        message = {
            "ID": message_id,
            "CHAT_ID": chat_id,
            "AUTHOR_ID": author,
            "MESSAGE": "",
            "KEYBOARD": None,
            "ATTACH": None,
            "MENU": None,
            "SYSTEM": "N",
            "DATE": self.now(),
            "EDITED": False,
            "DELETED": False,
            **fields,
        }
        self.messages.put(message_id, message)
        return message

    def message(self, message_id: int) -> dict[str, Any] | None:
        found = self.messages.get(message_id)
        return dict(found) if found else None

    def put_message(self, message: dict[str, Any]) -> None:
        self.messages.put(int(message["ID"]), message)

    def delete_message(self, message_id: int) -> None:
        self.messages.delete(message_id)

    def history(self, chat_id: int, after: int = 0) -> list[dict[str, Any]]:
        return [
            dict(m)
            for key, m in sorted(self.messages.rows.items())
            if m["CHAT_ID"] == chat_id and key > after
        ]


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())
