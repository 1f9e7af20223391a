"""``crest checkserver`` (and ``python checkserver.py``): check the hosting before installing.

Exit code 0 when no check failed (warnings allowed), 1 otherwise, so it can gate a deploy.
``--json`` prints the checks as a list of ``{check, status, detail, fix}``. A settings file
that does not even load is itself a failed check, not a traceback.
"""

from __future__ import annotations

import json
import sys

import click

from crest.checks import Check, failed, local_checks, outbound_checks, remote_checks
from crest.errors import ConfigError
from crest.settings import Settings

__all__ = ["checkserver_command", "format_checks"]

_MARK = {"ok": "  ok", "warn": "WARN", "fail": "FAIL"}


def format_checks(checks: list[Check]) -> str:
    lines: list[str] = []
    for c in checks:
        lines.append(f"[{_MARK[c.status]}] {c.check}: {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"       fix: {c.fix}")
    fails = sum(c.status == "fail" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append(f"{len(checks)} checks: {fails} failed, {warns} warnings")
    return "\n".join(lines)


@click.command("checkserver")
@click.option(
    "--url", help="The app's public URL (e.g. https://app.example.com/): check it as the portal sees it."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {check, status, detail, fix}.")
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False),
    help="The settings file (default: ./settings.py when present, and CREST_*/C_REST_* variables).",
)
@click.option(
    "--portal",
    "portals",
    multiple=True,
    help="A portal origin that will frame the app (default: the installed ones, the webhook's, CREST_FRAME_ANCESTORS).",
)
@click.option(
    "--http-url", help="Where plain HTTP is served (default: http:// on port 80 of the --url host)."
)
@click.option("--offline", is_flag=True, help="Skip the outbound DNS/TLS checks.")
def checkserver_command(
    url: str | None,
    as_json: bool,
    settings_path: str | None,
    portals: tuple[str, ...],
    http_url: str | None,
    offline: bool,
) -> None:
    """Check Python, settings, store, logs, TLS and (with --url) the deployed app."""
    try:
        settings = Settings.load(settings_path)
    except ConfigError as exc:
        # The settings never loaded, so nothing in them can be trusted; the message names the
        # setting, and masks a webhook's secret, as ConfigError messages do.
        checks = [
            Check(
                "settings", "fail", exc.description, "fix the setting named above (see settings.example.py)"
            )
        ]
    else:
        checks = local_checks(settings, settings_path=settings_path)
        if not offline:
            checks.extend(outbound_checks(settings))
        if url:
            checks.extend(remote_checks(url, settings, portals=portals, http_url=http_url))
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in checks], ensure_ascii=False, indent=2))
    else:
        click.echo(format_checks(checks))
    sys.exit(1 if failed(checks) else 0)
