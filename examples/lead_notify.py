"""Tell an employee about every new lead, in their Bitrix24 notifications.

    crest portal --http --no-limits &
    python examples/lead_notify.py --portal http://127.0.0.1:8024 --admin-token TOKEN --notify-user 1

The app handles ONCRMLEADADD: it reads the lead (the event carries only its ID) and sends a
system notification (``im.notify.system.add``) to the lead's responsible employee, or to
``--notify-user`` when the lead has none. The TAG names the lead: on Bitrix24 a notification
with the same tag replaces the older one, so a redelivered event does not leave two.
Create a lead on the portal (``crest call crm.lead.add ...`` or the website form example) to
see it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import local_app, run_until_stopped, wait_for_install

from crest.client import Client
from crest.events import Event, EventContext
from webapp.events import router


def message_for(lead: dict[str, Any]) -> str:
    who = " ".join(str(lead.get(k) or "").strip() for k in ("NAME", "LAST_NAME")).strip()
    title = str(lead.get("TITLE") or "").strip() or "untitled"
    # Bitrix24 renders BB-code in notifications; [URL] links the lead's card.
    return f"New lead [URL=/crm/lead/details/{lead['ID']}/]{title}[/URL]" + (f" from {who}" if who else "")


def notify_about_lead(client: Client, lead_id: int, fallback_user: int) -> int:
    lead = client.call("crm.lead.get", {"ID": lead_id})
    user = int(lead.get("ASSIGNED_BY_ID") or fallback_user)
    return int(
        client.call(
            "im.notify.system.add",
            {"USER_ID": user, "MESSAGE": message_for(lead), "TAG": f"LEAD_NOTIFY|{lead_id}"},
        )
    )


def setup(fallback_user: int) -> Any:
    def install_handlers(app: Flask) -> None:
        @router(app).on("ONCRMLEADADD")
        def lead_added(event: Event, ctx: EventContext) -> None:
            if event.entity_id and str(event.entity_id).isdigit():
                notification = notify_about_lead(ctx.client, int(event.entity_id), fallback_user)
                print(f"lead {event.entity_id}: notification #{notification} sent", flush=True)

    return install_handlers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--portal", required=True, help="the local portal (crest portal), e.g. http://127.0.0.1:8024"
    )
    parser.add_argument(
        "--admin-token", required=True, help="the portal's admin token (crest portal prints it)"
    )
    parser.add_argument(
        "--notify-user", type=int, default=1, help="who hears about leads nobody is responsible for"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the app keeps its store (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lead-notify-"))
    with local_app(
        args.portal,
        workdir,
        admin_token=args.admin_token,
        title="Lead notifications",
        setup=setup(args.notify_user),
    ) as handle:
        wait_for_install(handle)
        run_until_stopped(f"notifying about new leads; events arrive at {handle.url}/events (Ctrl-C to stop)")


if __name__ == "__main__":
    main()
