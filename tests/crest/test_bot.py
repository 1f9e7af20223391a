"""crest.bot.ChatBot on a real local portal: events delivered over HTTP to a handler that runs
them through an EventRouter; replies, commands with keyboards, silence, two bots of one app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request

from crest.bot import BotMessage, Button, ChatBot, Reply
from crest.client import Client
from crest.errors import ConfigError
from crest.events import EventContext, EventRouter, parse_body
from crest.placement import FrameAuth
from portal.server import ServerThread
from portal.testing import PortalHandle


class BotHost:
    """The app's event endpoint: every POST is parsed and dispatched through ``router``."""

    def __init__(self, router: EventRouter, client: Client) -> None:
        self.errors: list[str] = []
        app = Flask("bots")

        @app.post("/events")
        def events() -> str:
            event = parse_body(request.get_data(), request.mimetype)
            try:
                router.dispatch(event, EventContext(event, clients=lambda member_id: client))
            except Exception as exc:  # recorded, so a failing handler fails the test
                self.errors.append(repr(exc))
            return "ok"

        self.server = ServerThread(app, "127.0.0.1", 0)

    @property
    def url(self) -> str:
        return f"{self.server.url}/events"


@pytest.fixture
def setup(portal: PortalHandle) -> Iterator[tuple[EventRouter, Client, BotHost]]:
    app = portal.register_app(title="Bots", api_only=True)
    token = portal.issue_tokens(app["client_id"])["access_token"]
    client = Client(FrameAuth(f"{portal.base_url}/rest/", token))
    router = EventRouter()
    host = BotHost(router, client)
    host.server.start()
    try:
        yield router, client, host
    finally:
        host.server.stop()


def dialog(portal: PortalHandle, bot_id: int) -> list[dict[str, Any]]:
    im = portal.portal.im
    return im.history(int(im.personal_chat(1, bot_id)["ID"]))


def test_two_bots_of_one_app_each_answer_their_own(
    portal: PortalHandle, setup: tuple[EventRouter, Client, BotHost]
) -> None:
    router, client, host = setup
    alpha, beta = ChatBot("alpha", name="Alpha"), ChatBot("beta", name="Beta")
    seen: list[tuple[str, BotMessage]] = []

    @alpha.on_message
    def alpha_says(msg: BotMessage) -> str:
        seen.append(("alpha", msg))
        return f"alpha heard {msg.text}"

    @beta.on_message
    def beta_is_silent(msg: BotMessage) -> None:
        seen.append(("beta", msg))

    @alpha.command("/sum", title="Sum")
    def add(msg: BotMessage) -> Reply:
        total = sum(int(x) for x in msg.command_params.split())
        return Reply(f"= {total}", keyboard=(Button.command("Again", "/sum", "1 1"), Button.newline()))

    for bot in (alpha, beta):
        bot.attach(router)
    alpha_id, beta_id = alpha.register(client, host.url), beta.register(client, host.url)
    assert alpha_id != beta_id and alpha.register(client, host.url) == alpha_id
    hook = Client.from_webhook(portal.webhook_url)
    hook.call("im.message.add", {"DIALOG_ID": str(alpha_id), "MESSAGE": "hi"})
    portal.flush()  # one conversation step at a time, so the dialog's order is known
    hook.call("im.message.add", {"DIALOG_ID": str(beta_id), "MESSAGE": "psst"})
    portal.flush()
    asked = hook.call("im.message.add", {"DIALOG_ID": str(alpha_id), "MESSAGE": "/sum 2 3 4"})
    portal.flush()
    assert host.errors == []
    assert [(who, m.text, m.bot_id) for who, m in seen] == [
        ("alpha", "hi", alpha_id),
        ("beta", "psst", beta_id),
    ]
    assert seen[0][1].user_name == "Maria Ivanova" and seen[0][1].dialog_id == "1"
    texts = [(m["AUTHOR_ID"], m["MESSAGE"]) for m in dialog(portal, alpha_id)]
    assert texts == [(1, "hi"), (alpha_id, "alpha heard hi"), (1, "/sum 2 3 4"), (alpha_id, "= 9")]
    assert [m["MESSAGE"] for m in dialog(portal, beta_id)] == ["psst"]  # None: no answer
    answer = dialog(portal, alpha_id)[-1]
    assert answer["KEYBOARD"][0] == {"TEXT": "Again", "COMMAND": "sum", "COMMAND_PARAMS": "1 1"}
    # The keyboard's button, pressed: the command runs again with its own parameters.
    hook.call(
        "im.message.command",
        {"MESSAGE_ID": answer["ID"], "BOT_ID": alpha_id, "COMMAND": "sum", "COMMAND_PARAMS": "1 1"},
    )
    portal.flush()
    assert dialog(portal, alpha_id)[-1]["MESSAGE"] == "= 2" and asked < answer["ID"]


def test_join_and_delete(portal: PortalHandle, setup: tuple[EventRouter, Client, BotHost]) -> None:
    router, client, host = setup
    bot = ChatBot("greeter", name="Greeter")
    deleted: list[int] = []
    bot.on_join(lambda msg: f"Welcome, {msg.user_name}!")
    bot.on_delete(deleted.append)
    bot.attach(router)
    bot_id = bot.register(client, host.url)
    # Opening the bot's dialog on the messenger page, the first time, raises ONIMBOTJOINCHAT.
    assert requests.get(f"{portal.base_url}/online/?IM_DIALOG={bot_id}", timeout=10).status_code == 200
    portal.flush()
    assert [m["MESSAGE"] for m in dialog(portal, bot_id)] == ["Welcome, Maria Ivanova!"]
    client.call("imbot.unregister", {"BOT_ID": bot_id})
    portal.flush()
    assert deleted == [bot_id] and host.errors == []


def test_bad_declarations_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ChatBot(" ", name="x")
    bot = ChatBot("ok", name="Ok")
    with pytest.raises(ConfigError):
        bot.command("/two words")
    assert bot.commands == []
