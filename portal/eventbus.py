"""Event handlers bound by apps, outgoing webhooks, placements, and the delivery of events.

How a real portal delivers (reference 5.2), and so how this one does:

* an event is queued, never sent inside the REST request that raised it; one background
  worker POSTs the queue in order, form-encoded with PHP nested keys;
* there are no retries: a handler that is down, slow (timeout) or answers an error status
  loses the event; every attempt is recorded for ``GET /_portal/deliveries``;
* only installed apps get events ("events are sent only after the installation is complete");
* app handlers get OAuth tokens issued for the user who caused the event (or for the bound
  ``auth_type`` user), outgoing webhooks never get tokens;
* handlers bound with ``event_type=offline`` get no POST: the change goes to the app's offline
  queue, which keeps only the latest state per (event, object), read by ``event.offline.*``.

Every method here expects to run under ``portal.lock`` or takes it itself; the worker thread
touches only the queue and the delivery record, under their own condition variable.
"""

from __future__ import annotations

import hashlib
import threading
import time as _time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from crest.forms import encode
from portal.feed import FEED_EVENTS
from portal.im_store import IMBOT_EVENTS

if TYPE_CHECKING:
    from portal.core import Portal

#: Known events and the scope an app needs to bind each (None: always available).
EVENTS: dict[str, str | None] = {
    **{
        f"ONCRM{entity}{action}": "crm"
        for entity in ("CONTACT", "COMPANY", "LEAD", "DEAL")
        for action in ("ADD", "UPDATE", "DELETE")
    },
    "ONTASKADD": "task",
    "ONTASKUPDATE": "task",
    "ONTASKDELETE": "task",
    "ONTASKCOMMENTADD": "task",
    "ONUSERADD": "user",
    "ONAPPINSTALL": None,
    "ONAPPUNINSTALL": None,
    "ONAPPUPDATE": None,
    "ONAPPTEST": None,
    "ONAPPMETHODCONFIRM": None,
    "ONOFFLINEEVENT": None,
    **IMBOT_EVENTS,
    **FEED_EVENTS,
}

#: Events whose auth block carries the refresh token too (``sendRefreshToken``, reference 5.2).
_SEND_REFRESH = frozenset(
    {"ONAPPINSTALL", "ONAPPUPDATE", "ONAPPTEST", "ONOFFLINEEVENT", "ONSUBSCRIPTIONRENEW"}
    # The chat bot documentation's captures of these two carry the author's refresh token too.
    | {"ONIMBOTMESSAGEADD", "ONIMCOMMANDADD"}
)
#: Events sent with no tokens at all (``sendAuth=false``): the app may already be gone.
_NO_AUTH = frozenset({"ONAPPUNINSTALL", "ONAPPMETHODCONFIRM"})
#: Lifecycle events are never queued offline: they concern the app itself, not a record.
_LIFECYCLE = frozenset({"ONAPPINSTALL", "ONAPPUNINSTALL", "ONAPPUPDATE", "ONAPPTEST", "ONOFFLINEEVENT"})
#: Chat bot events are a conversation, not a record's latest state: never queued offline either.
_NOT_OFFLINE = _LIFECYCLE | frozenset(IMBOT_EVENTS)

#: Placement codes an app may bind (reference 6.4); ``DEFAULT`` is the main page, not bindable.
PLACEMENTS: tuple[str, ...] = (
    "LEFT_MENU",
    "REST_APP_URI",
    "PAGE_BACKGROUND_WORKER",
    *(
        f"CRM_{entity}_{where}"
        for entity in ("LEAD", "DEAL", "CONTACT", "COMPANY", "QUOTE", "SMART_INVOICE", "ORDER")
        for where in (
            "DETAIL_TAB",
            "DETAIL_TOOLBAR",
            "LIST_TOOLBAR",
            "LIST_MENU",
            "DETAIL_ACTIVITY",
            "ACTIVITY_TIMELINE_MENU",
            "DOCUMENTGENERATOR_BUTTON",
        )
    ),
    "CRM_ANALYTICS_MENU",
    "BI_ANALYTICS_MENU",
    "IM_TEXTAREA",
    "IM_SIDEBAR",
    "IM_CONTEXT_MENU",
    "IM_NAVIGATION",
    "TASK_VIEW_TAB",
    "TASK_VIEW_SIDEBAR",
    "TASK_VIEW_TOP_PANEL",
    "TASK_LIST_CONTEXT_MENU",
    "USER_PROFILE_MENU",
    "USER_PROFILE_TOOLBAR",
    "CALENDAR_GRIDVIEW",
    "CALL_CARD",
    "CONTACT_CENTER",
    "SONET_GROUP_DETAIL_TAB",
)
#: Placements an app may bind only once (ERROR_PLACEMENT_MAX_COUNT on the second bind).
SINGLE_PLACEMENTS = frozenset({"REST_APP_URI", "PAGE_BACKGROUND_WORKER"})


def placement_scopes(code: str) -> tuple[str, ...]:
    """Scopes besides ``placement`` that binding ``code`` needs (the tool's own scope)."""
    if code.startswith("CRM_"):
        return ("crm",)
    if code.startswith("TASK_"):
        return ("task",)
    if code.startswith("IM_"):
        return ("im",)
    if code == "CALL_CARD":
        return ("telephony",)  # "Scope: placement, telephony" (the call card's page)
    return ()


@dataclass(frozen=True)
class Delivery:
    """One POST to make: the payload is the form body before encoding."""

    url: str
    payload: dict[str, Any]
    event: str
    kind: str  # "app", "webhook" or "install"
    handler_id: str | None
    client_id: str | None


def _object_id(data: dict[str, Any]) -> str | None:
    fields = data.get("FIELDS")
    if isinstance(fields, dict) and fields.get("ID") not in (None, ""):
        return str(fields["ID"])
    if data.get("ID") not in (None, ""):
        return str(data["ID"])
    return None


class EventBus:
    #: Seconds a handler has to answer; a slow handler loses the event (no retries).
    timeout: float = 5.0
    #: Seconds the idle worker waits for work before it exits (it restarts on the next event).
    idle: float = 2.0
    #: Delivery records kept for the admin API; older ones are dropped.
    keep: int = 5000

    def __init__(self, portal: Portal) -> None:
        from portal.persist import Table

        self.portal = portal
        p = portal.persist
        self.handlers: Table[str] = Table(p, "event_handler", str)
        self.outgoing: Table[str] = Table(p, "outgoing_webhook", str)
        self.placements: Table[str] = Table(p, "placement", str)
        self.offline: Table[str] = Table(p, "event_offline", str)
        # Ids only grow within a run, so offline ``ID`` filters and ordering stay meaningful.
        self._seq = max(
            (int(k) for t in (self.handlers, self.outgoing, self.placements, self.offline) for k in t),
            default=0,
        )
        #: Overrides the TLS CA bundle used to verify handlers (else the config's, else system).
        self.ca_bundle: str | None = None
        #: (client_id, handler_id) -> when ONOFFLINEEVENT was last sent, for ``minTimeout``.
        self._offline_pinged: dict[tuple[str, str], float] = {}
        self._queue: deque[Delivery] = deque()
        self._pending = 0
        self._cv = threading.Condition()
        self._worker: threading.Thread | None = None
        self._records: deque[dict[str, Any]] = deque(maxlen=self.keep)
        self._record_seq = 0

    def next_id(self) -> str:
        self._seq += 1
        return str(self._seq)

    # --- raising events -----------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any], *, user_id: int | None) -> None:
        """Raise ``event`` (e.g. ONCRMCONTACTADD) to every bound handler and outgoing webhook."""
        self._emit(event.upper(), data, user_id=user_id, client_id=None)

    def emit_to_app(self, client_id: str, event: str, data: dict[str, Any], *, user_id: int | None) -> None:
        """Raise ``event`` to one app's handlers only (``event.test``)."""
        self._emit(event.upper(), data, user_id=user_id, client_id=client_id)

    def _emit(self, name: str, data: dict[str, Any], *, user_id: int | None, client_id: str | None) -> None:
        portal = self.portal
        with portal.lock:
            ts = int(portal.clock.time())
            tokens: dict[tuple[str, int], dict[str, Any]] = {}
            offline_done: set[str] = set()
            for handler in self.handlers_for(name):
                if client_id is not None and handler["client_id"] != client_id:
                    continue
                app = self.installed_app(handler["client_id"])
                if app is None:
                    continue  # not installed yet (or deleted): events are not sent
                if handler["offline"]:
                    if name not in _NOT_OFFLINE and app["client_id"] not in offline_done:
                        offline_done.add(app["client_id"])
                        self._queue_offline(app, name, data, user_id)
                    continue
                as_user = int(handler.get("auth_type") or 0) or user_id
                payload = {
                    "event": name,
                    "event_handler_id": handler["id"],
                    "data": data,
                    "ts": ts,
                    "auth": self._app_auth(app, name, as_user, tokens),
                }
                self._enqueue(
                    Delivery(handler["handler"], payload, name, "app", handler["id"], app["client_id"])
                )
            if client_id is None:
                for hook in self.outgoing.values():
                    if name in hook["events"]:
                        payload = {
                            "event": name,
                            "event_handler_id": hook["id"],
                            "data": data,
                            "ts": ts,
                            "auth": self._webhook_auth(hook),
                        }
                        self._enqueue(Delivery(hook["url"], payload, name, "webhook", hook["id"], None))

    def _app_auth(
        self,
        app: dict[str, Any],
        event: str,
        user_id: int | None,
        cache: dict[tuple[str, int], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The ``auth`` block for an app handler; no tokens without a user or for sendAuth=false."""
        portal = self.portal
        if event in _NO_AUTH or not user_id:
            return {
                "domain": portal.domain,
                "server_endpoint": portal.server_endpoint,
                "client_endpoint": portal.client_endpoint,
                "member_id": portal.config.member_id,
                "application_token": app["application_token"],
            }
        key = (app["client_id"], user_id)
        issued = cache.get(key) if cache is not None else None
        if issued is None:
            issued = portal.credentials.issue(app["client_id"], user_id)
            if cache is not None:
                cache[key] = issued
        auth: dict[str, Any] = {
            "access_token": issued["access_token"],
            "expires": issued["expires"],
            "expires_in": issued["expires_in"],
            "scope": issued["scope"],
            # The portal's domain here, not the OAuth server's as in a token response.
            "domain": portal.domain,
            "server_endpoint": issued["server_endpoint"],
            "status": issued["status"],
            "client_endpoint": issued["client_endpoint"],
            "member_id": issued["member_id"],
            "user_id": issued["user_id"],
        }
        if event in _SEND_REFRESH:
            auth["refresh_token"] = issued["refresh_token"]
        auth["application_token"] = app["application_token"]
        return auth

    def _webhook_auth(self, hook: dict[str, Any]) -> dict[str, Any]:
        portal = self.portal
        return {
            "domain": portal.domain,
            "client_endpoint": portal.client_endpoint,
            "server_endpoint": portal.server_endpoint,
            "member_id": portal.config.member_id,
            "application_token": hook["application_token"],
        }

    # --- app lifecycle ------------------------------------------------------------------------

    def installed_app(self, client_id: str) -> dict[str, Any] | None:
        app = self.portal.credentials.apps.get(client_id)
        if app is None or not app.get("installed") or app.get("uninstalled"):
            return None
        return dict(app)

    def app_installed(self, app: dict[str, Any], *, user_id: int) -> None:
        """Deliver ONAPPINSTALL to an API-only app's install path, server to server."""
        if not app.get("install_url"):
            return  # nowhere to send it; the app learns its tokens some other way
        portal = self.portal
        with portal.lock:
            payload = {
                "event": "ONAPPINSTALL",
                "data": {"VERSION": app["version"], "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"},
                "ts": int(portal.clock.time()),
                "auth": self._app_auth(app, "ONAPPINSTALL", user_id),
            }
            self._enqueue(
                Delivery(app["install_url"], payload, "ONAPPINSTALL", "install", None, app["client_id"])
            )

    def _lifecycle_event(
        self, app: dict[str, Any], event: str, data: dict[str, Any], user_id: int | None
    ) -> None:
        """``event`` to each online handler the app bound for it (the caller holds the lock)."""
        client_id = app["client_id"]
        if self.installed_app(client_id) is None:
            return
        ts = int(self.portal.clock.time())
        for handler in self.handlers_for(event):
            if handler["client_id"] != client_id or handler["offline"]:
                continue
            payload = {
                "event": event,
                "event_handler_id": handler["id"],
                "data": data,
                "ts": ts,
                "auth": self._app_auth(app, event, user_id),
            }
            self._enqueue(Delivery(handler["handler"], payload, event, "app", handler["id"], client_id))

    def app_updated(self, app: dict[str, Any], *, user_id: int = 1) -> dict[str, Any]:
        """A new version: ONAPPUPDATE to the handlers bound so far, which then go (reference 5.5)."""
        portal = self.portal
        client_id = app["client_id"]
        with portal.lock:
            previous = int(app["version"])
            app = portal.credentials.update_app(app, version=previous + 1)
            data = {"VERSION": app["version"], "PREVIOUS_VERSION": previous, "LANGUAGE_ID": "en"}
            self._lifecycle_event(app, "ONAPPUPDATE", data, user_id)
            for key in [k for k, row in self.handlers.rows.items() if row["client_id"] == client_id]:
                self.handlers.delete(key)
            return app

    def app_uninstalled(self, app: dict[str, Any], *, clean: bool = False) -> dict[str, Any]:
        """Delete an app: ONAPPUNINSTALL to its handlers, then remove what it owned.

        As on Bitrix24 deleting is irreversible: handlers, placements, options and offline
        events go, its tokens stop working, and the record stays only marked uninstalled.
        """
        portal = self.portal
        client_id = app["client_id"]
        with portal.lock:
            self._lifecycle_event(
                app, "ONAPPUNINSTALL", {"LANGUAGE_ID": "en", "CLEAN": 1 if clean else 0}, None
            )
            for table in (self.handlers, self.placements, self.offline):
                for key in [k for k, row in table.rows.items() if row["client_id"] == client_id]:
                    table.delete(key)
            portal.options.clear(client_id)
            creds = portal.credentials
            # "The API no longer works for the app": its tokens die with it.
            for tokens in (creds.access, creds.refresh):
                for key in [k for k, row in tokens.rows.items() if row["client_id"] == client_id]:
                    tokens.delete(key)
            current = creds.apps.get(client_id) or app
            return creds.update_app(current, installed=False, uninstalled=True)

    # --- handlers -----------------------------------------------------------------------------

    def handlers_for(self, event: str) -> list[dict[str, Any]]:
        name = event.upper()
        return [dict(h) for h in self.handlers.values() if h["event"] == name]

    def handlers_of(self, client_id: str) -> list[dict[str, Any]]:
        return [dict(h) for h in self.handlers.values() if h["client_id"] == client_id]

    def all_handlers(self) -> list[dict[str, Any]]:
        """Every bound handler, for the portal page and the admin API."""
        return [dict(h) for h in self.handlers.values()]

    def bind(
        self,
        *,
        client_id: str,
        event: str,
        handler: str,
        user_id: int,
        auth_type: int = 0,
        offline: bool = False,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Store a handler; ``None`` when the same one is already bound (no duplicate is made)."""
        name = event.upper()
        for row in self.handlers.values():
            if (
                row["client_id"] == client_id
                and row["event"] == name
                and row["handler"] == handler
                and int(row["auth_type"]) == auth_type
                and bool(row["offline"]) == offline
            ):
                return None
        handler_id = self.next_id()
        record: dict[str, Any] = {
            "id": handler_id,
            "client_id": client_id,
            "event": name,
            "handler": handler,
            "auth_type": auth_type,
            "offline": offline,
            "options": options or {},
            "user_id": user_id,
            "created": self.portal.clock.time(),
        }
        self.handlers.put(handler_id, record)
        return record

    def unbind(
        self,
        *,
        client_id: str,
        event: str | None,
        handler: str | None,
        auth_type: int,
        offline: bool,
    ) -> int:
        name = event.upper() if event else None
        doomed = [
            key
            for key, row in self.handlers.rows.items()
            if row["client_id"] == client_id
            and (name is None or row["event"] == name)
            and (handler is None or row["handler"] == handler)
            and int(row["auth_type"]) == auth_type
            and bool(row["offline"]) == offline
        ]
        for key in doomed:
            self.handlers.delete(key)
        return len(doomed)

    # --- outgoing webhooks --------------------------------------------------------------------

    def add_outgoing(self, url: str, events: Iterable[str]) -> dict[str, Any]:
        from portal.credentials import new_hex32

        hook_id = self.next_id()
        hook: dict[str, Any] = {
            "id": hook_id,
            "url": url,
            "events": sorted({e.upper() for e in events}),
            "application_token": new_hex32(),
        }
        self.outgoing.put(hook_id, hook)
        return hook

    # --- placements ---------------------------------------------------------------------------

    def placements_for(self, code: str) -> list[dict[str, Any]]:
        """Placements bound under ``code`` by installed apps: what the portal page shows."""
        code = code.upper()
        return [
            dict(row)
            for row in self.placements.values()
            if row["placement"] == code and self.installed_app(row["client_id"]) is not None
        ]

    def placements_of(self, client_id: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.placements.values() if row["client_id"] == client_id]

    # --- offline events -----------------------------------------------------------------------

    def _queue_offline(
        self, app: dict[str, Any], name: str, data: dict[str, Any], user_id: int | None
    ) -> None:
        """Keep the latest state per (event, object): a later change replaces an unread one."""
        portal = self.portal
        from portal.dispatch import iso

        client_id = app["client_id"]
        obj = _object_id(data)
        basis = f"{name}|{obj}" if obj is not None else f"{name}|#{self._seq + 1}"
        message_id = hashlib.md5(basis.encode(), usedforsecurity=False).hexdigest()
        now = portal.clock.time()
        additional: dict[str, Any] = {"user_id": str(user_id)} if user_id else {}
        for key, row in self.offline.rows.items():
            # A row a process already holds (or one marked failed) is left alone; the change
            # becomes a new row, so nothing the app is working on shifts under it.
            if (
                row["client_id"] == client_id
                and row["MESSAGE_ID"] == message_id
                and not row["PROCESS_ID"]
                and row["ERROR"] == 0
            ):
                self.offline.put(
                    key,
                    {
                        **row,
                        "TIMESTAMP_X": iso(now),
                        "EVENT_DATA": data,
                        "EVENT_ADDITIONAL": additional,
                        "_ts": now,
                    },
                )
                break
        else:
            row_id = self.next_id()
            self.offline.put(
                row_id,
                {
                    "ID": row_id,
                    "TIMESTAMP_X": iso(now),
                    "EVENT_NAME": name,
                    "EVENT_DATA": data,
                    "EVENT_ADDITIONAL": additional,
                    "MESSAGE_ID": message_id,
                    "PROCESS_ID": "",
                    "ERROR": 0,
                    "client_id": client_id,
                    "_ts": now,
                },
            )
        self._ping_offline(app, name, user_id)

    def _ping_offline(self, app: dict[str, Any], name: str, user_id: int | None) -> None:
        """ONOFFLINEEVENT to the app's handler, at most once per ``minTimeout`` seconds.

        ``minTimeout=0`` means a single ping until the app has emptied its queue.
        """
        now = self.portal.clock.time()
        for handler in self.handlers_for("ONOFFLINEEVENT"):
            if handler["client_id"] != app["client_id"] or handler["offline"]:
                continue
            options = handler.get("options") or {}
            try:
                min_timeout = float(options.get("minTimeout", 1))
            except (TypeError, ValueError):
                min_timeout = 1.0
            key = (app["client_id"], handler["id"])
            last = self._offline_pinged.get(key)
            if last is not None and (min_timeout <= 0 or now - last < min_timeout):
                continue
            self._offline_pinged[key] = now
            as_user = int(handler.get("auth_type") or 0) or user_id
            payload = {
                "event": "ONOFFLINEEVENT",
                "event_handler_id": handler["id"],
                "data": {
                    "type": "add",
                    "event": name,
                    "handler": handler["handler"],
                    "minTimeout": options.get("minTimeout", 1),
                },
                "ts": int(now),
                "auth": self._app_auth(app, "ONOFFLINEEVENT", as_user),
            }
            self._enqueue(
                Delivery(
                    handler["handler"], payload, "ONOFFLINEEVENT", "app", handler["id"], app["client_id"]
                )
            )

    def offline_rows(self, client_id: str) -> list[dict[str, Any]]:
        return [row for row in self.offline.values() if row["client_id"] == client_id]

    def offline_drained(self, client_id: str) -> None:
        """The app emptied its queue: a ``minTimeout=0`` handler may be pinged again."""
        if not self.offline_rows(client_id):
            for key in [k for k in self._offline_pinged if k[0] == client_id]:
                del self._offline_pinged[key]

    # --- delivery -----------------------------------------------------------------------------

    def _enqueue(self, delivery: Delivery) -> None:
        with self._cv:
            self._queue.append(delivery)
            self._pending += 1
            self._cv.notify_all()
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="b24portal-events", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        session = requests.Session()
        # The portal's sender ignores the host's proxy and netrc settings, so a handler on
        # loopback is reached directly, and TLS is verified only against what _verify says.
        session.trust_env = False
        try:
            while True:
                with self._cv:
                    if not self._queue:
                        self._cv.wait(timeout=self.idle)
                    if not self._queue:
                        # Exit while holding the lock, so _enqueue starts a fresh worker.
                        self._worker = None
                        return
                    delivery = self._queue.popleft()
                try:
                    self._deliver(session, delivery)
                finally:
                    with self._cv:
                        self._pending -= 1
                        self._cv.notify_all()
        finally:
            session.close()

    def _verify(self) -> str | bool:
        bundle = self.ca_bundle or getattr(self.portal.config, "ca_bundle", None)
        return str(bundle) if bundle else True

    def _deliver(self, session: requests.Session, delivery: Delivery) -> None:
        record: dict[str, Any] = {
            "event": delivery.event,
            "kind": delivery.kind,
            "handler_id": delivery.handler_id,
            "client_id": delivery.client_id,
            "url": delivery.url,
            "time": self.portal.clock.time(),
            "status": None,
            "error": None,
            "ok": False,
            "payload": delivery.payload,
        }
        t0 = _time.perf_counter()
        try:
            resp = session.post(
                delivery.url,
                data=encode(delivery.payload),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=self.timeout,
                verify=self._verify(),
                allow_redirects=False,
            )
            resp.close()
            record["status"] = resp.status_code
            record["ok"] = 200 <= resp.status_code < 300
        except requests.RequestException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bad URL or payload must not kill the worker
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["duration"] = _time.perf_counter() - t0
        with self._cv:
            self._record_seq += 1
            record["id"] = self._record_seq
            self._records.append(record)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cv:
            return list(self._records)

    def clear_deliveries(self) -> None:
        with self._cv:
            self._records.clear()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: self._pending == 0, timeout=timeout)
