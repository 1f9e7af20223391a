"""``crest portal``: run a local Bitrix24 portal."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crest.private_files import write_private_file
from portal.config import CostModel, PortalConfig
from portal.server import wait_until_stopped
from portal.testing import start_portal


@click.command("portal")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8024, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option(
    "--static-port",
    default=0,
    show_default=True,
    type=int,
    help="Port of the static apps' own origin (0 picks a free one).",
)
@click.option(
    "--https/--http",
    default=True,
    show_default=True,
    # Bitrix24 is https only (CRest's UI install writes https://DOMAIN/rest/, B24Hook refuses
    # http), so plain http is the opt-in.
    help="Serve HTTPS with a locally generated CA (printed), or plain HTTP.",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="Scale every time constant (limits, token lifetimes, method cost) by this factor.",
)
@click.option("--contacts", default=0, show_default=True, type=int, help="Seed this many CRM contacts.")
@click.option("--companies", default=0, show_default=True, type=int, help="Seed this many CRM companies.")
@click.option("--leads", default=0, show_default=True, type=int, help="Seed this many CRM leads.")
@click.option("--deals", default=0, show_default=True, type=int, help="Seed this many CRM deals.")
@click.option(
    "--plan",
    type=click.Choice(["standard", "enterprise"]),
    default="standard",
    show_default=True,
    help="Rate limits of this plan (standard: burst 50, 2/s; enterprise: 250, 5/s).",
)
@click.option("--no-limits", is_flag=True, help="Turn the rate and operating-time limits off.")
@click.option("--no-cost", is_flag=True, help="Answer at once instead of simulating method cost.")
@click.option("--latency", default=0.0, type=float, help="Simulated network latency per request, in seconds.")
@click.option("--reuse-refresh-tokens", is_flag=True, help="Let refresh tokens be used more than once.")
@click.option(
    "--state", "state_path", type=click.Path(dir_okay=False), help="Keep state in this SQLite file."
)
@click.option(
    "--info",
    "info_path",
    type=click.Path(dir_okay=False),
    help="Write base URL, webhook, app credentials here as JSON.",
)
def portal_command(
    host: str,
    port: int,
    static_port: int,
    https: bool,
    speed: float,
    contacts: int,
    companies: int,
    leads: int,
    deals: int,
    plan: str,
    no_limits: bool,
    no_cost: bool,
    latency: float,
    reuse_refresh_tokens: bool,
    state_path: str | None,
    info_path: str | None,
) -> None:
    """Run a local Bitrix24 portal and OAuth server until Ctrl-C."""
    if speed <= 0:
        raise click.BadParameter("must be positive", param_hint="--speed")
    config = PortalConfig(
        plan=plan,  # type: ignore[arg-type]
        speed=speed,
        limits=not no_limits,
        cost=None if no_cost else CostModel(),
        latency=latency,
        contacts=contacts,
        companies=companies,
        leads=leads,
        deals=deals,
        state_path=state_path,
        reuse_refresh_tokens=reuse_refresh_tokens,
    )
    tls_dir = None
    if https:
        tls_dir = str(Path(state_path).with_suffix(".tls")) if state_path else None
    try:
        server, app, ca_bundle = start_portal(
            config, host=host, port=port, https=https, tls_dir=tls_dir, static_port=static_port
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    info = {**app.extensions["b24portal"].info(), "ca_bundle": ca_bundle}
    click.echo(f"Portal:       {info['base_url']}")
    click.echo(f"Webhook URL:  {info['webhook_url']}")
    click.echo(f"Local app:    client_id={info['client_id']}")
    click.echo(f"Static apps:  {info['static_apps_url']}")
    # The admin API (/_portal/) wants it in a header: Authorization: Bearer <token>.
    click.echo(f"Admin token:  {info['admin_token']}")
    if ca_bundle:
        click.echo(f"CA bundle:    {ca_bundle}")
    if info_path:
        # Client secret and webhook URL: 0600 from the start (crest.private_files).
        write_private_file(info_path, json.dumps(info, indent=2))
        click.echo(f"Info written: {info_path}")
    click.echo("Press Ctrl-C to stop.")
    try:
        wait_until_stopped()
    finally:
        server.stop()
