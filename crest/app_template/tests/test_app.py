"""__NAME__ against a local Bitrix24 portal: real HTTP on 127.0.0.1, nothing mocked."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from app import create_app

from crest.client import Client
from portal.app_testing import running_app
from portal.testing import PortalHandle


def _app(portal: PortalHandle, log: Path, **settings: Any) -> Any:
    return running_app(portal, factory=lambda s: create_app(s, changes_log=log), **settings)


def test_the_page_greets_the_user_who_opened_it(portal: PortalHandle, tmp_path: Path) -> None:
    with _app(portal, tmp_path / "changes.jsonl") as app:
        app.install()
        page = app.post_frame("/", user_id=2)
        assert page.status_code == 200
        assert portal.portal.directory.full_name(2) in page.text


def test_the_contact_tab_shows_the_contact(portal: PortalHandle, tmp_path: Path) -> None:
    with _app(portal, tmp_path / "changes.jsonl") as app:
        app.install()
        hook = Client.from_webhook(portal.webhook_url, ca_bundle=portal.ca_bundle)
        contact_id = hook.call("crm.contact.add", {"fields": {"NAME": "Ada", "LAST_NAME": "Lovelace"}})
        tab = app.post_frame(
            "/placement/crm_contact_detail_tab",
            placement="CRM_CONTACT_DETAIL_TAB",
            options={"ID": contact_id},
        )
        assert tab.status_code == 200
        assert "Ada Lovelace" in tab.text


def test_a_contact_change_reaches_the_handler_once(portal: PortalHandle, tmp_path: Path) -> None:
    log = tmp_path / "changes.jsonl"
    with _app(portal, log, events_worker=True) as app:
        app.install()
        hook = Client.from_webhook(portal.webhook_url, ca_bundle=portal.ca_bundle)
        contact_id = hook.call("crm.contact.add", {"fields": {"NAME": "Ada"}})
        hook.call("crm.contact.update", {"ID": contact_id, "fields": {"NAME": "Grace"}})
        portal.flush()
        deadline = time.monotonic() + 15  # the worker thread runs the handler
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second run of the handler would show up by now
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert [(line["id"], line["name"]) for line in lines] == [(str(contact_id), "Grace")]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium (Debian: apt install chromium)")
def test_the_page_in_a_browser(portal: PortalHandle, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with _app(portal, tmp_path / "changes.jsonl") as app, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{portal.base_url}/marketplace/app/{app.registered['id']}/")
            frame = page.frame_locator("iframe.app-iframe")
            # The first open runs the kit's installer; the portal then opens the app's page.
            expect(frame.locator("#user-name")).to_have_text(
                portal.portal.directory.full_name(1), timeout=15_000
            )
        finally:
            browser.close()
