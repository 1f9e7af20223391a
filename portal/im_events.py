"""What happens when a person writes to a bot: the message is kept and the bot's app is told.

The payloads are those of the chat bot events in Bitrix24's documentation
(``ONIMBOTMESSAGEADD``, ``ONIMCOMMANDADD``, ``ONIMBOTJOINCHAT``, ``ONIMBOTDELETE``):
``data[BOT]`` (or ``data[COMMAND]``) carries one entry per bot of the app, each with tokens
issued *for the bot user*, so that the app can answer as the bot; ``data[PARAMS]`` the message;
``data[USER]`` its author; the top-level ``auth`` the author's own tokens. They go through the
event bus to the handlers that ``imbot.register`` and ``imbot.command.register`` bound, so
delivery (queue, no retries, only installed apps) is that of every other event.

Our reading where the documentation is silent: a message that starts with a registered command
(``/report ...``) raises ``ONIMCOMMANDADD`` for that command's bot *instead of*
``ONIMBOTMESSAGEADD``; in a group chat a bot of type ``B`` hears only messages that mention it
(``[USER=ID]...[/USER]``), one of type ``S`` hears all.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from portal import errors

if TYPE_CHECKING:
    from portal.core import Portal
    from portal.im_store import ImStore

LANGUAGE = "en"
_MENTION = re.compile(r"\[USER=(\d+)\]", re.IGNORECASE)


def im_store(portal: Portal) -> ImStore:
    return portal.im


def _bot_auth(portal: Portal, bot: dict[str, Any]) -> dict[str, Any]:
    """The bot's own tokens, as ``data[BOT][ID]`` carries them (with a copy under ``AUTH``)."""
    app = portal.credentials.apps.get(bot["CLIENT_ID"]) or {}
    issued = portal.credentials.issue(bot["CLIENT_ID"], int(bot["ID"]))
    auth = {
        "access_token": issued["access_token"],
        "expires": str(issued["expires"]),
        "expires_in": str(issued["expires_in"]),
        "scope": issued["scope"],
        "domain": portal.domain,
        "server_endpoint": issued["server_endpoint"],
        "status": issued["status"],
        "client_endpoint": issued["client_endpoint"],
        "member_id": issued["member_id"],
        "refresh_token": issued["refresh_token"],
        "user_id": str(bot["ID"]),
        "client_id": bot["CLIENT_ID"],
        "application_token": app.get("application_token", ""),
    }
    return {**auth, "AUTH": dict(auth), "BOT_ID": str(bot["ID"]), "BOT_CODE": bot["CODE"]}


def user_block(portal: Portal, user_id: int) -> dict[str, Any]:
    user = portal.directory.get(user_id)
    if user is None:
        return {}
    return {
        "ID": str(user_id),
        "NAME": portal.directory.full_name(user_id),
        "FIRST_NAME": str(user.get("NAME") or ""),
        "LAST_NAME": str(user.get("LAST_NAME") or ""),
        "WORK_POSITION": str(user.get("WORK_POSITION") or ""),
        "GENDER": str(user.get("PERSONAL_GENDER") or ""),
        "IS_BOT": "N",
        "IS_CONNECTOR": "N",
        "IS_NETWORK": "N",
        "IS_EXTRANET": "N",
    }


def message_params(
    portal: Portal, chat: dict[str, Any], message: dict[str, Any], *, bot_id: int, context: str
) -> dict[str, Any]:
    """``data[PARAMS]``: the message as the bot sees it."""
    im = im_store(portal)
    author = int(message["AUTHOR_ID"])
    personal = chat["TYPE"] == "P"
    params: dict[str, Any] = {
        "MESSAGE": message["MESSAGE"],
        "TEMPLATE_ID": str(uuid.uuid4()),
        "MESSAGE_TYPE": chat["TYPE"],
        "FROM_USER_ID": str(author),
        "DIALOG_ID": str(author) if personal else f"chat{chat['ID']}",
        "TO_CHAT_ID": str(chat["ID"]),
        "AUTHOR_ID": str(author),
        "SYSTEM": message["SYSTEM"],
    }
    if personal:
        params["TO_USER_ID"] = str(bot_id)
    else:
        params.update(
            {
                "CHAT_ID": str(chat["ID"]),
                "CHAT_TITLE": chat["TITLE"],
                "CHAT_AUTHOR_ID": str(chat["OWNER"]),
                "CHAT_TYPE": chat["TYPE"],
                "CHAT_COLOR": chat["COLOR"],
                "CHAT_ENTITY_TYPE": chat["ENTITY_TYPE"],
                "CHAT_ENTITY_ID": chat["ENTITY_ID"],
                "IS_MANAGER": "N",
                "BOT_IN_CHAT": {str(b): str(b) for b in im.bots_in(chat)},
            }
        )
    params.update(
        {
            "PUSH": "Y",
            "SKIP_COMMAND": "N",
            "SKIP_CONNECTOR": "N",
            "COMMAND_CONTEXT": context,
            "CHAT_USER_COUNT": str(len(chat["USERS"])),
            "PLATFORM_CONTEXT": "web",
            "MESSAGE_ID": str(message["ID"]),
            "CHAT_TYPE": chat["TYPE"],
            "LANGUAGE": LANGUAGE,
        }
    )
    return params


def _listening_bots(portal: Portal, chat: dict[str, Any], message: dict[str, Any]) -> list[dict[str, Any]]:
    im = im_store(portal)
    author = int(message["AUTHOR_ID"])
    mentioned = {int(m) for m in _MENTION.findall(str(message["MESSAGE"]))}
    found = []
    for bot_id in im.bots_in(chat):
        bot = im.bot(bot_id)
        if bot is None or bot_id == author:
            continue
        if chat["TYPE"] == "P" or bot["TYPE"] == "S" or bot_id in mentioned:
            found.append(bot)
    return found


def _by_app(bots: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    apps: dict[str, list[dict[str, Any]]] = {}
    for bot in bots:
        apps.setdefault(bot["CLIENT_ID"], []).append(bot)
    return apps


def user_wrote(
    portal: Portal, user_id: int, dialog_id: str, text: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A person's message in a dialog: kept, then the bots that hear it are told."""
    im = im_store(portal)
    with portal.lock:
        text = text.strip()
        if not text and not (extra or {}).get("ATTACH"):
            raise errors.RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
        dialog = im.dialog(user_id, dialog_id, known_user=lambda u: portal.directory.get(u) is not None)
        if dialog is None:
            raise errors.RestError("CHAT_ID", "Error creating message", 400)
        message = im.add_message(dialog.chat_id, user_id, {**(extra or {}), "MESSAGE": text})
        chat = im.chat(dialog.chat_id) or {}
        bots = _listening_bots(portal, chat, message)
        handled: set[int] = set()
        if text.startswith("/"):
            name, _, rest = text[1:].partition(" ")
            command = im.find_command(name, [int(b["ID"]) for b in bots])
            if command is not None:
                run_command(portal, user_id, message, command, rest.strip(), "TEXTAREA")
                handled = {int(command["BOT_ID"])}
        for client_id, app_bots in _by_app([b for b in bots if int(b["ID"]) not in handled]).items():
            data = {
                "BOT": {str(b["ID"]): _bot_auth(portal, b) for b in app_bots},
                "PARAMS": message_params(
                    portal, chat, message, bot_id=int(app_bots[0]["ID"]), context="TEXTAREA"
                ),
                "USER": user_block(portal, user_id),
            }
            portal.events.emit_to_app(client_id, "ONIMBOTMESSAGEADD", data, user_id=user_id)
        return message


def run_command(
    portal: Portal,
    user_id: int,
    message: dict[str, Any],
    command: dict[str, Any],
    command_params: str,
    context: str,
) -> None:
    """``ONIMCOMMANDADD`` for ``command``, about ``message`` (typed, or the one with the keyboard)."""
    im = im_store(portal)
    bot = im.bot(int(command["BOT_ID"]))
    chat = im.chat(int(message["CHAT_ID"]))
    if bot is None or chat is None:
        return
    entry = {
        **_bot_auth(portal, bot),
        "COMMAND": command["COMMAND"],
        "COMMAND_ID": str(command["ID"]),
        "COMMAND_PARAMS": command_params,
        "COMMAND_CONTEXT": context,
        "MESSAGE_ID": str(message["ID"]),
    }
    shown = dict(message)
    if context == "KEYBOARD":
        # The press is the user's: PARAMS describe the message the keyboard hangs on, sent to
        # the bot by this user, as a typed command would be.
        shown = {
            **message,
            "AUTHOR_ID": user_id,
            "MESSAGE": f"/{command['COMMAND']} {command_params}".strip(),
        }
    data = {
        "COMMAND": {str(command["ID"]): entry},
        "PARAMS": message_params(portal, chat, shown, bot_id=int(bot["ID"]), context=context),
        "USER": user_block(portal, user_id),
    }
    portal.events.emit_to_app(command["CLIENT_ID"], "ONIMCOMMANDADD", data, user_id=user_id)


def pressed(portal: Portal, user_id: int, message_id: int, bot_id: int, name: str, params: str) -> None:
    """``im.message.command``: a keyboard button with ``COMMAND`` was pressed under ``message_id``."""
    im = im_store(portal)
    with portal.lock:
        message = im.message(message_id)
        chat = im.chat(int(message["CHAT_ID"])) if message else None
        if message is None or chat is None or user_id not in chat["USERS"]:
            raise errors.RestError("MESSAGE_ID_ERROR", "Message ID can't be empty", 400)
        if im.bot(bot_id) is None:
            raise errors.RestError("BOT_ID_ERROR", "Bot ID can't be empty", 400)
        command = im.find_command(name, [bot_id])
        if command is None or int(command["BOT_ID"]) != bot_id:
            raise errors.RestError("COMMAND_ERROR", "Command can't be empty", 400)
        run_command(portal, user_id, message, command, params, "KEYBOARD")


def opened(portal: Portal, user_id: int, bot: dict[str, Any]) -> dict[str, Any]:
    """A person opens the dialog with a bot: the first time, ``ONIMBOTJOINCHAT`` lets it greet them."""
    im = im_store(portal)
    with portal.lock:
        before = len(im.chats)
        chat = im.personal_chat(user_id, int(bot["ID"]))
        if len(im.chats) > before:
            data = {
                "BOT": {str(bot["ID"]): _bot_auth(portal, bot)},
                "PARAMS": {
                    "CHAT_TYPE": "P",
                    "MESSAGE_TYPE": "P",
                    "BOT_ID": str(bot["ID"]),
                    "USER_ID": str(user_id),
                    "TO_USER_ID": str(user_id),
                    "FROM_USER_ID": str(bot["ID"]),
                    "DIALOG_ID": str(user_id),
                    "LANGUAGE": LANGUAGE,
                },
                "USER": user_block(portal, user_id),
            }
            portal.events.emit_to_app(bot["CLIENT_ID"], "ONIMBOTJOINCHAT", data, user_id=user_id)
        return chat


def bot_deleted(portal: Portal, bot: dict[str, Any], user_id: int) -> None:
    data = {"BOT_ID": str(bot["ID"]), "BOT_CODE": bot["CODE"]}
    portal.events.emit_to_app(bot["CLIENT_ID"], "ONIMBOTDELETE", data, user_id=user_id)
