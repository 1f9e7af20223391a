"""Call card: a sales script in a tab of the call card, fitted to the caller and the call.

    crest portal --http &
    python examples/call_script.py --portal http://127.0.0.1:8024 --admin-token TOKEN

Then open the call card it prints (or start a call on the portal's Telephony page) and its
"Sales script" tab. The app binds the ``CALL_CARD`` placement once installed; the portal opens
the tab with the call in ``PLACEMENT_OPTIONS`` (``CALL_ID``, ``PHONE_NUMBER``,
``CALL_DIRECTION``, ``CRM_ENTITY_TYPE``/``CRM_ENTITY_ID`` ...). The tab greets a known caller by
name, names their open deals (``crm.contact.get``, ``crm.deal.list`` with the *user's* token),
and shows the script for the call's direction; an unknown number gets the script for a new lead.
A portal without a contact with a phone gets one ("Ann Caller"), and the example says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, render_template_string

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import LocalApp, local_app, run_until_stopped, wait_for_install

from crest.errors import ApiError

PLACEMENT = "CALL_CARD"
TAB_PATH = "/placement/call-script"
TAB_TITLE = "Sales script"
DEMO_PHONE = "+15551234567"

SCRIPTS = {
    "incoming": [
        "Thank the caller for calling and say your name.",
        "Ask what they need today; repeat it back in one sentence.",
        "Offer the next step: a quote, a demo or a call with a specialist.",
    ],
    "outgoing": [
        "Say your name and company; ask whether it is a good moment.",
        "Remind them why you call: their last request or open deal.",
        "Agree on one next step and a date.",
    ],
    "callback": [
        "Say you are returning their call.",
        "Ask what they called about; apologise for the wait.",
        "Agree on one next step and a date.",
    ],
}
NEW_LEAD = "Unknown number: ask for their name, company and email, and create a lead."

TAB = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sales script</title><script src="{{ bx24 }}"></script>
<style>body { font: 14px system-ui, sans-serif; margin: 1rem; } li { margin: .3rem 0; }</style>
</head><body>
<h1 id="greeting">{{ greeting }}</h1>
<p id="call">{{ direction }} call {{ phone or "from an unknown number" }}</p>
{% if deals %}<p id="deals">Open deals: {% for d in deals %}<span>{{ d }}</span>{{ ", " if not loop.last }}{% endfor %}</p>{% endif %}
{% if note %}<p id="note">{{ note }}</p>{% endif %}
<ol id="script">{% for step in steps %}<li>{{ step }}</li>{% endfor %}</ol>
<script>BX24.init(function () { BX24.fitWindow(); });</script>
</body></html>
"""


def script_for(page: Any) -> str:
    options = page.options
    direction = str(options.get("CALL_DIRECTION") or "incoming")
    steps = SCRIPTS.get(direction, SCRIPTS["incoming"])
    greeting, deals, note = "Hello!", [], None
    contact_id = str(options.get("CRM_ENTITY_ID") or "0")
    if options.get("CRM_ENTITY_TYPE") == "CONTACT" and contact_id.isdigit() and contact_id != "0":
        try:
            contact = page.client.call("crm.contact.get", {"ID": contact_id})
            found = page.client.call(
                "crm.deal.list",
                {"filter": {"CONTACT_ID": contact_id, "CLOSED": "N"}, "select": ["ID", "TITLE"]},
            )
        except ApiError as exc:
            note = f"The portal refused to show the caller: {exc.code or 'error'}."
        else:
            greeting = f"Hello, {contact.get('NAME') or 'there'}!"
            deals = [str(d.get("TITLE") or f"#{d['ID']}") for d in found]
    else:
        note = NEW_LEAD
    return render_template_string(
        TAB,
        bx24=page.bx24_js_url,
        greeting=greeting,
        direction=direction.capitalize(),
        phone=str(options.get("PHONE_NUMBER") or ""),
        deals=deals,
        note=note,
        steps=steps,
    )


def setup(app: Flask) -> None:
    from webapp.hooks import Page, pages

    # The kit binds the tab at install and serves it at TAB_PATH after verifying the frame.
    @pages(app).placement(PLACEMENT, title=TAB_TITLE, path=TAB_PATH)
    def call_tab(page: Page) -> str:
        return script_for(page)


def caller_to_ring(handle: LocalApp) -> tuple[str, bool]:
    """A phone number of a contact (the first one with a phone), or a new contact's."""
    from webapp.extension import state

    crest = state(handle.app)
    [installation] = crest.store.all_installations()
    client = crest.client(installation.member_id)
    for contact in client.list_all("crm.contact.list", select=["ID", "PHONE"], filter={"HAS_PHONE": "Y"}):
        for item in contact.get("PHONE") or []:
            if item.get("VALUE"):
                return str(item["VALUE"]), False
    fields = {"NAME": "Ann", "LAST_NAME": "Caller", "PHONE": [{"VALUE": DEMO_PHONE, "VALUE_TYPE": "WORK"}]}
    client.call("crm.contact.add", {"fields": fields})
    return DEMO_PHONE, True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--portal", required=True, help="the local portal (crest portal), e.g. http://127.0.0.1:8024"
    )
    parser.add_argument(
        "--admin-token", required=True, help="the portal's admin token (crest portal prints it)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the app keeps its store (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="call-script-"))
    portal = args.portal.rstrip("/")
    with local_app(
        portal, workdir, admin_token=args.admin_token, title="Sales script", setup=setup
    ) as handle:
        wait_for_install(handle)
        print(
            f"installed the app on {portal}; bound the {TAB_TITLE} tab ({PLACEMENT}) to {handle.url}{TAB_PATH}"
        )
        phone, created = caller_to_ring(handle)
        if created:
            print(f"created contact 'Ann Caller' with phone {phone}, to have a known caller")
        card = f"{portal}/telephony/call/?{urlencode({'PHONE': phone, 'DIRECTION': 'incoming'})}"
        run_until_stopped(f"open {card} and its {TAB_TITLE} tab (Ctrl-C to stop)")


if __name__ == "__main__":
    main()
