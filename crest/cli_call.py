"""``crest call``: Bitrix24's request generator on the command line."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click
import requests

from crest.auth import mask_url
from crest.errors import ConnectError, CrestError, FormError, UnknownOutcomeError
from crest.forms import decode


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, object]:
    """``fields[NAME]=Ann select[]=ID`` into PHP-style nested parameters."""
    parts = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="PARAMS")
        parts.append(f"{quote(key, safe='[]')}={quote(value, safe='')}")
    try:
        return decode("&".join(parts))
    except FormError as exc:
        # One line, no usage block: the parameters were understood as key=value, but their
        # names are not a form Bitrix24 would accept (too long, too deep, too many).
        raise click.ClickException(f"invalid PARAMS: {exc.description}") from None


def snippet(method: str, params: dict[str, object]) -> str:
    return "\n".join(
        [
            "from crest import Client",
            "",
            'client = Client.from_webhook("https://YOUR-PORTAL/rest/1/YOUR-SECRET/")',
            f"result = client.call({method!r}, {params!r})",
            "print(result)",
        ]
    )


def _timed_out(exc: CrestError) -> bool:
    # A read that timed out is an unknown outcome; a connect that timed out was never sent.
    return isinstance(exc, UnknownOutcomeError | ConnectError) and isinstance(
        exc.__cause__, requests.exceptions.Timeout
    )


def _failure(exc: CrestError) -> click.ClickException:
    detail = f"{type(exc).__name__}: {exc}"
    if exc.hint:
        detail += f"\n{exc.hint}"
    return click.ClickException(detail)


@click.command("call")
@click.argument("method")
@click.argument("params", nargs=-1)
@click.option("--webhook", envvar="CREST_WEB_HOOK_URL", help="Incoming webhook URL (default: settings).")
@click.option(
    "--ca-bundle",
    envvar="CREST_CA_BUNDLE",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle for a portal with a private CA (the local portal with --https).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole answer (result, total, next, time) as JSON."
)
@click.option(
    "--code", is_flag=True, help="Print a ready Python snippet for this call instead of running it."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Give up when the portal has not answered within SECONDS (no retries after a timeout).",
)
def call_command(
    method: str,
    params: tuple[str, ...],
    webhook: str | None,
    ca_bundle: str | None,
    as_json: bool,
    code: bool,
    timeout: float | None,
) -> None:
    """Call a REST METHOD with PARAMS given as key=value (PHP keys: fields[NAME]=Ann select[]=ID)."""
    from crest.client import Client, RetryPolicy

    parsed = parse_pairs(params)
    if code:
        click.echo(snippet(method, parsed))
        return
    # --timeout bounds the whole call: one attempt, connecting and reading within it.
    bounded: dict[str, Any] = (
        {"timeout": (timeout, timeout), "retry": RetryPolicy(not_sent=0, unknown_outcome=0)}
        if timeout is not None
        else {}
    )
    try:
        if webhook:
            client = Client.from_webhook(webhook, ca_bundle=ca_bundle, **bounded)
        else:
            from crest.settings import Settings

            settings = Settings.load()
            if settings.mode is None:
                raise click.ClickException(
                    "no portal to call: give --webhook URL, or set CREST_WEB_HOOK_URL (C_REST_WEB_HOOK_URL "
                    "in settings.py), or C_REST_CLIENT_ID and C_REST_CLIENT_SECRET for an installed app"
                )
            client = Client.from_settings(
                settings, **({"ca_bundle": ca_bundle} if ca_bundle else {}), **bounded
            )
        click.echo(f"POST {mask_url(client.auth.endpoint())}{method}.json", err=True)
        with client:
            response = client.request(method, parsed)
    except CrestError as exc:
        if timeout is not None and _timed_out(exc):
            raise click.ClickException(
                f"no answer within --timeout {timeout:g} s ({type(exc).__name__}: {exc})"
            ) from None
        raise _failure(exc) from None
    if as_json:
        body = response.envelope()
        click.echo(json.dumps(body, ensure_ascii=False))
    else:
        click.echo(json.dumps(response.result, ensure_ascii=False, indent=2))
        if response.total is not None:
            click.echo(
                f"total: {response.total}"
                + (f", next: {response.next}" if response.next is not None else ""),
                err=True,
            )
