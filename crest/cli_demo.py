"""``crest demo``: the local portal with the demo app installed in it.

It runs the whole story on one machine: a local portal on ``127.0.0.1`` and the app on
``localhost`` (a different origin, as in production, so the iframe, the frame headers and
the BX24 ``postMessage`` bridge are really cross-origin). It registers the app on the portal
the way an admin does on Developer resources and prints the portal page that opens it: the
first opening runs the UI install in the browser (install page, ``BX24.installFinish()``),
then the app page shows the current user, and a contact's card shows the CRM tab widget.

The command line is the one place that composes the app and the portal (the import
contracts in pyproject.toml name this module as the exception), so it lives here, not in
``webapp``, which never imports the portal.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from crest.private_files import write_private_file

__all__ = ["demo_command", "running_demo"]


@contextmanager
def running_demo(port: int = 0, *, contacts: int = 25) -> Iterator[dict[str, Any]]:
    """The portal and the registered app, running; yields the URLs to open."""
    from portal.app_testing import running_app
    from portal.config import PortalConfig
    from portal.testing import PortalHandle, start_portal

    # Limits stay on (the standard plan), as on a real portal; a demo makes few calls.
    server, portal_app, ca_bundle = start_portal(
        PortalConfig(contacts=contacts, companies=5, deals=10), port=port
    )
    portal = PortalHandle(server, portal_app, ca_bundle)
    operator_key = secrets.token_urlsafe(16)
    try:
        with tempfile.TemporaryDirectory(prefix="crest-demo-") as workdir:
            store_url = f"sqlite:{Path(workdir) / 'crest.sqlite'}"
            with running_app(portal, store=store_url, operator_key=operator_key, events_worker=True) as app:
                yield {
                    "portal_page_url": f"{portal.base_url}/marketplace/app/{app.registered['id']}/",
                    "portal_url": portal.base_url,
                    "contact_page_url": f"{portal.base_url}/crm/contact/details/1/",
                    "app_url": app.url,
                    "operator_url": f"{app.url}/operator",
                    "operator_key": operator_key,
                    "webhook_url": portal.webhook_url,
                    "ca_bundle": ca_bundle,
                    "member_id": portal.portal.config.member_id,
                    "client_id": app.client_id,
                }
    finally:
        portal.close()
        server.stop()


@click.command("demo")
@click.option("--port", type=int, default=8024, show_default=True, help="Portal port (0: any free port).")
@click.option(
    "--info", "info_path", type=click.Path(dir_okay=False), default=None, help="Write the URLs as JSON here."
)
def demo_command(port: int, info_path: str | None) -> None:
    """Run a local portal with the demo app installed in it, until Ctrl-C."""
    from portal.server import wait_until_stopped

    with running_demo(port) as info:
        if info_path:
            # The webhook URL and the operator key are in it: 0600 (crest.private_files), and
            # written whole, so a reader polling for the file never sees half of it.
            write_private_file(info_path, json.dumps(info, indent=2))
        click.echo(f"Portal:         {info['portal_url']}")
        click.echo(f"Open the app:   {info['portal_page_url']}")
        click.echo(f"CRM contact:    {info['contact_page_url']}  (the app's tab appears after install)")
        click.echo(f"App (direct):   {info['app_url']}")
        click.echo(f"Operator page:  {info['operator_url']}  (key: {info['operator_key']})")
        click.echo(
            f"Webhook URL:    {info['webhook_url']}  (user 1, all scopes; for crest call and the examples)"
        )
        # What a person sees first, said before they see it: the portal badges an app that was
        # registered but never opened "not installed", exactly as Bitrix24 does.
        click.echo(
            "First open:     the app is registered, not yet installed: the portal shows it as\n"
            '                "not installed" until you open it. The first open runs its installer in\n'
            "                the frame (BX24.installFinish), then shows the app page with your name."
        )
        click.echo("Press Ctrl-C to stop.")
        wait_until_stopped()
    click.echo("Stopped.")
