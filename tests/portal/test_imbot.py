"""Chat bots on the local portal: imbot.* methods and their errors, and the events a bot's
handlers really receive (a real HTTP server on 127.0.0.1, bodies read with PHP's rules)."""

from __future__ import annotations

from typing import Any

import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok as ok
from tests.portal._portal_helpers import app_rest as rest
from tests.portal._portal_helpers import hook_rest, hook_result
from tests.portal.test_events import Receiver, flush, install, receiver

__all__ = ["receiver"]

BOT_KEYS = [
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "refresh_token",
    "user_id",
    "client_id",
    "application_token",
    "AUTH",
    "BOT_ID",
    "BOT_CODE",
]


def _app(portal: PortalHandle, receiver: Receiver) -> tuple[dict[str, Any], str]:
    app = install(portal, receiver)
    return app, portal.issue_tokens(app["client_id"])["access_token"]


def _register(portal: PortalHandle, token: str, receiver: Receiver, code: str = "helper") -> int:
    return int(
        ok(
            portal,
            "imbot.register",
            token,
            CODE=code,
            TYPE="B",
            EVENT_HANDLER=receiver.url("bot"),
            PROPERTIES={"NAME": "Helper", "WORK_POSITION": "Answers"},
        )
    )


def _error(portal: PortalHandle, method: str, token: str, **params: Any) -> tuple[int, str]:
    status, body = rest(portal, method, token, **params)
    return status, body.get("error", "")


def test_register_checks_its_parameters_as_bitrix24_does(portal: PortalHandle, receiver: Receiver) -> None:
    _, token = _app(portal, receiver)
    url = receiver.url("bot")
    props = {"NAME": "Helper"}
    assert _error(portal, "imbot.register", token, EVENT_HANDLER=url, PROPERTIES=props) == (400, "CODE_ERROR")
    assert _error(portal, "imbot.register", token, CODE="x", PROPERTIES=props) == (
        400,
        "EVENT_MESSAGE_ADD_ERROR",
    )
    assert _error(
        portal,
        "imbot.register",
        token,
        CODE="x",
        EVENT_MESSAGE_ADD=url,
        EVENT_BOT_DELETE=url,
        PROPERTIES=props,
    ) == (400, "EVENT_WELCOME_MESSAGE_ERROR")
    assert _error(portal, "imbot.register", token, CODE="x", EVENT_HANDLER="ftp://x/", PROPERTIES=props) == (
        400,
        "EVENT_MESSAGE_ADD_ERROR",
    )
    assert _error(
        portal, "imbot.register", token, CODE="x", EVENT_HANDLER=url, PROPERTIES={"COLOR": "RED"}
    ) == (
        400,
        "NAME_ERROR",
    )
    # A webhook is not an app: this portal serves bots to OAuth apps only.
    resp = hook_rest(portal, "imbot.register", {"CODE": "x", "EVENT_HANDLER": url, "PROPERTIES": props})
    assert resp.status_code == 403 and resp.json()["error"] == "WRONG_AUTH_TYPE"
    bot_id = _register(portal, token, receiver)
    assert _register(portal, token, receiver) == bot_id  # the same code is the same bot
    assert ok(portal, "imbot.bot.list", token) == {
        str(bot_id): {"ID": bot_id, "NAME": "Helper", "CODE": "helper", "OPENLINE": "N"}
    }
    bound = {(h["event"], h["handler"]) for h in ok(portal, "event.get", token)}
    for event in ("ONIMBOTMESSAGEADD", "ONIMBOTJOINCHAT", "ONIMBOTDELETE"):
        assert (event, url) in bound


def test_a_message_to_the_bot_reaches_its_handler_with_the_bots_own_tokens(
    portal: PortalHandle, receiver: Receiver
) -> None:
    app, token = _app(portal, receiver)
    bot_id = _register(portal, token, receiver)
    message_id = hook_result(portal, "im.message.add", {"DIALOG_ID": str(bot_id), "MESSAGE": "Hello bot"})
    flush(portal)
    [body] = receiver.at("bot")
    assert body["event"] == "ONIMBOTMESSAGEADD"
    data = body["data"]
    assert list(data) == ["BOT", "PARAMS", "USER"]
    entry = data["BOT"][str(bot_id)]
    assert list(entry) == BOT_KEYS
    assert entry["user_id"] == str(bot_id) and entry["BOT_CODE"] == "helper"
    assert entry["client_id"] == app["client_id"] and entry["application_token"] == app["application_token"]
    assert entry["AUTH"] == {k: entry[k] for k in BOT_KEYS[:13]}
    params = data["PARAMS"]
    assert params["MESSAGE"] == "Hello bot" and params["MESSAGE_ID"] == str(message_id)
    assert (
        params["DIALOG_ID"] == "1" and params["FROM_USER_ID"] == "1" and params["TO_USER_ID"] == str(bot_id)
    )
    assert (
        params["MESSAGE_TYPE"] == "P"
        and params["CHAT_TYPE"] == "P"
        and params["COMMAND_CONTEXT"] == "TEXTAREA"
    )
    assert data["USER"]["ID"] == "1" and data["USER"]["NAME"] == "Maria Ivanova"
    # The top-level auth is the author's (refresh token included, as captured); the bot's
    # token answers as the bot.
    assert body["auth"]["user_id"] == "1" and body["auth"]["refresh_token"]
    reply = ok(
        portal,
        "imbot.message.add",
        entry["access_token"],
        BOT_ID=bot_id,
        DIALOG_ID=params["DIALOG_ID"],
        MESSAGE="Hi Maria",
        KEYBOARD={
            "BUTTONS": [
                {"TEXT": "Help", "COMMAND": "help"},
                {"TYPE": "NEWLINE"},
                {"TEXT": "Site", "LINK": "https://example.com/"},
            ]
        },
    )
    history = portal.portal.im.history(int(portal.portal.im.message(reply)["CHAT_ID"]))
    assert [m["MESSAGE"] for m in history] == ["Hello bot", "Hi Maria"]
    assert history[1]["AUTHOR_ID"] == bot_id and history[1]["KEYBOARD"][1] == {"TYPE": "NEWLINE"}


def test_message_errors(portal: PortalHandle, receiver: Receiver) -> None:
    _, token = _app(portal, receiver)
    bot_id = _register(portal, token, receiver)
    assert _error(portal, "imbot.message.add", token, BOT_ID=bot_id, MESSAGE="x") == (400, "DIALOG_ID_EMPTY")
    assert _error(portal, "imbot.message.add", token, BOT_ID=bot_id, DIALOG_ID="1") == (400, "MESSAGE_EMPTY")
    assert _error(portal, "imbot.message.add", token, BOT_ID=999, DIALOG_ID="1", MESSAGE="x") == (
        400,
        "BOT_ID_ERROR",
    )
    assert _error(
        portal,
        "imbot.message.add",
        token,
        BOT_ID=bot_id,
        DIALOG_ID="1",
        MESSAGE="x",
        KEYBOARD={"BUTTONS": [{"TEXT": ""}]},
    ) == (400, "KEYBOARD_ERROR")
    big = [{"TEXT": "x" * 100, "COMMAND": "c"}] * 400
    assert _error(
        portal, "imbot.message.add", token, BOT_ID=bot_id, DIALOG_ID="1", MESSAGE="x", KEYBOARD=big
    ) == (400, "KEYBOARD_OVERSIZE")
    assert _error(portal, "imbot.message.add", token, BOT_ID=bot_id, DIALOG_ID="chat999", MESSAGE="x") == (
        400,
        "WRONG_REQUEST",
    )
    # Without BOT_ID the app's first bot speaks.
    mid = ok(portal, "imbot.message.add", token, DIALOG_ID="2", MESSAGE="to Pavel")
    assert _error(portal, "imbot.message.update", token, BOT_ID=bot_id, MESSAGE="x") == (
        400,
        "MESSAGE_ID_ERROR",
    )
    users = hook_result(portal, "im.message.add", {"DIALOG_ID": str(bot_id), "MESSAGE": "mine"})
    assert _error(portal, "imbot.message.update", token, BOT_ID=bot_id, MESSAGE_ID=users, MESSAGE="x") == (
        403,
        "CANT_EDIT_MESSAGE",
    )
    assert ok(
        portal, "imbot.message.update", token, BOT_ID=bot_id, MESSAGE_ID=mid, MESSAGE="edited", KEYBOARD="N"
    )
    assert portal.portal.im.message(mid)["MESSAGE"] == "edited"
    assert ok(portal, "imbot.message.delete", token, BOT_ID=bot_id, MESSAGE_ID=mid)
    assert portal.portal.im.message(mid)["DELETED"] is True
    assert ok(portal, "imbot.message.delete", token, BOT_ID=bot_id, MESSAGE_ID=mid, COMPLETE="Y") is True
    assert portal.portal.im.message(mid) is None
    assert (
        hook_rest(portal, "im.message.add", {"DIALOG_ID": "77", "MESSAGE": "x"}).json()["error"]
        == "USER_NOT_FOUND"
    )
    assert (
        hook_rest(portal, "im.message.add", {"DIALOG_ID": "1001", "MESSAGE": " "}).json()["error"]
        == "MESSAGE_EMPTY"
    )
    # Another app cannot speak for this bot.
    other = portal.register_app(title="Other", api_only=True)
    other_token = portal.issue_tokens(other["client_id"])["access_token"]
    assert _error(portal, "imbot.message.add", other_token, BOT_ID=bot_id, DIALOG_ID="1", MESSAGE="x") == (
        403,
        "APP_ID_ERROR",
    )


def test_commands_typed_and_pressed_raise_onimcommandadd(portal: PortalHandle, receiver: Receiver) -> None:
    _, token = _app(portal, receiver)
    bot_id = _register(portal, token, receiver)
    lang = [{"LANGUAGE_ID": "en", "TITLE": "Report"}]
    assert _error(portal, "imbot.command.register", token, BOT_ID=bot_id, COMMAND="report", LANG=lang) == (
        400,
        "EVENT_COMMAND_ADD_ERROR",
    )
    assert _error(
        portal,
        "imbot.command.register",
        token,
        BOT_ID=bot_id,
        EVENT_COMMAND_ADD=receiver.url("cmd"),
        LANG=lang,
    ) == (400, "COMMAND_ERROR")
    assert _error(
        portal,
        "imbot.command.register",
        token,
        BOT_ID=bot_id,
        COMMAND="report",
        EVENT_COMMAND_ADD=receiver.url("cmd"),
    ) == (400, "LANG_ERROR")
    command_id = ok(
        portal,
        "imbot.command.register",
        token,
        BOT_ID=bot_id,
        COMMAND="report",
        EVENT_COMMAND_ADD=receiver.url("cmd"),
        LANG=lang,
    )
    typed = hook_result(portal, "im.message.add", {"DIALOG_ID": str(bot_id), "MESSAGE": "/report week"})
    flush(portal)
    assert receiver.at("bot") == []  # a command is not also a plain message
    [body] = receiver.at("cmd")
    assert body["event"] == "ONIMCOMMANDADD" and list(body["data"]) == ["COMMAND", "PARAMS", "USER"]
    entry = body["data"]["COMMAND"][str(command_id)]
    assert entry["COMMAND"] == "report" and entry["COMMAND_PARAMS"] == "week"
    assert entry["COMMAND_CONTEXT"] == "TEXTAREA" and entry["MESSAGE_ID"] == str(typed)
    assert entry["BOT_ID"] == str(bot_id) and entry["user_id"] == str(bot_id)
    answer = ok(
        portal, "imbot.command.answer", token, COMMAND_ID=command_id, MESSAGE_ID=typed, MESSAGE="42 deals"
    )
    assert portal.portal.im.message(answer)["CHAT_ID"] == portal.portal.im.message(typed)["CHAT_ID"]
    # A keyboard button with the command, pressed under the bot's answer.
    assert hook_result(
        portal,
        "im.message.command",
        {"MESSAGE_ID": answer, "BOT_ID": bot_id, "COMMAND": "report", "COMMAND_PARAMS": "month"},
    )
    flush(portal)
    pressed = receiver.at("cmd")[1]["data"]["COMMAND"][str(command_id)]
    assert pressed["COMMAND_CONTEXT"] == "KEYBOARD" and pressed["COMMAND_PARAMS"] == "month"
    assert pressed["MESSAGE_ID"] == str(answer)
    resp = hook_rest(
        portal, "im.message.command", {"MESSAGE_ID": answer, "BOT_ID": bot_id, "COMMAND": "nope"}
    )
    assert resp.json()["error"] == "COMMAND_ERROR"
    assert _error(portal, "imbot.command.answer", token, COMMAND_ID=999, MESSAGE_ID=typed, MESSAGE="x") == (
        400,
        "COMMAND_ID_ERROR",
    )


def test_update_and_unregister(portal: PortalHandle, receiver: Receiver) -> None:
    _, token = _app(portal, receiver)
    bot_id = _register(portal, token, receiver)
    assert _error(portal, "imbot.update", token, BOT_ID=bot_id, FIELDS={}) == (400, "WRONG_REQUEST")
    assert _error(
        portal, "imbot.update", token, BOT_ID=bot_id, FIELDS={"PROPERTIES": {"NAME": "", "LAST_NAME": ""}}
    ) == (400, "NAME_ERROR")
    assert ok(portal, "imbot.update", token, BOT_ID=bot_id, FIELDS={"PROPERTIES": {"NAME": "Renamed"}})
    assert ok(portal, "imbot.bot.list", token)[str(bot_id)]["NAME"] == "Renamed"
    assert _error(portal, "imbot.unregister", token, BOT_ID=999) == (400, "BOT_ID_ERROR")
    assert ok(portal, "imbot.unregister", token, BOT_ID=bot_id) is True
    flush(portal)
    [body] = receiver.at("bot")
    assert body["event"] == "ONIMBOTDELETE"
    assert body["data"] == {"BOT_ID": str(bot_id), "BOT_CODE": "helper"}
    assert "refresh_token" not in body["auth"] and body["auth"]["user_id"] == "1"
    assert ok(portal, "imbot.bot.list", token) == []
    assert not [h for h in ok(portal, "event.get", token) if h["event"].startswith("ONIMBOT")]


def test_group_chats_made_by_the_bot_hear_only_mentions(portal: PortalHandle, receiver: Receiver) -> None:
    _, token = _app(portal, receiver)
    bot_id = _register(portal, token, receiver)
    assert _error(portal, "imbot.chat.add", token, BOT_ID=bot_id, USERS="2") == (400, "INVALID_FORMAT")
    chat_id = ok(
        portal,
        "imbot.chat.add",
        token,
        BOT_ID=bot_id,
        TYPE="OPEN",
        TITLE="Sales team",
        USERS=[1, 2],
        ENTITY_TYPE="TEAM",
        ENTITY_ID="sales",
        MESSAGE="Hello team",
    )
    assert (
        ok(portal, "imbot.chat.get", token, BOT_ID=bot_id, ENTITY_TYPE="TEAM", ENTITY_ID="sales") == chat_id
    )
    assert ok(portal, "imbot.chat.get", token, BOT_ID=bot_id, ENTITY_TYPE="TEAM", ENTITY_ID="other") is None
    hook_result(portal, "im.message.add", {"DIALOG_ID": f"chat{chat_id}", "MESSAGE": "just talking"})
    hook_result(
        portal,
        "im.message.add",
        {"DIALOG_ID": f"chat{chat_id}", "MESSAGE": f"[USER={bot_id}]Helper[/USER] report?"},
    )
    flush(portal)
    [body] = receiver.at("bot")  # the first message did not mention the bot
    params = body["data"]["PARAMS"]
    assert params["DIALOG_ID"] == f"chat{chat_id}" and params["CHAT_ID"] == str(chat_id)
    assert (
        params["MESSAGE_TYPE"] == "O" and params["CHAT_TITLE"] == "Sales team" and "TO_USER_ID" not in params
    )
    assert params["BOT_IN_CHAT"] == {str(bot_id): str(bot_id)} and params["CHAT_ENTITY_TYPE"] == "TEAM"
    # The bot answers into the chat; a user outside it cannot write there.
    assert ok(portal, "imbot.message.add", token, BOT_ID=bot_id, DIALOG_ID=f"chat{chat_id}", MESSAGE="On it")
    history = portal.portal.im.history(chat_id)
    assert [m["MESSAGE"] for m in history] == [
        "Hello team",
        "just talking",
        f"[USER={bot_id}]Helper[/USER] report?",
        "On it",
    ]
    olga = portal.add_webhook(user_id=3)
    outside = requests.post(
        olga + "im.message.add.json", json={"DIALOG_ID": f"chat{chat_id}", "MESSAGE": "x"}, timeout=10
    )
    assert outside.status_code == 400 and outside.json()["error"] == "CHAT_ID"
