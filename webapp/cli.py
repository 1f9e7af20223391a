"""``crest reset-install``: release a local app's pin to its first portal (T25).

It deletes the stored installation(s), after which the next verified install, from any
portal, is accepted. (``crest demo``, which composes the app and the portal, lives in
:mod:`crest.cli_demo`.)
"""

from __future__ import annotations

import click

__all__ = ["reset_install_command"]


@click.command("reset-install")
@click.option("--store", "store_url", default=None, help="Store URL (default: the store in settings).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_install_command(store_url: str | None, yes: bool) -> None:
    """Delete the stored installation(s), so that another portal may install the app."""
    from crest.stores import open_store

    if store_url is None:
        from crest.settings import Settings

        store_url = Settings.load().store
    store = open_store(store_url)
    found = store.all_installations()
    if not found:
        click.echo("No installation is stored; nothing to reset.")
        return
    for inst in found:
        click.echo(f"installed on {inst.domain} (member_id {inst.member_id})")
    if not yes:
        click.confirm("Delete these installations? The app stops working there until reinstalled", abort=True)
    for inst in found:
        with store.lock(inst.member_id):
            store.delete(inst.member_id)
    click.echo(f"Deleted {len(found)} installation(s); the next verified install will be accepted.")
