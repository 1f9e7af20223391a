"""REST methods: chat bots (``imbot.register`` / ``unregister`` / ``update`` / ``bot.list``,
``imbot.message.add`` / ``update`` / ``delete``, ``imbot.command.register`` / ``unregister`` /
``answer``), with the parameters and error codes of Bitrix24's documentation.

A bot belongs to the app that registered it: its handler URLs become that app's bound event
handlers (``event.get`` lists them), and the events reach them through the event bus. Only
OAuth callers are served here: the webhook form (``CLIENT_ID`` instead of an app) is not
supported by this portal and answers ``WRONG_AUTH_TYPE``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from portal import errors
from portal.context import Call
from portal.im_blocks import read_blocks
from portal.im_events import bot_deleted, im_store
from portal.im_store import HANDLER_EVENTS, IMBOT_EVENTS, MAX_BOTS_PER_APP
from portal.registry import method

_SCOPE = "imbot"
_TYPES = frozenset({"B", "O", "H", "S"})
_PROPERTIES = (
    "NAME",
    "LAST_NAME",
    "COLOR",
    "EMAIL",
    "PERSONAL_BIRTHDAY",
    "WORK_POSITION",
    "PERSONAL_WWW",
    "PERSONAL_GENDER",
)
#: "more than three days have passed since publication" (CANT_EDIT_MESSAGE).
_EDIT_WINDOW = 3 * 86400


def _client_id(call: Call) -> str:
    assert call.auth.client_id is not None  # app_only: every caller here is an app
    return call.auth.client_id


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _handler_url(name: str, value: Any) -> str:
    url = str(value or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.RestError(f"{name}_ERROR", "Wrong handler URL", 400)
    return url


def _handlers(params: dict[str, Any], *, required: bool) -> dict[str, str]:
    """Handler URLs by parameter name; ``EVENT_HANDLER`` stands for all five."""
    common = params.get("EVENT_HANDLER")
    out: dict[str, str] = {}
    for name in HANDLER_EVENTS:
        value = params.get(name) or common
        if value:
            out[name] = _handler_url(name, value)
    if required:
        labels = {
            "EVENT_MESSAGE_ADD": "Message add",
            "EVENT_WELCOME_MESSAGE": "Welcome message",
            "EVENT_BOT_DELETE": "Bot delete",
        }
        for name, label in labels.items():
            if name not in out:
                raise errors.RestError(f"{name}_ERROR", f'Handler for "{label}" event isn\'t specified', 400)
    return out


def _properties(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {k: str(raw[k]) for k in _PROPERTIES if raw.get(k) is not None}


def _bind(call: Call, handlers: dict[str, str]) -> None:
    for name, url in handlers.items():
        call.portal.events.bind(
            client_id=_client_id(call), event=HANDLER_EVENTS[name], handler=url, user_id=call.user_id
        )


def _own_bot(call: Call, raw: Any, *, optional: bool = False) -> dict[str, Any]:
    """The caller's bot ``raw`` (or, when ``optional`` and not given, its first bot)."""
    im = im_store(call.portal)
    bot_id = _int(raw)
    if bot_id <= 0 and optional:
        mine = im.bots_of(_client_id(call))
        if mine:
            return mine[0]
    bot = im.bot(bot_id) if bot_id > 0 else None
    if bot is None:
        raise errors.RestError("BOT_ID_ERROR", "Bot not found", 400)
    if bot["CLIENT_ID"] != _client_id(call):
        raise errors.RestError("APP_ID_ERROR", "Bot was installed by another REST application", 403)
    return bot


def bot_name(bot: dict[str, Any]) -> str:
    props = bot["PROPERTIES"]
    return f"{props.get('NAME', '')} {props.get('LAST_NAME', '')}".strip()


# --- bots --------------------------------------------------------------------------------------


@method("imbot.register", scope=_SCOPE, app_only=True)
def register(call: Call) -> int:
    params = {k.upper(): v for k, v in call.params.items()}
    code = str(params.get("CODE") or "").strip()
    if not code:
        raise errors.RestError("CODE_ERROR", "Bot code isn't specified", 400)
    handlers = _handlers(params, required=True)
    props = _properties(params.get("PROPERTIES"))
    if not (props.get("NAME", "").strip() or props.get("LAST_NAME", "").strip()):
        raise errors.RestError("NAME_ERROR", "Bot name isn't specified", 400)
    im = im_store(call.portal)
    existing = im.bot_by_code(code)
    if existing is not None:
        if existing["CLIENT_ID"] != _client_id(call):
            raise errors.RestError("WRONG_REQUEST", "Bot can't be created", 400)
        return int(existing["ID"])  # registering the same code again is not a second bot
    if len(im.bots_of(_client_id(call))) >= MAX_BOTS_PER_APP:
        raise errors.RestError(
            "MAX_COUNT_ERROR",
            f"Has reached the maximum number of bots for application (max: {MAX_BOTS_PER_APP})",
            400,
        )
    kind = str(params.get("TYPE") or "B").upper()
    if kind not in _TYPES:
        kind = "B"
    openline = "Y" if kind == "O" else ("Y" if str(params.get("OPENLINE") or "N").upper() == "Y" else "N")
    bot = im.add_bot(
        {
            "CODE": code,
            "TYPE": kind,
            "OPENLINE": openline,
            "CLIENT_ID": _client_id(call),
            "HANDLERS": handlers,
            "PROPERTIES": props,
            "REGISTERED_BY": call.user_id,
        }
    )
    _bind(call, handlers)
    return int(bot["ID"])


@method("imbot.unregister", scope=_SCOPE, app_only=True)
def unregister(call: Call) -> bool:
    bot = _own_bot(call, call.param("BOT_ID"))
    portal = call.portal
    im = im_store(portal)
    bot_deleted(portal, bot, call.user_id)  # queued now, to the handlers bound now
    im.remove_bot(int(bot["ID"]))
    if not im.bots_of(_client_id(call)):
        # The last bot of the app takes the bot events' handlers with it.
        for name in IMBOT_EVENTS:
            portal.events.unbind(
                client_id=_client_id(call), event=name, handler=None, auth_type=0, offline=False
            )
    return True


@method("imbot.update", scope=_SCOPE, app_only=True)
def update(call: Call) -> bool:
    bot = _own_bot(call, call.param("BOT_ID"))
    raw = call.param("FIELDS")
    fields = {str(k).upper(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    handlers = _handlers(fields, required=False)
    props = _properties(fields.get("PROPERTIES"))
    code = str(fields.get("CODE") or "").strip()
    if not (handlers or props or code):
        raise errors.RestError("WRONG_REQUEST", "Update fields can't be empty", 400)
    raw_props = fields.get("PROPERTIES")
    if (
        isinstance(raw_props, dict)
        and "NAME" in raw_props
        and "LAST_NAME" in raw_props
        and not (str(raw_props["NAME"]).strip() or str(raw_props["LAST_NAME"]).strip())
    ):
        raise errors.RestError("NAME_ERROR", "Bot name isn't specified", 400)
    im = im_store(call.portal)
    if code:
        other = im.bot_by_code(code)
        if other is not None and int(other["ID"]) != int(bot["ID"]):
            raise errors.RestError("WRONG_REQUEST", "Bot can't be updated", 400)
        bot["CODE"] = code
    bot["PROPERTIES"] = {**bot["PROPERTIES"], **props}
    bot["HANDLERS"] = {**bot["HANDLERS"], **handlers}
    im.put_bot(bot)
    _bind(call, handlers)
    return True


@method("imbot.bot.list", scope=_SCOPE, app_only=True)
def bot_list(call: Call) -> dict[str, Any]:
    return {
        str(b["ID"]): {"ID": int(b["ID"]), "NAME": bot_name(b), "CODE": b["CODE"], "OPENLINE": b["OPENLINE"]}
        for b in im_store(call.portal).bots.values()
    }


# --- messages ----------------------------------------------------------------------------------


def post_as_bot(call: Call, bot: dict[str, Any], chat_id: int, text: str) -> int:
    fields: dict[str, Any] = {"MESSAGE": text, **read_blocks(call.params)}
    fields["SYSTEM"] = "Y" if str(call.param("SYSTEM") or "N").upper() == "Y" else "N"
    return int(im_store(call.portal).add_message(chat_id, int(bot["ID"]), fields)["ID"])


@method("imbot.message.add", scope=_SCOPE, app_only=True)
def message_add(call: Call) -> int:
    bot = _own_bot(call, call.param("BOT_ID"), optional=True)
    dialog_id = str(call.param("DIALOG_ID") or "").strip()
    if not dialog_id:
        raise errors.RestError("DIALOG_ID_EMPTY", "Dialog ID can't be empty", 400)
    text = str(call.param("MESSAGE") or "").strip()
    if not text:
        raise errors.RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    portal = call.portal
    dialog = im_store(portal).dialog(
        int(bot["ID"]), dialog_id, known_user=lambda u: portal.directory.get(u) is not None
    )
    if dialog is None:
        raise errors.RestError("WRONG_REQUEST", "Message isn't added", 400)
    return post_as_bot(call, bot, dialog.chat_id, text)


def _bot_message(call: Call, bot: dict[str, Any], *, deleted_ok: bool = False) -> dict[str, Any]:
    message_id = _int(call.param("MESSAGE_ID"))
    if message_id <= 0:
        raise errors.RestError("MESSAGE_ID_ERROR", "Message ID can't be empty", 400)
    message = im_store(call.portal).message(message_id)
    too_old = message is not None and call.portal.clock.time() - float(message["DATE"]) > _EDIT_WINDOW
    if message is None or int(message["AUTHOR_ID"]) != int(bot["ID"]) or too_old:
        raise errors.RestError(
            "CANT_EDIT_MESSAGE", "Time has expired for modification or you don't have access", 403
        )
    if message["DELETED"] and not deleted_ok:
        raise errors.RestError(
            "CANT_EDIT_MESSAGE", "Time has expired for modification or you don't have access", 403
        )
    return message


@method("imbot.message.update", scope=_SCOPE, app_only=True)
def message_update(call: Call) -> bool:
    bot = _own_bot(call, call.param("BOT_ID"), optional=True)
    message = _bot_message(call, bot)
    im = im_store(call.portal)
    changes = read_blocks(call.params, clearing=True)
    text = call.param("MESSAGE")
    if text is not None:
        if not str(text).strip():
            im.delete_message(
                int(message["ID"])
            )  # "If an empty value is provided, the message will be deleted"
            return True
        changes["MESSAGE"] = str(text).strip()
        changes["EDITED"] = True
    im.put_message({**message, **changes})
    return True


@method("imbot.message.delete", scope=_SCOPE, app_only=True)
def message_delete(call: Call) -> bool:
    bot = _own_bot(call, call.param("BOT_ID"), optional=True)
    complete = str(call.param("COMPLETE") or "N").upper() == "Y"
    # A message marked deleted can still be removed completely, not deleted again.
    message = _bot_message(call, bot, deleted_ok=complete)
    im = im_store(call.portal)
    if complete:
        im.delete_message(int(message["ID"]))
    else:
        # A normal deletion leaves the mark "This message was deleted" in the dialog.
        im.put_message({**message, "DELETED": True, "MESSAGE": "", "KEYBOARD": None, "ATTACH": None})
    return True


# --- commands ----------------------------------------------------------------------------------


def _yn(value: Any) -> str:
    return "Y" if str(value or "N").upper() == "Y" else "N"


@method("imbot.command.register", scope=_SCOPE, app_only=True)
def command_register(call: Call) -> int:
    params = {k.upper(): v for k, v in call.params.items()}
    url = params.get("EVENT_COMMAND_ADD")
    if not url:
        raise errors.RestError(
            "EVENT_COMMAND_ADD_ERROR", 'Handler for "Command add" event isn\'t specified', 400
        )
    url = _handler_url("EVENT_COMMAND_ADD", url)
    name = str(params.get("COMMAND") or "").strip().lstrip("/")
    if not name:
        raise errors.RestError("COMMAND_ERROR", "Command isn't specified", 400)
    bot = _own_bot(call, params.get("BOT_ID"))
    langs = params.get("LANG")
    if isinstance(langs, dict):
        langs = [langs[k] for k in sorted(langs)] if all(str(k).isdigit() for k in langs) else [langs]
    if not isinstance(langs, list) or not langs or not all(isinstance(x, dict) for x in langs):
        raise errors.RestError("LANG_ERROR", "Lang set can't be empty", 400)
    im = im_store(call.portal)
    existing = im.find_command(name, [int(bot["ID"])])
    if existing is not None and int(existing["BOT_ID"]) == int(bot["ID"]):
        return int(existing["ID"])
    command = im.add_command(
        {
            "BOT_ID": int(bot["ID"]),
            "CLIENT_ID": _client_id(call),
            "COMMAND": name,
            "COMMON": _yn(params.get("COMMON")),
            "HIDDEN": _yn(params.get("HIDDEN")),
            "EXTRANET_SUPPORT": _yn(params.get("EXTRANET_SUPPORT")),
            "LANG": [{str(k).upper(): str(v) for k, v in x.items()} for x in langs],
            "HANDLER": url,
        }
    )
    call.portal.events.bind(
        client_id=_client_id(call), event="ONIMCOMMANDADD", handler=url, user_id=call.user_id
    )
    return int(command["ID"])


def _own_command(call: Call) -> dict[str, Any]:
    im = im_store(call.portal)
    command = im.command(_int(call.param("COMMAND_ID")))
    if command is None and call.param("COMMAND"):
        mine = [int(b["ID"]) for b in im.bots_of(_client_id(call))]
        command = im.find_command(str(call.param("COMMAND")).lstrip("/"), mine)
    if command is None:
        raise errors.RestError("COMMAND_ID_ERROR", "Command not found", 400)
    if command["CLIENT_ID"] != _client_id(call):
        raise errors.RestError("APP_ID_ERROR", "Command was installed by another rest application", 403)
    return command


@method("imbot.command.unregister", scope=_SCOPE, app_only=True)
def command_unregister(call: Call) -> bool:
    command = _own_command(call)
    im_store(call.portal).commands.delete(int(command["ID"]))
    return True


@method("imbot.command.answer", scope=_SCOPE, app_only=True)
def command_answer(call: Call) -> int:
    command = _own_command(call)
    message_id = _int(call.param("MESSAGE_ID"))
    if message_id <= 0:
        raise errors.RestError("MESSAGE_ID_EMPTY", "Message ID can't be empty", 400)
    text = str(call.param("MESSAGE") or "").strip()
    if not text:
        raise errors.RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    im = im_store(call.portal)
    asked = im.message(message_id)
    bot = im.bot(int(command["BOT_ID"]))
    if asked is None or bot is None:
        raise errors.RestError("WRONG_REQUEST", "Message isn't added", 400)
    return post_as_bot(call, bot, int(asked["CHAT_ID"]), text)
