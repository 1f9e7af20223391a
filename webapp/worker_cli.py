"""``crest worker`` and ``crest events``: the event worker as a process, and the inbox for people.

Run ``crest worker --router myapp:app`` next to the web process when handlers are slow or
many (and set ``CREST_EVENTS_WORKER=off`` for the web process, so it only receives). The
handlers come from ``--router module:attr``: an :class:`~crest.events.EventRouter`, a Flask
app made with ``create_app()`` (its ``router(app)``), or a function returning either. The
module is imported from the current folder first, as gunicorn and flask do. A worker without
handlers refuses to start: it would mark every event done without running anything.
"""

from __future__ import annotations

import logging
import os
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


_NO_ROUTER = (
    "no event handlers to run: give the worker your app's router with --router module:attr, e.g. "
    "`crest worker --router myapp:app` in the folder of myapp.py (attr: a Flask app made with "
    "create_app(), an EventRouter, or a function returning one)"
)


def _has_handlers(router: EventRouter) -> bool:
    # handlers_for("") is the catch-all "*" handlers: a router with only those has work too.
    return bool(router.events or router.handlers_for(""))


def _import_target(spec: str) -> Any:
    from crest.cli_target import import_target

    # The app module may call create_app(), which would start a second worker thread in here.
    os.environ["CREST_EVENTS_WORKER"] = "off"
    return import_target(spec, "--router", "myapp:app")


def _as_router(found: Any, spec: str) -> EventRouter:
    from flask import Flask

    from crest.events import EventRouter

    if callable(found) and not isinstance(found, EventRouter | Flask):
        try:
            found = found()
        except Exception as exc:  # the user's factory failed: one line, no traceback
            raise click.ClickException(
                f"--router {spec}: calling it failed: {type(exc).__name__}: {exc}"
            ) from None
    if isinstance(found, Flask):
        from webapp.events import events_state

        try:
            found = events_state(found).router
        except (KeyError, RuntimeError):
            raise click.ClickException(
                f"--router {spec}: this Flask app has no crest events (make it with webapp.create_app())"
            ) from None
    if not isinstance(found, EventRouter):
        raise click.ClickException(
            f"--router {spec}: {type(found).__name__} is not an EventRouter or an app made with create_app()"
        )
    return found


def _router(spec: str | None) -> EventRouter:
    if not spec:
        raise click.ClickException(_NO_ROUTER)
    router = _as_router(_import_target(spec), spec)
    if not _has_handlers(router):
        raise click.ClickException(
            f'--router {spec}: the router has no handlers; register them with @router(app).on("EVENT")'
        )
    return router


def _state(settings_path: str | None, inbox: str | None, router: EventRouter | None = None) -> EventsState:
    from crest.stores import open_store
    from webapp.events import build_state
    from webapp.extension import CrestState

    settings = _settings(settings_path)
    crest = CrestState(settings=settings, store=open_store(settings.store))
    return build_state(crest, router, inbox=inbox)


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
@click.option(
    "--lease",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="How soon another worker takes over a dead worker's events (default: CREST_WORKER_LEASE, 30).",
)
@click.option("--once", is_flag=True, help="Recover, process what is due, and exit.")
def worker_command(
    settings_path: str | None, inbox: str | None, router_spec: str | None, lease: float | None, once: bool
) -> None:
    """Process events from the inbox (and recover missed ones) until stopped."""
    from crest.errors import CrestError

    router = _router(router_spec)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = _settings(settings_path)
        st = _state(settings_path, inbox, router)
    except CrestError as exc:  # a bad setting or an unusable store: say which, no traceback
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    worker = st.worker
    assert worker is not None
    worker.lease = lease if lease is not None else settings.worker_lease
    if once:
        worker.start_up()
        click.echo(f"processed {worker.drain()} event(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    events = ", ".join(router.events) or "every event (*)"
    click.echo(
        f"worker {worker.worker_id}: handlers for {events}; lease {worker.lease:g} s;"
        f" inbox {st.inbox.path}; stop with Ctrl-C",
        err=True,
    )
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
        settings = _settings(settings_path)
        inbox, store = settings.inbox, settings.store
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
