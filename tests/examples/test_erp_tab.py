"""examples/erp_tab.py over HTTP: the portal's contact card opens the bound tab; the frame POST
the browser would make reaches the app, which shows the matching ERP account."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import requests

from crest.client import Client
from portal.testing import PortalHandle, running_portal


def open_tab(portal: PortalHandle, contact_id: int, title: str) -> requests.Response:
    card = requests.get(f"{portal.base_url}/crm/contact/details/{contact_id}/", timeout=10).text
    tabs = dict(
        (t, k) for k, t in re.findall(r'href="[^"]*[?&]tab=(placement_\d+)[^"]*"[^>]*>([^<]+)<', card)
    )
    assert title in tabs, card
    page = requests.get(
        f"{portal.base_url}/crm/contact/details/{contact_id}/?tab={tabs[title]}", timeout=10
    ).text
    found = re.search(r'<script type="application/json" class="app-launch">(.*?)</script>', page, re.S)
    assert found, page
    launch = json.loads(html.unescape(found.group(1)))
    # What portal.js does: POST the fields into the iframe, to the handler with the query.
    return requests.post(launch["action"], data=dict(launch["fields"]), timeout=10)


def test_contact_tab_shows_the_erp_account(tmp_path: Path, load_example: Callable[[str], ModuleType]) -> None:
    example = load_example("erp_tab")
    erp = example.Erp(example.DEFAULT_ERP)
    with running_portal() as portal:
        hook = Client.from_webhook(portal.webhook_url)
        known = hook.call(
            "crm.contact.add",
            {"fields": {"NAME": "Ann", "EMAIL": [{"VALUE": "ANN@example.com", "VALUE_TYPE": "WORK"}]}},
        )
        by_phone = hook.call(
            "crm.contact.add",
            {"fields": {"NAME": "Bo", "PHONE": [{"VALUE": "+44 (20) 5550-0104", "VALUE_TYPE": "WORK"}]}},
        )
        stranger = hook.call(
            "crm.contact.add",
            {"fields": {"NAME": "Cy <i>", "EMAIL": [{"VALUE": "cy@x.io", "VALUE_TYPE": "WORK"}]}},
        )
        with example.local_app(
            portal.base_url, tmp_path, admin_token=portal.admin_token, title="ERP", setup=example.setup(erp)
        ) as app:
            example.wait_for_install(app)
            example.bind_tab(app)
            example.bind_tab(app)  # idempotent: a second start binds nothing new
            mine = [
                p
                for p in portal.portal.events.placements_of(app.registered["client_id"])
                if p["handler"].endswith("/erp/contact-tab")
            ]
            assert len(mine) == 1
            resp = open_tab(portal, known, "ERP")
            assert resp.status_code == 200, resp.text
            assert 'id="account">Account C-1001<' in resp.text and "1,250.00 USD" in resp.text
            assert "SO-2024-0342" in resp.text and "awaiting payment" in resp.text
            assert 'id="account">Account C-1002<' in open_tab(portal, by_phone, "ERP").text
            none = open_tab(portal, stranger, "ERP").text
            assert 'id="none"' in none and "Cy &lt;i&gt;" in none
            # A forged frame (tokens the portal never issued) is refused.
            forged = requests.post(
                app.url + "/erp/contact-tab",
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
