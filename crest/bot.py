"""A small chat bot framework on top of :class:`crest.events.EventRouter`.

>>> bot = ChatBot("salesbot", name="Sales bot")
>>> @bot.command("/report", title="Sales report")
... def report(msg: BotMessage) -> Reply:
...     return Reply("3 open deals", keyboard=(Button.command("Again", "/report"),))
>>> @bot.on_message
... def anything(msg: BotMessage) -> str:
...     return f"You said: {msg.text}"
>>> bot.attach(router)                       # ONIMBOTMESSAGEADD, ONIMCOMMANDADD, ... handlers
>>> bot.register(client, "https://app.example/events")   # imbot.register + imbot.command.register

A handler gets a :class:`BotMessage` and may return a ``str`` or a :class:`Reply`, which is sent
back into the same dialog (``imbot.command.answer`` for a command, ``imbot.message.add``
otherwise), or ``None`` to stay silent. Events arrive at least once (the inbox de-duplicates
what it can): keep handlers idempotent where a second answer would hurt.

The bot answers with the app's own client (the stored installation, renewed in place), which
may act for any bot of the app; the per-bot tokens in ``data[BOT]`` are not needed for that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crest.client import Client
from crest.errors import ConfigError
from crest.events import Event, EventContext, EventRouter

__all__ = ["BotMessage", "Button", "ChatBot", "Reply"]

EVENT_MESSAGE = "ONIMBOTMESSAGEADD"
EVENT_COMMAND = "ONIMCOMMANDADD"
EVENT_JOIN = "ONIMBOTJOINCHAT"
EVENT_DELETE = "ONIMBOTDELETE"


@dataclass(frozen=True)
class Button:
    """One keyboard button (``KEYBOARD[BUTTONS][]``); build it with the class methods."""

    fields: Mapping[str, str]

    @classmethod
    def command(cls, text: str, command: str, params: str = "", *, block: bool = False) -> Button:
        fields = {"TEXT": text, "COMMAND": command.lstrip("/"), "COMMAND_PARAMS": params}
        if block:
            fields["BLOCK"] = "Y"
        return cls(fields)

    @classmethod
    def link(cls, text: str, url: str) -> Button:
        return cls({"TEXT": text, "LINK": url})

    @classmethod
    def send(cls, text: str, value: str) -> Button:
        return cls({"TEXT": text, "ACTION": "SEND", "ACTION_VALUE": value})

    @classmethod
    def put(cls, text: str, value: str) -> Button:
        return cls({"TEXT": text, "ACTION": "PUT", "ACTION_VALUE": value})

    @classmethod
    def newline(cls) -> Button:
        return cls({"TYPE": "NEWLINE"})


@dataclass(frozen=True)
class Reply:
    text: str
    keyboard: tuple[Button, ...] = ()

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"MESSAGE": self.text}
        if self.keyboard:
            out["KEYBOARD"] = {"BUTTONS": [dict(b.fields) for b in self.keyboard]}
        return out


@dataclass(frozen=True)
class BotMessage:
    """What a person wrote (or which button they pressed), as one bot of the app got it."""

    bot_id: int
    dialog_id: str
    message_id: int
    text: str
    user_id: int
    user_name: str
    #: The command without ``/`` and its parameters, for ``ONIMCOMMANDADD``; else ``""``.
    command: str = ""
    command_id: int = 0
    command_params: str = ""
    #: ``TEXTAREA`` (typed) or ``KEYBOARD`` (a button).
    context: str = "TEXTAREA"
    event: str = EVENT_MESSAGE
    client: Client | None = field(default=None, repr=False, compare=False)


Handler = Callable[[BotMessage], "str | Reply | None"]


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class ChatBot:
    """One chat bot of the app: its profile, its commands and the handlers that answer."""

    def __init__(self, code: str, *, name: str, work_position: str = "", color: str = "") -> None:
        if not code.strip():
            raise ConfigError("a chat bot needs a code")
        self.code = code
        self.name = name
        self.work_position = work_position
        self.color = color
        self._commands: dict[str, tuple[str, str, Handler]] = {}
        self._message: list[Handler] = []
        self._join: list[Handler] = []
        self._delete: list[Callable[[int], None]] = []

    # --- declaring ----------------------------------------------------------------------------

    def command(self, name: str, *, title: str = "", params: str = "") -> Callable[[Handler], Handler]:
        key = name.strip().lstrip("/").lower()
        if not key or not key.isalnum():
            raise ConfigError(f"{name!r}: a command is letters and digits, without spaces")

        def register(func: Handler) -> Handler:
            self._commands[key] = (title or key, params, func)
            return func

        return register

    def on_message(self, func: Handler) -> Handler:
        self._message.append(func)
        return func

    def on_join(self, func: Handler) -> Handler:
        self._join.append(func)
        return func

    def on_delete(self, func: Callable[[int], None]) -> Callable[[int], None]:
        self._delete.append(func)
        return func

    @property
    def commands(self) -> list[str]:
        return sorted(self._commands)

    # --- wiring -------------------------------------------------------------------------------

    def attach(self, router: EventRouter) -> None:
        """Handle this bot's events on ``router`` (the app binds them at install)."""
        router.add(EVENT_MESSAGE, self._on_message)
        router.add(EVENT_COMMAND, self._on_command)
        router.add(EVENT_JOIN, self._on_join)
        router.add(EVENT_DELETE, self._on_delete)

    def register(self, client: Client, handler_url: str) -> int:
        """``imbot.register`` and one ``imbot.command.register`` per command; returns the bot id.

        Safe to call at every install: the portal answers an existing code with the same bot,
        and an existing command with the same command.
        """
        props = {"NAME": self.name}
        if self.work_position:
            props["WORK_POSITION"] = self.work_position
        if self.color:
            props["COLOR"] = self.color
        bot_id = int(
            client.call(
                "imbot.register",
                {"CODE": self.code, "TYPE": "B", "EVENT_HANDLER": handler_url, "PROPERTIES": props},
            )
        )
        for key, (title, params, _) in sorted(self._commands.items()):
            client.call(
                "imbot.command.register",
                {
                    "BOT_ID": bot_id,
                    "COMMAND": key,
                    "COMMON": "N",
                    "HIDDEN": "N",
                    "EVENT_COMMAND_ADD": handler_url,
                    "LANG": [{"LANGUAGE_ID": "en", "TITLE": title, "PARAMS": params}],
                },
            )
        return bot_id

    # --- events -------------------------------------------------------------------------------

    def _mine(self, block: Any) -> Mapping[str, Any] | None:
        """This bot's entry of ``data[BOT]`` / ``data[COMMAND]``, found by its code."""
        if not isinstance(block, Mapping):
            return None
        for entry in block.values():
            if isinstance(entry, Mapping) and entry.get("BOT_CODE") == self.code:
                return entry
        return None

    def _message_of(self, event: Event, ctx: EventContext, entry: Mapping[str, Any]) -> BotMessage:
        params = event.data.get("PARAMS")
        params = params if isinstance(params, Mapping) else {}
        user = event.data.get("USER")
        user = user if isinstance(user, Mapping) else {}
        return BotMessage(
            bot_id=_int(entry.get("BOT_ID")),
            dialog_id=_text(params.get("DIALOG_ID")),
            message_id=_int(entry.get("MESSAGE_ID") or params.get("MESSAGE_ID")),
            text=_text(params.get("MESSAGE")),
            user_id=_int(user.get("ID") or params.get("FROM_USER_ID") or params.get("USER_ID")),
            user_name=_text(user.get("NAME")),
            command=_text(entry.get("COMMAND")),
            command_id=_int(entry.get("COMMAND_ID")),
            command_params=_text(entry.get("COMMAND_PARAMS")),
            context=_text(entry.get("COMMAND_CONTEXT") or params.get("COMMAND_CONTEXT")) or "TEXTAREA",
            event=event.name,
            client=ctx.client,
        )

    def _send(self, msg: BotMessage, answer: str | Reply | None) -> None:
        if answer is None or msg.client is None:
            return
        reply = answer if isinstance(answer, Reply) else Reply(str(answer))
        if not reply.text.strip():
            return
        if msg.command_id:
            msg.client.call(
                "imbot.command.answer",
                {"COMMAND_ID": msg.command_id, "MESSAGE_ID": msg.message_id, **reply.params()},
            )
        else:
            msg.client.call(
                "imbot.message.add", {"BOT_ID": msg.bot_id, "DIALOG_ID": msg.dialog_id, **reply.params()}
            )

    def _on_message(self, event: Event, ctx: EventContext) -> None:
        entry = self._mine(event.data.get("BOT"))
        if entry is None:
            return  # another bot of the app
        msg = self._message_of(event, ctx, entry)
        for func in self._message:
            self._send(msg, func(msg))

    def _on_command(self, event: Event, ctx: EventContext) -> None:
        entry = self._mine(event.data.get("COMMAND"))
        if entry is None:
            return
        msg = self._message_of(event, ctx, entry)
        found = self._commands.get(msg.command.lower())
        if found is not None:
            self._send(msg, found[2](msg))

    def _on_join(self, event: Event, ctx: EventContext) -> None:
        entry = self._mine(event.data.get("BOT"))
        if entry is None:
            return
        msg = self._message_of(event, ctx, entry)
        for func in self._join:
            self._send(msg, func(msg))

    def _on_delete(self, event: Event, ctx: EventContext) -> None:
        if event.data.get("BOT_CODE") != self.code:
            return
        for func in self._delete:
            func(_int(event.data.get("BOT_ID")))
