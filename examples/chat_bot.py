"""Chat bot: informs employees of new deals, answers ``/report`` with CRM data, forwards the rest.

    crest portal --http --deals 5 &
    python examples/chat_bot.py --portal http://127.0.0.1:8024 --admin-token TOKEN

Then open the portal's messenger (the example prints its address), choose "Sales bot" and
write ``/report``: the bot answers with the open deals and their sum, from ``crm.deal.list``,
under a keyboard (refresh, list the open deals, open the CRM). Anything else you write is handed
to :func:`forward` (here: appended to ``forwarded.jsonl`` in the work folder and printed, where
a real app would open a ticket or post to a support chat), and the bot says so. And when a
deal is added (``ONCRMDEALADD``), the bot tells its responsible employee in their chat.

The app is the webapp kit's; the bot is a :class:`crest.bot.ChatBot` attached to the kit's
event router, registered (``imbot.register``, ``imbot.command.register``) when the portal
installs the app. Its events reach ``/events``, are kept in the kit's inbox and run in its worker.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import local_app, run_until_stopped, wait_for_install

from crest.bot import BotMessage, Button, ChatBot, Reply
from crest.client import Client
from crest.events import Event, EventContext
from crest.installation import Installation
from webapp.events import router
from webapp.extension import state
from webapp.hooks import pages

CLOSED_STAGES = ("WON", "LOSE")


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value or "0"))
    except InvalidOperation:
        return Decimal(0)


def open_deals(client: Client) -> list[dict[str, Any]]:
    rows = client.list_all("crm.deal.list", select=["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID"])
    return [row for row in rows if not str(row.get("STAGE_ID") or "").endswith(CLOSED_STAGES)]


def report_text(deals: list[dict[str, Any]]) -> str:
    if not deals:
        return "No open deals right now."
    total = sum((money(d.get("OPPORTUNITY")) for d in deals), Decimal(0))
    currencies = sorted({str(d.get("CURRENCY_ID") or "") for d in deals} - {""})
    unit = f" {currencies[0]}" if len(currencies) == 1 else ""
    return f"Open deals: {len(deals)}, worth {total:,.2f}{unit} in total."


class Forwarder:
    """Where messages for people go: one JSON line each, in order, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def __call__(self, msg: BotMessage) -> int:
        with self.lock:
            count = sum(1 for _ in self.path.open()) if self.path.exists() else 0
            record = {
                "message_id": msg.message_id,
                "user_id": msg.user_id,
                "user": msg.user_name,
                "text": msg.text,
            }
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(
            f"forwarded message {msg.message_id} from {msg.user_name or msg.user_id}: {msg.text!r}",
            flush=True,
        )
        return count + 1


def make_bot(portal_url: str, forward: Forwarder) -> ChatBot:
    bot = ChatBot("salesbot", name="Sales bot", work_position="Answers with CRM data")
    keyboard = (
        Button.command("Refresh", "/report"),
        Button.command("Open deals", "/deals"),
        Button.newline(),
        Button.link("Open the CRM", f"{portal_url}/crm/contact/list/"),
    )

    @bot.command("/report", title="Sales report")
    def report(msg: BotMessage) -> Reply:
        assert msg.client is not None
        text = report_text(open_deals(msg.client))
        print(f"/report for {msg.user_name or msg.user_id}: {text}", flush=True)
        return Reply(text, keyboard=keyboard)

    @bot.command("/deals", title="Open deals")
    def deals(msg: BotMessage) -> Reply:
        assert msg.client is not None
        found = open_deals(msg.client)[:5]
        lines = [
            f"#{d['ID']} {d.get('TITLE') or 'untitled'}: {money(d.get('OPPORTUNITY')):,.2f}" for d in found
        ]
        return Reply("\n".join(lines) or "No open deals right now.", keyboard=keyboard)

    @bot.on_join
    def hello(msg: BotMessage) -> Reply:
        return Reply(
            "Hello! Write /report for the open deals; anything else goes to the sales team.", keyboard
        )

    @bot.on_message
    def anything(msg: BotMessage) -> str:
        number = forward(msg)
        return f"Thanks, I passed your message on to the sales team (#{number})."

    return bot


def tell_about_deal(client: Client, bot_id: int, deal_id: str) -> None:
    """Inform the deal's responsible employee in their chat with the bot."""
    deal = client.call("crm.deal.get", {"ID": deal_id})
    user = int(deal.get("ASSIGNED_BY_ID") or 1)
    text = f"New deal #{deal_id}: {deal.get('TITLE') or 'untitled'}, {money(deal.get('OPPORTUNITY')):,.2f}"
    client.call(
        "imbot.message.add",
        {
            "BOT_ID": bot_id,
            "DIALOG_ID": str(user),
            "MESSAGE": text,
            "KEYBOARD": {"BUTTONS": [{"TEXT": "Open deals", "COMMAND": "deals", "COMMAND_PARAMS": ""}]},
        },
    )
    print(f"told user {user} about deal {deal_id}", flush=True)


def setup(bot: ChatBot, ready: threading.Event, registered: list[int]) -> Any:
    def install(app: Flask) -> None:
        bot.attach(router(app))

        @router(app).on("ONCRMDEALADD")
        def deal_added(event: Event, ctx: EventContext) -> None:
            if registered and event.entity_id:
                tell_about_deal(ctx.client, registered[-1], event.entity_id)

        @pages(app).on_install
        def register_bot(installation: Installation) -> None:
            crest = state(app)
            url = f"{crest.settings.app_base_url}/events"
            try:
                registered.append(bot.register(crest.client(installation.member_id), url))
            finally:
                ready.set()  # the kit logs what failed; main() says the bot is missing

    return install


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--portal", required=True, help="the local portal (crest portal), e.g. http://127.0.0.1:8024"
    )
    parser.add_argument(
        "--admin-token", required=True, help="the portal's admin token (crest portal prints it)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the app keeps its store and forwarded.jsonl (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chat-bot-"))
    workdir.mkdir(parents=True, exist_ok=True)
    portal_url = args.portal.rstrip("/")
    bot = make_bot(portal_url, Forwarder(workdir / "forwarded.jsonl"))
    ready = threading.Event()
    registered: list[int] = []
    with local_app(
        portal_url,
        workdir,
        admin_token=args.admin_token,
        title="Sales bot",
        setup=setup(bot, ready, registered),
    ) as handle:
        wait_for_install(handle)
        if not ready.wait(30) or not registered:
            raise SystemExit("the bot was not registered: see the messages above")
        bot_id = registered[-1]
        print(
            f"chat bot 'Sales bot' is #{bot_id}; forwarded messages go to {workdir / 'forwarded.jsonl'}",
            flush=True,
        )
        print(f"write to it at {portal_url}/online/?IM_DIALOG={bot_id} (try /report)", flush=True)
        run_until_stopped("listening for messages (Ctrl-C to stop)")


if __name__ == "__main__":
    main()
