"""examples/erp_tab.py as the README runs it, and its tab opened in real Chromium inside the
portal's contact card: the portal (127.0.0.1) frames the app (localhost), so the browser shows
the tab only if the app's page allows that very portal to frame it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "erp_tab.py"
WAIT = 15_000  # ms


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal() as handle:  # as `crest portal` starts: no contacts
        yield handle


@pytest.fixture
def example(portal: PortalHandle, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`python examples/erp_tab.py --portal URL` running; yields the tab's URL and the contact
    card's URL it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE),
            "--portal",
            portal.base_url,
            "--admin-token",
            portal.admin_token,
            "--workdir",
            str(tmp_path / "app"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        out = "".join(lines)
        assert "and its ERP tab" in out, out
        found = re.search(r"bound the ERP tab \(CRM_CONTACT_DETAIL_TAB\) to (\S+)", out)
        assert found, out
        card = re.search(r"open (\S+/crm/contact/details/\d+/) and its ERP tab", out)
        assert card and "created contact" in out, out
        yield found.group(1), card.group(1)
    finally:
        proc.terminate()
        proc.wait(15)


def add_contact(portal: PortalHandle, fields: dict[str, Any]) -> int:
    return int(Client.from_webhook(portal.webhook_url).call("crm.contact.add", {"fields": fields}))


def open_erp_tab(page: Any, portal: PortalHandle, contact_id: int) -> Any:
    page.goto(f"{portal.base_url}/crm/contact/details/{contact_id}/")
    page.locator("a[data-tab^='placement_']", has_text="ERP").click()
    return page.frame_locator("iframe.app-iframe")


def test_the_printed_card_shows_the_erp_tab(page: Any, example: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    page.goto(example[1])
    page.locator("a[data-tab^='placement_']", has_text="ERP").click()
    tab = page.frame_locator("iframe.app-iframe")
    expect(tab.locator("#account")).to_have_text("Account C-1001", timeout=WAIT)


def test_the_erp_tab_shows_in_the_contact_card(
    page: Any, portal: PortalHandle, example: tuple[str, str]
) -> None:
    from playwright.sync_api import expect

    known = add_contact(
        portal, {"NAME": "Ann", "EMAIL": [{"VALUE": "ANN@example.com", "VALUE_TYPE": "WORK"}]}
    )
    by_phone = add_contact(
        portal, {"NAME": "Bo", "PHONE": [{"VALUE": "+44 (20) 5550-0104", "VALUE_TYPE": "WORK"}]}
    )
    stranger = add_contact(portal, {"NAME": "Cy <i>", "EMAIL": [{"VALUE": "cy@x.io", "VALUE_TYPE": "WORK"}]})
    tab = open_erp_tab(page, portal, known)
    expect(tab.locator("#account")).to_have_text("Account C-1001", timeout=WAIT)
    expect(tab.locator("#balance")).to_contain_text("1,250.00 USD")
    expect(tab.locator("#orders")).to_contain_text("SO-2024-0342")
    screenshot(page, "example-erp-tab")
    expect(open_erp_tab(page, portal, by_phone).locator("#account")).to_have_text(
        "Account C-1002", timeout=WAIT
    )
    expect(open_erp_tab(page, portal, stranger).locator("#none")).to_contain_text("Cy <i>", timeout=WAIT)


def test_a_forged_frame_is_refused(portal: PortalHandle, example: tuple[str, str]) -> None:
    forged = requests.post(
        example[0],
        params={"DOMAIN": portal.portal.domain, "PROTOCOL": "0", "LANG": "en", "APP_SID": "x" * 32},
        data={
            "AUTH_ID": "forged",
            "PLACEMENT": "CRM_CONTACT_DETAIL_TAB",
            "PLACEMENT_OPTIONS": '{"ID":"1"}',
            "member_id": portal.portal.config.member_id,
        },
        timeout=10,
    )
    assert forged.status_code in {400, 401, 403}
    assert "C-1001" not in forged.text
    # Even refused, the page may be framed by the installed portal only, never by anyone.
    policy = forged.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in forged.headers
    assert policy.endswith(f"frame-ancestors {portal.base_url}"), policy
