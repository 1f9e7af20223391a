"""``crest worker`` and ``crest events``: the event worker as a process, and the inbox for people.

Run ``crest worker`` next to the web process when handlers are slow or many (and set
``CREST_EVENTS_WORKER=off`` for the web process, so it only receives). The handlers it runs
come from ``--router module:attr``, an :class:`~crest.events.EventRouter` or a function that
returns one; without it the worker still acknowledges events, recovers offline ones and keeps
the bindings, which is what the demo needs.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from crest.events import EventRouter
    from crest.settings import Settings
    from webapp.events import EventsState

__all__ = ["events_command", "worker_command"]


def _settings(path: str | None) -> Settings:
    from crest.settings import Settings

    return Settings.load(path)


def _router(spec: str | None) -> EventRouter | None:
    if not spec:
        return None
    from crest.events import EventRouter

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise click.BadParameter("use module:attribute", param_hint="--router")
    found: Any = getattr(importlib.import_module(module), attr)
    router = found() if callable(found) and not isinstance(found, EventRouter) else found
    if not isinstance(router, EventRouter):
        raise click.BadParameter(f"{spec} is not an EventRouter", param_hint="--router")
    return router


def _state(settings_path: str | None, inbox: str | None, router: EventRouter | None = None) -> EventsState:
    from crest.stores import open_store
    from webapp.events import DEFAULT_EVENTS, build_state, setting
    from webapp.extension import CrestState

    settings = _settings(settings_path)
    crest = CrestState(settings=settings, store=open_store(settings.store))
    return build_state(
        crest,
        router,
        inbox=inbox or setting(settings, "CREST_INBOX", "inbox", None),
        events=setting(settings, "CREST_EVENTS", "events", DEFAULT_EVENTS),
    )


_settings_option = click.option("--settings", "settings_path", default=None, help="settings.py to load.")
_inbox_option = click.option(
    "--inbox", default=None, help="Inbox file (default: beside or inside the store)."
)


@click.command("worker")
@_settings_option
@_inbox_option
@click.option(
    "--router", "router_spec", default=None, help="module:attr of the EventRouter with your handlers."
)
@click.option("--once", is_flag=True, help="Recover, process what is due, and exit.")
def worker_command(settings_path: str | None, inbox: str | None, router_spec: str | None, once: bool) -> None:
    """Process events from the inbox (and recover missed ones) until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    st = _state(settings_path, inbox, _router(router_spec))
    worker = st.worker
    assert worker is not None
    if once:
        worker.start_up()
        click.echo(f"processed {worker.drain()} event(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"worker {worker.worker_id} on {st.inbox.path}; stop with Ctrl-C", err=True)
    worker.run_forever(stop)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.command("events")
@_settings_option
@_inbox_option
@click.option("--failed", is_flag=True, help="List events that failed for good.")
@click.option("--retry", "retry_id", type=int, default=None, help="Queue a failed event again by id.")
def events_command(settings_path: str | None, inbox: str | None, failed: bool, retry_id: int | None) -> None:
    """Inspect the event inbox: counts, failed events, and retrying one."""
    from crest.inboxes import open_inbox

    store = ""
    if inbox is None:
        from webapp.events import setting

        settings = _settings(settings_path)
        inbox, store = setting(settings, "CREST_INBOX", "inbox", None), settings.store
    box = open_inbox(inbox, store)
    if retry_id is not None:
        if not box.retry(retry_id):
            raise click.ClickException(f"no failed event with id {retry_id}")
        click.echo(f"event {retry_id} queued again")
        return
    if failed:
        rows = box.list_failed()
        if not rows:
            click.echo("no failed events")
            return
        click.echo(f"{'ID':>6}  {'EVENT':<24} {'MEMBER':<32} {'TRIES':>5}  {'RECEIVED':<19}  LAST ERROR")
        for row in rows:
            error = row.last_error.replace("\n", " ")[:120]
            click.echo(
                f"{row.id:>6}  {row.event:<24} {row.member_id:<32} {row.attempts:>5}  {_when(row.received_at)}  {error}"
            )
        return
    counts = box.counts()
    click.echo(" ".join(f"{state}={n}" for state, n in counts.items()))
