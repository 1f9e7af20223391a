"""__NAME__: a Bitrix24 local application built with b24-crest.

Run it against a local portal with ``crest dev`` (or ``make dev``), test it with ``make test``,
serve it with ``crest serve``. Its pages and handlers plug into the kit's routes through hooks,
so the verification of what the portal POSTs always runs first.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from flask import Blueprint, Flask

from crest.events import Event, EventContext
from crest.settings import Settings
from webapp import create_app as create_kit_app
from webapp.events import router
from webapp.hooks import Page, pages
from webapp.placement import full_name

HERE = Path(__file__).resolve().parent
#: Where the example handler records the contact changes it saw (one JSON line each).
CHANGES_LOG = HERE / "var" / "contact-changes.jsonl"
_write_lock = threading.Lock()


def create_app(settings: Settings | None = None, *, changes_log: Path = CHANGES_LOG) -> Flask:
    """The app: ``gunicorn 'app:create_app()'``, ``crest worker --router app:create_app``."""
    app = create_kit_app(settings or Settings.load(HERE / "settings.py"))
    # The app's own templates (templates/), after the kit's.
    app.register_blueprint(Blueprint("__MODULE__", __name__, template_folder="templates"))
    kit = pages(app)

    @kit.frame("/")
    def index(page: Page) -> str:
        """The app's page in the portal's iframe, as the user who opened it."""
        me = page.client.call("user.current")
        return page.render("__MODULE___index.html", name=full_name(me))

    @kit.placement("CRM_CONTACT_DETAIL_TAB", title="__TITLE__")
    def contact_tab(page: Page) -> str:
        """A tab on every CRM contact card; ``page.options["ID"]`` is the open contact."""
        contact = page.client.call("crm.contact.get", {"ID": page.options.get("ID")})
        return page.render("__MODULE___contact_tab.html", contact=contact, name=full_name(contact))

    @router(app).on("ONCRMCONTACTUPDATE")
    def contact_updated(event: Event, ctx: EventContext) -> None:
        """Runs in the worker once per change; read the record again, the event only says "changed"."""
        contact = ctx.client.call("crm.contact.get", {"ID": event.entity_id})
        line = {"id": event.entity_id, "name": full_name(contact), "ts": event.ts}
        changes_log.parent.mkdir(parents=True, exist_ok=True)
        with _write_lock, changes_log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    return app
