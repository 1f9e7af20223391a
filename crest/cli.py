"""The ``crest`` command line.

Subcommands that need Flask (``portal``, ``demo``, ...) are loaded only when called, so
``crest call`` stays light. ``crest demo`` (:mod:`crest.cli_demo`) is the one place that
composes the app and the portal.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: name -> "module:attribute" of commands loaded on first use.
LAZY_COMMANDS: dict[str, str] = {
    "portal": "portal.cli:portal_command",
    "call": "crest.cli_call:call_command",
    "export": "crest.cli_bulk:export_command",
    "import": "crest.cli_bulk:import_command",
    "demo": "crest.cli_demo:demo_command",
    "new": "crest.cli_app:new_command",
    "dev": "crest.cli_app:dev_command",
    "serve": "crest.cli_serve:serve_command",
    "deploy": "crest.cli_serve:deploy_command",
    "reset-install": "webapp.cli:reset_install_command",
    "worker": "webapp.worker_cli:worker_command",
    "events": "webapp.worker_cli:events_command",
    "static-app": "crest.cli_static:static_app_group",
    "checkserver": "crest.cli_checkserver:checkserver_command",
    "db": "crest.cli_db:db_group",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            command: Any = getattr(importlib.import_module(module), attr)
            return command  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="b24-crest")
def main() -> None:
    """b24-crest: Bitrix24 local applications in Python."""


if __name__ == "__main__":  # pragma: no cover
    main()
