"""The call card of a simulated call: the CALL_CARD tab's PLACEMENT_OPTIONS are the documented
keys, and binding CALL_CARD needs the telephony scope besides placement."""

from __future__ import annotations

import json
import re

import requests

from crest.client import Client
from portal.testing import PortalHandle
from tests.portal._portal_helpers import app_ok as ok
from tests.portal._portal_helpers import app_rest as rest


def _launch_of(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" class="app-launch">(.*?)</script>', html, re.S)
    assert found, html
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_the_call_card_posts_the_documented_options(portal: PortalHandle) -> None:
    app = portal.register_app(title="Script", api_only=True, handler_url="http://127.0.0.1:9/")
    token = portal.issue_tokens(app["client_id"])["access_token"]
    assert ok(
        portal,
        "placement.bind",
        token,
        PLACEMENT="CALL_CARD",
        HANDLER="http://127.0.0.1:9/card",
        TITLE="Script",
    )
    contact = Client.from_webhook(portal.webhook_url).call(
        "crm.contact.add",
        {"fields": {"NAME": "Ann", "PHONE": [{"VALUE": "+1 555 123-45-67", "VALUE_TYPE": "WORK"}]}},
    )
    first = requests.get(
        f"{portal.base_url}/telephony/call/?PHONE=%2B1 555 1234567&DIRECTION=incoming", timeout=10
    )
    assert first.url.count("CALL_ID=externalCall.") == 1  # a new call gets its id in the address
    launch = _launch_of(first.text)
    fields = dict(launch["fields"])  # type: ignore[call-overload]
    assert fields["PLACEMENT"] == "CALL_CARD"
    options = json.loads(fields["PLACEMENT_OPTIONS"])
    assert list(options) == [
        "CALL_ID",
        "PHONE_NUMBER",
        "LINE_NUMBER",
        "LINE_NAME",
        "CRM_ENTITY_TYPE",
        "CRM_ENTITY_ID",
        "CRM_ACTIVITY_ID",
        "CRM_BINDINGS",
        "CALL_DIRECTION",
        "CALL_STATE",
        "CALL_LIST_MODE",
        "URI",
    ]
    assert options["PHONE_NUMBER"] == "+15551234567" and options["CRM_ENTITY_TYPE"] == "CONTACT"
    assert options["CRM_ENTITY_ID"] == str(contact) and options["CRM_BINDINGS"] == [
        {"ENTITY_TYPE": "CONTACT", "ENTITY_ID": str(contact)}
    ]
    assert options["CALL_DIRECTION"] == "incoming" and options["CALL_STATE"] == "connected"
    assert options["CALL_LIST_MODE"] == "false" and options["URI"] == f"/crm/contact/details/{contact}/"
    assert launch["action"].startswith("http://127.0.0.1:9/card?")  # type: ignore[union-attr]
    unknown = _launch_of(
        requests.get(f"{portal.base_url}/telephony/call/?PHONE=999&DIRECTION=outgoing", timeout=10).text
    )
    other = json.loads(dict(unknown["fields"])["PLACEMENT_OPTIONS"])  # type: ignore[call-overload]
    assert other["CRM_ENTITY_TYPE"] == "" and other["CRM_ENTITY_ID"] == "0" and "CRM_BINDINGS" not in other
    bad = requests.get(f"{portal.base_url}/telephony/call/?PHONE=1&DIRECTION=sideways", timeout=10)
    assert bad.status_code == 400 and "Traceback" not in bad.text


def test_call_card_needs_the_telephony_scope(portal: PortalHandle) -> None:
    app = portal.register_app(title="No telephony", api_only=True, scopes=("placement", "crm"))
    token = portal.issue_tokens(app["client_id"])["access_token"]
    status, body = rest(
        portal, "placement.bind", token, PLACEMENT="CALL_CARD", HANDLER="http://127.0.0.1:9/card"
    )
    # As for CRM placements without crm: the placement does not exist for this app.
    assert status == 400 and body["error"] == "ERROR_PLACEMENT_NOT_FOUND"
    assert "CALL_CARD" not in ok(portal, "placement.list", token)
