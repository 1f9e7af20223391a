"""examples/chat_bot.py as the README runs it, and a person writing to the bot on the portal's
messenger page in real Chromium: the greeting, ``/report`` answered with CRM data under a
keyboard, a keyboard button, and a plain message forwarded to the example's handler."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat_bot.py"
WAIT = 15_000  # ms


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal(deals=5) as handle:  # as the README starts it: `crest portal --http --deals 5`
        yield handle


class Example:
    def __init__(self, proc: subprocess.Popen[str], out: str) -> None:
        self.proc = proc
        self.out = out

    def read_until(self, needle: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out += line
            if needle in line:
                break
        return self.out


@pytest.fixture
def example(portal: PortalHandle, tmp_path: Path) -> Iterator[Example]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE),
            "--portal",
            portal.base_url,
            "--admin-token",
            portal.admin_token,
        ],  # the README's command, nothing added
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        running = Example(proc, "")
        out = running.read_until("Ctrl-C to stop")
        assert "Traceback" not in out and "Ctrl-C to stop" in out, out
        yield running
    finally:
        proc.terminate()
        proc.wait(15)


def expected_report(portal: PortalHandle) -> str:
    deals = Client.from_webhook(portal.webhook_url).list_all(
        "crm.deal.list", select=["STAGE_ID", "OPPORTUNITY"]
    )
    open_deals = [d for d in deals if not str(d["STAGE_ID"]).endswith(("WON", "LOSE"))]
    total = sum((Decimal(str(d["OPPORTUNITY"] or 0)) for d in open_deals), Decimal(0))
    return f"Open deals: {len(open_deals)}, worth {total:,.2f}"


def test_a_person_talks_to_the_bot_on_the_messenger_page(
    page: Any, portal: PortalHandle, example: Example
) -> None:
    from playwright.sync_api import expect

    found = re.search(r"write to it at (\S+/online/\?IM_DIALOG=(\d+))", example.out)
    assert found, example.out
    page.goto(found.group(1))
    messages = page.locator(".im-messages .im-message")
    # Opening the dialog the first time: ONIMBOTJOINCHAT, and the bot greets.
    expect(messages.first).to_contain_text("Write /report", timeout=WAIT)
    page.fill(".im-form textarea", "/report")
    page.press(".im-form textarea", "Enter")
    answer = messages.filter(has_text="Open deals:")
    expect(answer).to_contain_text(expected_report(portal), timeout=WAIT)
    keyboard = answer.locator(".im-keyboard")
    expect(keyboard.locator("button")).to_have_text(["Refresh", "Open deals"])
    expect(keyboard.locator("a")).to_have_text("Open the CRM")
    # A keyboard button runs its command (ONIMCOMMANDADD, context KEYBOARD).
    keyboard.locator("button", has_text="Open deals").click()
    deal_list = page.locator(".im-messages .im-text").filter(has_text=re.compile(r"^#\d+ "))
    expect(deal_list).to_have_count(1, timeout=WAIT)
    # Anything else is forwarded to the example's handler, and the bot says so.
    page.fill(".im-form textarea", "Please call me back about the order")
    page.click(".im-form button[type=submit]")
    expect(messages.last).to_contain_text("passed your message on to the sales team (#1)", timeout=WAIT)
    # Inform employees: a new deal of Maria's is announced in her chat with the bot.
    deal = Client.from_webhook(portal.webhook_url).call(
        "crm.deal.add", {"fields": {"TITLE": "Forty chairs", "OPPORTUNITY": 1200, "ASSIGNED_BY_ID": 1}}
    )
    expect(messages.last).to_contain_text(f"New deal #{deal}: Forty chairs, 1,200.00", timeout=WAIT)
    screenshot(page, "chat_bot_messenger")
    out = example.read_until(f"told user 1 about deal {deal}")
    assert "/report for Maria Ivanova: Open deals:" in out, out
    assert re.search(
        r"forwarded message \d+ from Maria Ivanova: 'Please call me back about the order'", out
    ), out
    forwarded = re.search(r"forwarded messages go to (\S+)", out)
    assert forwarded, out
    [line] = Path(forwarded.group(1)).read_text().splitlines()
    assert json.loads(line)["text"] == "Please call me back about the order"
    assert "Traceback" not in out


def test_a_post_without_the_pages_sessid_is_refused(page: Any, example: Example) -> None:
    from playwright.sync_api import expect

    found = re.search(r"write to it at (\S+)", example.out)
    assert found, example.out
    page.goto(found.group(1))
    expect(page.locator(".im-messages .im-message").first).to_contain_text("Write /report", timeout=WAIT)
    # Another site cannot make the person's browser write: the sessid is the page's own.
    resp = page.request.post(
        found.group(1).replace("/online/?IM_DIALOG=", "/online/send?dialog="),
        data=json.dumps({"dialog": found.group(1).rsplit("=", 1)[1], "message": "hi", "sessid": "forged"}),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 403
    page.wait_for_timeout(300)
    expect(page.locator(".im-messages .im-message")).to_have_count(1)
