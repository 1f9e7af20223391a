"""examples/call_script.py as the README runs it, and its tab opened in real Chromium inside the
call card of a call simulated on the portal: the script fits the caller and the direction."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "call_script.py"
WAIT = 15_000  # ms


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal() as handle:  # as `crest portal` starts: no contacts
        yield handle


@pytest.fixture
def card_url(portal: PortalHandle, tmp_path: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--portal", portal.base_url, "--admin-token", portal.admin_token],
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        out = ""
        for line in proc.stdout:
            out += line
            if "Ctrl-C to stop" in line:
                break
        assert "Traceback" not in out and "created contact 'Ann Caller'" in out, out
        found = re.search(r"open (\S+/telephony/call/\S+) and its Sales script tab", out)
        assert found, out
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_known_callers_card_shows_the_script_with_their_name_and_deals(
    page: Any, portal: PortalHandle, card_url: str
) -> None:
    from playwright.sync_api import expect

    hook = Client.from_webhook(portal.webhook_url)
    [ann] = hook.call("crm.contact.list", {"filter": {"LAST_NAME": "Caller"}})
    hook.call(
        "crm.deal.add", {"fields": {"TITLE": "Office chairs", "CONTACT_ID": ann["ID"], "STAGE_ID": "NEW"}}
    )
    page.goto(card_url)
    expect(page.locator(".call-title")).to_have_text("Incoming call: +15551234567")
    expect(page.locator(".call-info a")).to_have_text("Ann Caller")
    expect(page.locator("a[data-tab^='placement_']")).to_have_text("Sales script")
    tab = page.frame_locator("iframe.app-iframe")
    expect(tab.locator("#greeting")).to_have_text("Hello, Ann!", timeout=WAIT)
    expect(tab.locator("#deals span")).to_have_text(["Office chairs"])
    expect(tab.locator("#script li").first).to_have_text("Thank the caller for calling and say your name.")
    screenshot(page, "call_script_card")
    # The same call keeps its id when the tab is opened again.
    call_id = page.locator(".call-info").get_attribute("data-call-id")
    page.locator("a[data-tab^='placement_']").click()
    expect(page.locator(".call-info")).to_have_attribute("data-call-id", call_id or "")


def test_an_unknown_outgoing_number_from_the_telephony_page(
    page: Any, portal: PortalHandle, card_url: str
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{portal.base_url}/telephony/")
    page.fill("input[name=PHONE]", "+1 (555) 987-65-43")
    page.select_option("select[name=DIRECTION]", "outgoing")
    page.click(".call-form button[type=submit]")
    expect(page.locator(".call-title")).to_have_text("Outgoing call: +15559876543")
    expect(page.locator(".call-info")).to_contain_text("The number is not in the CRM.")
    tab = page.frame_locator("iframe.app-iframe")
    expect(tab.locator("#note")).to_contain_text("Unknown number", timeout=WAIT)
    expect(tab.locator("#call")).to_have_text("Outgoing call +15559876543")
    expect(tab.locator("#script li").first).to_contain_text("ask whether it is a good moment")
