"""Your data in the CRM card: a contact tab that shows what another system knows about them.

    crest portal --http --no-limits --contacts 5 &
    python examples/erp_tab.py --portal http://127.0.0.1:8024 --admin-token TOKEN

Then open a contact on the portal (http://127.0.0.1:8024/crm/contact/details/1/) and its
"ERP" tab. The app binds ``CRM_CONTACT_DETAIL_TAB`` once installed; the portal opens the tab by
POSTing the current user's tokens and ``PLACEMENT_OPTIONS={"ID": <contact>}`` into an iframe.
The tab is registered with ``@pages(app).placement`` (webapp.hooks): the kit binds it at
install, serves it with the frame policy that lets only the installed portal frame it, and
verifies the frame before the view runs. The view reads the contact's emails and phones with the
*user's* token (so a user who may not see the contact sees nothing), and looks them up in the
"ERP": here a JSON file (examples/data/erp.json), in real life your accounting database.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, render_template_string

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import LocalApp, local_app, run_until_stopped, wait_for_install

from crest.errors import ApiError

PLACEMENT = "CRM_CONTACT_DETAIL_TAB"
TAB_PATH = "/placement/erp-contact"
TAB_TITLE = "ERP"
DEFAULT_ERP = Path(__file__).resolve().parent / "data" / "erp.json"

TAB = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ERP</title><script src="{{ bx24 }}"></script>
<style>body { font: 14px system-ui, sans-serif; margin: 1rem; } td, th { padding: .2rem .6rem; text-align: left; }</style>
</head><body>
{% if error %}<p id="error">{{ error }}</p>
{% elif not customer %}<p id="none">No ERP account matches {{ name or "this contact" }}'s email or phone.</p>
{% else %}
<h1 id="account">Account {{ customer.account }}</h1>
<p>Balance <strong id="balance">{{ customer.balance }}</strong>, credit limit {{ customer.credit_limit }}</p>
<table id="orders"><tr><th>Order</th><th>Date</th><th>Total</th><th>Status</th></tr>
{% for order in customer.orders %}<tr><td>{{ order.number }}</td><td>{{ order.date }}</td><td>{{ order.total }}</td><td>{{ order.status }}</td></tr>
{% else %}<tr><td colspan="4">No orders yet.</td></tr>{% endfor %}
</table>
{% endif %}
<script>BX24.init(function () { BX24.fitWindow(); });</script>
</body></html>
"""


class Erp:
    """The other system: customers by email (case-insensitive) and by phone (digits only)."""

    def __init__(self, path: Path) -> None:
        self.by_key: dict[str, dict[str, Any]] = {}
        for customer in json.loads(path.read_text(encoding="utf-8"))["customers"]:
            if customer.get("email"):
                self.by_key["email:" + customer["email"].strip().lower()] = customer
            if customer.get("phone"):
                self.by_key["phone:" + re.sub(r"\D", "", customer["phone"])] = customer

    def find(self, emails: list[str], phones: list[str]) -> dict[str, Any] | None:
        keys = ["email:" + e.strip().lower() for e in emails] + [
            "phone:" + re.sub(r"\D", "", p) for p in phones
        ]
        return next((self.by_key[k] for k in keys if k in self.by_key), None)


def _values(record: dict[str, Any], field: str) -> list[str]:
    items = record.get(field) or []
    return [str(item.get("VALUE") or "") for item in items if isinstance(item, dict) and item.get("VALUE")]


def setup(erp: Erp) -> Any:
    def add_tab(app: Flask) -> None:
        from webapp.hooks import Page, pages
        from webapp.placement import full_name

        # The kit binds the tab at install and serves it at TAB_PATH, after verifying that the
        # portal really opened this frame; the view gets a client acting as the current user.
        @pages(app).placement(PLACEMENT, title=TAB_TITLE, path=TAB_PATH)
        def contact_tab(page: Page) -> str:
            contact_id = str(page.options.get("ID") or "")
            if not contact_id.isdigit():
                return render_template_string(
                    TAB, bx24=page.bx24_js_url, error="Open this tab from a contact's card."
                )
            try:
                contact = page.client.call("crm.contact.get", {"ID": contact_id})
            except ApiError as exc:
                return render_template_string(
                    TAB, bx24=page.bx24_js_url, error=f"The portal refused: {exc.code or 'error'}."
                )
            customer = erp.find(_values(contact, "EMAIL"), _values(contact, "PHONE"))
            return render_template_string(
                TAB, bx24=page.bx24_js_url, customer=customer, name=full_name(contact), error=None
            )

    return add_tab


def contact_to_open(handle: LocalApp, erp_path: Path) -> tuple[int, bool]:
    """A contact whose tab has ERP data: found by the ERP's first email, else created (new?)."""
    from webapp.extension import state

    crest = state(handle.app)
    [installation] = crest.store.all_installations()
    client = crest.client(installation.member_id)
    email = json.loads(erp_path.read_text(encoding="utf-8"))["customers"][0]["email"]
    found = client.call(
        "crm.duplicate.findbycomm", {"type": "EMAIL", "values": [email], "entity_type": "CONTACT"}
    )
    # {"CONTACT": [ids]} when something matched, [] (PHP's empty map) otherwise.
    ids = found.get("CONTACT") if isinstance(found, dict) else None
    if ids:
        return int(min(ids)), False
    fields = {"NAME": "Ann", "LAST_NAME": "(ERP example)", "EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}]}
    return int(client.call("crm.contact.add", {"fields": fields})), True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--portal", required=True, help="the local portal (crest portal), e.g. http://127.0.0.1:8024"
    )
    parser.add_argument(
        "--admin-token", required=True, help="the portal's admin token (crest portal prints it)"
    )
    parser.add_argument("--erp", type=Path, default=DEFAULT_ERP, help="the ERP's customers (JSON)")
    parser.add_argument(
        "--workdir", type=Path, help="where the app keeps its store (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="erp-tab-"))
    with local_app(
        args.portal, workdir, admin_token=args.admin_token, title="ERP data", setup=setup(Erp(args.erp))
    ) as handle:
        wait_for_install(handle)
        portal = args.portal.rstrip("/")
        print(
            f"installed the app on {portal}; bound the {TAB_TITLE} tab ({PLACEMENT}) to {handle.url}{TAB_PATH}"
        )
        contact, created = contact_to_open(handle, args.erp)
        if created:
            print(f"created contact {contact} with the ERP's first customer's email, to have a card to open")
        run_until_stopped(
            f"open {portal}/crm/contact/details/{contact}/ and its {TAB_TITLE} tab (Ctrl-C to stop)"
        )


if __name__ == "__main__":
    main()
