"""``crest new`` and ``crest dev``: an app of your own, from an empty folder to the local portal.

``crest new DIR`` writes a working Flask app that uses the kit as a library (its own iframe
page, a CRM contact tab, an event handler, ``settings.py``, tests against the ``portal``
fixture, a Makefile). ``crest dev``, run in that folder, starts a local portal, registers the
app on it the way an administrator does on Developer resources, serves the app with settings
that point at that portal, and prints the page to open.

Like ``crest demo``, this module composes the app with the portal, which only the command line
may do (the import contracts in pyproject.toml name it).
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any

import click

from crest.cli_target import import_target

__all__ = ["dev_command", "new_command"]

TEMPLATE = Path(__file__).resolve().parent / "app_template"


def _module_name(folder: Path) -> str:
    name = re.sub(r"\W+", "_", folder.name.lower()).strip("_") or "myapp"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"app_{name}"
    return name


@click.command("new")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--title", default=None, help="The app's title in the portal (default: the folder's name).")
def new_command(directory: Path, title: str | None) -> None:
    """Write a new Bitrix24 app of your own into DIRECTORY (which must be empty or absent)."""
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty; choose a new folder")
    module = _module_name(directory.resolve())
    words = {
        "__NAME__": directory.resolve().name,
        "__TITLE__": title or directory.resolve().name,
        "__MODULE__": module,
    }
    written = 0
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = str(source.relative_to(TEMPLATE))
        text = source.read_text(encoding="utf-8")
        for placeholder, value in words.items():
            relative = relative.replace(placeholder, value)
            text = text.replace(placeholder, value)
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written += 1
    click.echo(f"wrote {written} files to {directory}")
    click.echo(f"next: cd {directory} && crest dev     (the app inside a local portal)")
    click.echo("      make test                        (its tests, against a local portal)")


def _factory(spec: str) -> Any:
    factory = import_target(spec, "--app", "app:create_app")
    if not callable(factory):
        raise click.ClickException(
            f"--app {spec}: {spec.partition(':')[2]} is not a function taking Settings"
        )
    return factory


@click.command("dev")
@click.option(
    "--app", "app_spec", default="app:create_app", show_default=True, help="module:factory of your app."
)
@click.option("--port", type=int, default=8024, show_default=True, help="Portal port (0: any free port).")
@click.option("--contacts", type=int, default=5, show_default=True, help="Contacts the portal starts with.")
def dev_command(app_spec: str, port: int, contacts: int) -> None:
    """Run your app (in the current folder) inside a local Bitrix24 portal, until Ctrl-C."""
    from portal.app_testing import running_app
    from portal.config import PortalConfig
    from portal.server import wait_until_stopped
    from portal.testing import PortalHandle, start_portal

    factory = _factory(app_spec)
    Path("var").mkdir(exist_ok=True)
    server, portal_app, ca_bundle = start_portal(PortalConfig(contacts=contacts), port=port)
    portal = PortalHandle(server, portal_app, ca_bundle)
    try:
        with running_app(
            portal, factory=factory, store=f"sqlite:{Path('var/dev.sqlite').resolve()}", events_worker=True
        ) as app:
            click.echo(f"Portal:        {portal.base_url}")
            click.echo(f"Open the app:  {portal.base_url}/marketplace/app/{app.registered['id']}/")
            click.echo("               (the first open runs the kit's installer, then shows your page)")
            click.echo(f"CRM contact:   {portal.base_url}/crm/contact/details/1/  (your tab is on the card)")
            click.echo(f"Webhook URL:   {portal.webhook_url}")
            click.echo(f"App (direct):  {app.url}")
            click.echo("Press Ctrl-C to stop.")
            wait_until_stopped()
    finally:
        portal.close()
        server.stop()
    click.echo("Stopped.")
