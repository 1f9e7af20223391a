"""``POST /events``: app events and outgoing webhooks, verified, stored, answered at once.

The order is the point (T19, T20): read the raw body under the size cap, parse it strictly
(:func:`crest.events.parse_body`), check ``application_token`` in constant time against the
installation stored for ``auth[member_id]`` (or an operator-configured outgoing-webhook token),
and only then commit the raw body to the durable inbox and answer 200. Nothing unverified is
stored. Handlers run later, in a worker: a thread of this process by default, or
``crest worker`` as a process of its own (set ``CREST_EVENTS_WORKER=off`` for the web process).

Configuration comes from :class:`~crest.settings.Settings` alone (one path: defaults <
settings.py < ``CREST_*`` variables < arguments): ``events_worker`` (``thread`` or ``off``),
``outgoing_webhook_tokens`` (each bound to its portal, ``MEMBER_ID=TOKEN`` or ``DOMAIN=TOKEN``),
``events`` (bound at install; default CRM add/update/delete) and ``inbox`` (default: next to
the store).

``GET /events/recent`` lists recently processed events (no payloads); it needs the operator's
key or page token, like ``/operator``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from crest.errors import CrestError, StoreError
from crest.events import (
    DEFAULT_MAX_BODY,
    Event,
    EventError,
    EventRouter,
    WebhookToken,
    match_webhook_token,
    parse_body,
    verify_token,
)
from crest.inboxes import EventInbox, open_inbox
from crest.installation import Installation, is_member_id
from crest.logs import purge_portal_logs
from crest.worker import Bindings, OfflineRecovery, Worker, keep_chains_alive
from webapp.extension import CrestState, state

__all__ = [
    "EventsState",
    "bp",
    "build_state",
    "events_state",
    "init_app",
    "on_installed",
    "router",
    "start_worker",
    "stop_worker",
]

log = logging.getLogger("webapp.events")

bp = Blueprint("events", __name__)

#: What a fresh installation binds, online and offline, besides what the router handles.
DEFAULT_EVENTS: tuple[str, ...] = tuple(
    f"ONCRM{entity}{action}"
    for entity in ("CONTACT", "COMPANY", "DEAL", "LEAD")
    for action in ("ADD", "UPDATE", "DELETE")
)
#: Lifecycle events: bound online only (the offline queue never holds them).
LIFECYCLE: tuple[str, ...] = ("ONAPPUNINSTALL", "ONAPPUPDATE")


@dataclass
class EventsState:
    """What this module keeps in ``app.extensions["crest_events"]``."""

    inbox: EventInbox
    router: EventRouter
    events: tuple[str, ...]
    outgoing_tokens: tuple[WebhookToken, ...]
    max_body: int = DEFAULT_MAX_BODY
    worker: Worker | None = None
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def bindings(self, base_url: str) -> Bindings:
        wanted = tuple(dict.fromkeys([*self.events, *self.router.events]))
        offline = tuple(name for name in wanted if name not in LIFECYCLE and name != "ONOFFLINEEVENT")
        return Bindings(base_url.rstrip("/") + "/events", online=(*wanted, *LIFECYCLE), offline=offline)


def events_state(app: Flask | None = None) -> EventsState:
    return (app or current_app).extensions["crest_events"]  # type: ignore[no-any-return]


def router(app: Flask | None = None) -> EventRouter:
    """The app's :class:`EventRouter`: ``@router(app).on("ONCRMDEALUPDATE")``."""
    return events_state(app).router


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(item).strip() for item in value if str(item).strip())


def init_app(app: Flask, *, event_router: EventRouter | None = None) -> None:
    """Register ``/events`` and, unless ``events_worker`` is ``off``, start the worker thread."""
    crest = state(app)
    events_state_ = build_state(
        crest,
        event_router,
        max_body=min(DEFAULT_MAX_BODY, app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY),
    )
    app.extensions["crest_events"] = events_state_
    app.register_blueprint(bp)
    if crest.settings.events_worker.lower() == "thread":
        start_worker(app)


def build_state(
    crest: CrestState,
    event_router: EventRouter | None = None,
    *,
    inbox: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> EventsState:
    """The inbox, router and worker for one store; shared by the app and ``crest worker``."""
    settings = crest.settings
    st = EventsState(
        inbox=open_inbox(inbox or settings.inbox, settings.store),
        router=event_router or EventRouter(),
        events=tuple(name.upper() for name in _names(settings.events or DEFAULT_EVENTS)),
        outgoing_tokens=tuple(WebhookToken.parse(entry) for entry in settings.outgoing_webhook_tokens),
        max_body=max_body,
    )
    base_url = settings.app_base_url
    st.worker = Worker(
        st.inbox,
        st.router,
        clients=crest.client,
        recovery=OfflineRecovery(st.inbox, crest.client, crest.store),
        bindings=st.bindings(base_url) if base_url else None,
        keepalive=lambda: keep_chains_alive(crest.store, crest.client),
    )
    return st


def start_worker(app: Flask) -> threading.Thread:
    st = events_state(app)
    if st.thread is not None and st.thread.is_alive():
        return st.thread
    assert st.worker is not None
    st.stop.clear()
    st.thread = threading.Thread(
        target=st.worker.run_forever, args=(st.stop,), name="crest-events", daemon=True
    )
    st.thread.start()
    return st.thread


def stop_worker(app: Flask, timeout: float = 10.0) -> None:
    st = events_state(app)
    st.stop.set()
    if st.thread is not None:
        st.thread.join(timeout)
        st.thread = None


# --- receiving ---------------------------------------------------------------------------------


def _answer(status: int, error: str = "", description: str = "") -> tuple[Response, int]:
    if status == 200:
        return jsonify({"result": "ok"}), 200
    return jsonify({"error": error, "error_description": description}), status


def _installation(event: Event) -> Installation | None:
    if not is_member_id(event.member_id):
        return None
    return state().store.find(event.member_id)


def _authenticate(
    event: Event, installation: Installation | None, webhook_tokens: Sequence[WebhookToken]
) -> str | None:
    """``"app"``, ``"webhook"`` or ``None``; both checks always run, so timing tells nothing."""
    is_app = verify_token(event, installation.application_token if installation else None)
    is_webhook = match_webhook_token(event, webhook_tokens)
    if is_app:
        return "app"
    return "webhook" if is_webhook else None


@bp.post("/events")
def receive() -> Any:
    st = events_state()
    length = request.content_length
    if length is not None and length > st.max_body:
        return _answer(413, "too_large", f"event bodies are limited to {st.max_body} bytes")
    raw = request.get_data(cache=False)
    mimetype = request.mimetype or "application/x-www-form-urlencoded"
    content_type = (
        "application/json" if mimetype == "application/json" else "application/x-www-form-urlencoded"
    )
    try:
        event = parse_body(raw, content_type, max_length=st.max_body)
        installation = _installation(event)
    except EventError as exc:
        return _answer(exc.status or 400, exc.code, exc.description)
    except StoreError:
        log.exception("store unavailable while verifying an event")
        return _answer(503, "unavailable", "try again later")
    kind = _authenticate(event, installation, st.outgoing_tokens)
    if kind is None:
        log.info("refused %s for portal %s: application_token does not match", event.name, event.member_id)
        return _answer(401, "invalid_token", "application_token does not match")
    if event.name == "ONAPPUNINSTALL":
        if kind != "app":
            return _answer(200)  # an outgoing webhook's copy: nothing of ours to delete
        return _uninstall(event)
    if event.name == "ONAPPINSTALL":
        return _answer(200)  # the install path handles installs; a copy here changes nothing
    try:
        stored = st.inbox.enqueue(raw, event=event.name, member_id=event.member_id, content_type=content_type)
    except (sqlite3.Error, StoreError):  # StoreError: the PostgreSQL inbox
        # No ack without a commit: a 5xx tells the portal (and our monitoring) it was lost.
        log.exception("inbox write failed for %s", event.name)
        return _answer(503, "unavailable", "the event could not be stored")
    log.debug("stored %s (%s) as #%s", event.name, kind, stored if stored is not None else "duplicate")
    return _answer(200)


def _uninstall(event: Event) -> tuple[Response, int]:
    """Delete the installation, once the portal confirms the app is gone.

    ``application_token`` reaches every user who opens the app, so on its own it cannot
    authorise deleting anything: the portal must also refuse our stored tokens, which it does
    once the app is really uninstalled. A forged event is refused and changes nothing.
    """
    crest = state()
    try:
        gone = crest.witness().uninstalled(event.member_id)
    except CrestError as exc:
        log.warning("could not confirm ONAPPUNINSTALL for portal %s: %s", event.member_id, exc.code)
        return _answer(503, "unavailable", "the uninstall could not be confirmed with the portal")
    if not gone:
        log.warning(
            "refused a forged ONAPPUNINSTALL for portal %s: the portal still accepts the app's tokens",
            event.member_id,
        )
        return _answer(
            403, "not_confirmed", "the portal does not confirm that the application was uninstalled"
        )
    gone_installation = crest.store.find(event.member_id)
    with crest.store.lock(event.member_id):
        crest.store.delete(event.member_id)
    crest.forget(event.member_id)
    purge_portal_logs(
        crest.settings,
        member_id=event.member_id,
        domain=gone_installation.domain if gone_installation else event.domain,
    )
    # The inbox's bodies hold that portal's users' tokens: nothing of it may run or stay.
    purged = events_state().inbox.forget_portal(event.member_id)
    clean = str(event.data.get("CLEAN", "")) == "1"
    log.info(
        "uninstalled from portal %s (clean=%s, %d queued event(s) purged)", event.member_id, clean, purged
    )
    return _answer(200)


@bp.get("/events/recent")
def recent() -> Any:
    from webapp.operator import require_operator

    require_operator(login=False)
    limit = request.args.get("limit", default=20, type=int) or 20
    st = events_state()
    body = {"events": st.inbox.recent(limit), "counts": st.inbox.counts()}
    return jsonify(body), 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# --- after an install --------------------------------------------------------------------------


def on_installed(app: Flask, installation: Installation) -> list[str]:
    """Bind the event handlers (online, and offline for recovery) on a new installation.

    Called by ``/install`` after a verified install. A failed binding is logged; the worker
    re-checks the bindings at every start, so a transient failure heals.
    """
    crest = state(app)
    # Only the configured address: a request's Host header is the sender's to choose (T-host).
    base_url = crest.settings.app_base_url
    if not base_url:
        log.warning("app_base_url is not set (CREST_APP_BASE_URL): events are not bound")
        return []
    bindings = events_state(app).bindings(base_url)
    try:
        made = bindings.ensure(crest.client(installation.member_id))
    except CrestError as exc:
        log.warning("binding events on %s failed: %s", installation.domain, exc.code or type(exc).__name__)
        return []
    log.info("bound %d event handler(s) on %s", len(made), installation.domain)
    return made
