"""Event methods: ``event.bind``/``unbind``/``get``, ``events``, ``event.test``, ``event.offline.*``.

All are app-context only (webhooks get WRONG_AUTH_TYPE) and need no scope (reference 5.5).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from portal import errors
from portal.context import Call
from portal.eventbus import EVENTS
from portal.lists import apply_filter, page, parse_filter, sort_rows
from portal.registry import method

_OFFLINE_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA", "EVENT_ADDITIONAL", "MESSAGE_ID")


def _client_id(call: Call) -> str:
    # app_only guarantees an OAuth caller, and every OAuth token belongs to an app.
    assert call.auth.client_id is not None
    return call.auth.client_id


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() in {"1", "y", "true"}


def _int(value: Any) -> int:
    try:
        return int(str(value)) if value not in (None, "") else 0
    except ValueError:
        return 0


def _event_available(call: Call, name: str) -> bool:
    if name not in EVENTS:
        return False
    scope = EVENTS[name]
    return scope is None or scope in call.auth.scopes


def _check_handler_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise errors.RestError("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported event handler protocol", 400)
    if not parts.hostname:
        raise errors.RestError("ERROR_WRONG_HANDLER_URL", "Wrong handler URL", 400)


@method("event.bind", scope=None, app_only=True)
def event_bind(call: Call) -> bool:
    name = str(call.require("event")).upper()
    app = call.portal.credentials.apps.get(_client_id(call))
    if app is not None and app.get("static"):
        # Reference 5.1: a static app has no server, so there is nowhere to deliver events.
        raise errors.access_denied("Static applications cannot receive events")
    if not _event_available(call, name):
        raise errors.RestError("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
    offline = str(call.param("event_type", default="online")).lower() == "offline"
    auth_type = _int(call.param("auth_type"))
    if offline and not call.is_admin:
        raise errors.access_denied("Offline events binding requires administrator access rights")
    if auth_type and not call.is_admin:
        raise errors.access_denied("Event binding with AUTH_TYPE requires administrator access rights")
    handler = str(call.param("handler", default="") or "")
    if not offline:
        if not handler:
            raise errors.argument_null("handler")
        _check_handler_url(handler)
    elif handler:
        _check_handler_url(handler)
    options = call.param("options")
    record = call.portal.events.bind(
        client_id=_client_id(call),
        event=name,
        handler=handler,
        user_id=call.user_id,
        auth_type=auth_type,
        offline=offline,
        options=options if isinstance(options, dict) else None,
    )
    if record is None:
        # Bitrix24's EventTable refuses the duplicate with this text, as ERROR_CORE.
        raise errors.core("Unable to set event handler: Handler already binded")
    return True


@method("event.unbind", scope=None, app_only=True)
def event_unbind(call: Call) -> dict[str, int]:
    event = call.param("event")
    handler = call.param("handler")
    offline = str(call.param("event_type", default="online")).lower() == "offline"
    count = call.portal.events.unbind(
        client_id=_client_id(call),
        event=str(event) if event else None,
        handler=str(handler) if handler else None,
        # 0 or empty: only the handlers bound without auth_type.
        auth_type=_int(call.param("auth_type")),
        offline=offline,
    )
    return {"count": count}


@method("event.get", scope=None, app_only=True)
def event_get(call: Call) -> list[dict[str, Any]]:
    rows = call.portal.events.handlers_of(_client_id(call))
    if not call.is_admin:
        rows = [r for r in rows if r["user_id"] == call.user_id]
    rows.sort(key=lambda r: int(r["id"]))
    return [
        {
            "event": r["event"],
            "handler": r["handler"],
            "auth_type": str(r["auth_type"]),
            "offline": 1 if r["offline"] else 0,
        }
        for r in rows
    ]


@method("events", scope=None, app_only=True)
def events(call: Call) -> list[str]:
    if _flag(call.param("full"), False):
        return sorted(EVENTS)
    wanted = call.param("scope")
    if wanted:
        return sorted(name for name, scope in EVENTS.items() if scope == str(wanted).lower())
    return sorted(name for name in EVENTS if _event_available(call, name))


@method("event.test", scope=None, app_only=True)
def event_test(call: Call) -> int:
    call.portal.events.emit_to_app(
        _client_id(call), "ONAPPTEST", {"QUERY": dict(call.params)}, user_id=call.user_id
    )
    return 1


# --- offline events ------------------------------------------------------------------------------


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _OFFLINE_FIELDS}


def _ordered(rows: list[dict[str, Any]], order: Any, default: dict[str, str]) -> list[dict[str, Any]]:
    # IDs break ties (TIMESTAMP_X has one-second resolution), so equal stamps keep arrival order.
    rows = sorted(rows, key=lambda r: int(r["ID"]))
    return sort_rows(rows, order if isinstance(order, dict) and order else default, numeric={"ID", "ERROR"})


@method("event.offline.get", scope=None, app_only=True)
def offline_get(call: Call) -> dict[str, Any]:
    bus = call.portal.events
    client_id = _client_id(call)
    limit = _int(call.param("limit")) or 50
    clear = _flag(call.param("clear"), True)
    with_errors = _flag(call.param("error"), False)
    process_id = str(call.param("process_id", default="") or "") or secrets.token_hex(16)
    conditions = parse_filter(call.param("filter"), numeric={"ID"})

    def eligible(row: dict[str, Any]) -> bool:
        return with_errors or row["ERROR"] == 0

    rows = [r for r in bus.offline_rows(client_id) if eligible(r)]
    mine = [r for r in rows if r["PROCESS_ID"] == process_id]
    free = [r for r in rows if not r["PROCESS_ID"]]
    # Reserve free rows for this process: a parallel call sees them taken (the portal lock
    # serialises method calls), so parallel readers get disjoint sets.
    free = _ordered(apply_filter(free, conditions), call.param("order"), {"TIMESTAMP_X": "ASC"})
    taken = _ordered(apply_filter(mine, conditions), call.param("order"), {"TIMESTAMP_X": "ASC"})
    taken = (taken + free)[:limit]
    for row in taken:
        if clear:
            bus.offline.delete(row["ID"])
        else:
            bus.offline.put(row["ID"], {**row, "PROCESS_ID": process_id})
    if clear:
        bus.offline_drained(client_id)
    call.charge(rows=len(taken))
    return {"process_id": process_id, "events": [_public(r) for r in taken]}


@method("event.offline.list", scope=None, app_only=True)
def offline_list(call: Call) -> Any:
    rows = [
        {**_public(r), "PROCESS_ID": r["PROCESS_ID"], "ERROR": r["ERROR"]}
        for r in call.portal.events.offline_rows(_client_id(call))
    ]
    rows = apply_filter(rows, parse_filter(call.param("filter"), numeric={"ID", "ERROR"}))
    return page(call, _ordered(rows, call.param("order"), {"ID": "ASC"}))


def _id_list(value: Any) -> list[str] | None:
    if value in (None, "", [], {}):
        return None
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        value = [value]
    return [str(v) for v in value]


@method("event.offline.clear", scope=None, app_only=True)
def offline_clear(call: Call) -> bool:
    bus = call.portal.events
    client_id = _client_id(call)
    process_id = str(call.require("process_id"))
    ids = _id_list(call.param("id"))
    # message_id is ignored when id is given (as documented).
    message_ids = None if ids is not None else _id_list(call.param("message_id"))
    for row in bus.offline_rows(client_id):
        if row["PROCESS_ID"] != process_id:
            continue
        if ids is not None and row["ID"] not in ids:
            continue
        if message_ids is not None and row["MESSAGE_ID"] not in message_ids:
            continue
        bus.offline.delete(row["ID"])
    bus.offline_drained(client_id)
    return True


@method("event.offline.error", scope=None, app_only=True)
def offline_error(call: Call) -> bool:
    bus = call.portal.events
    process_id = str(call.require("process_id"))
    message_ids = _id_list(call.param("message_id"))
    for row in bus.offline_rows(_client_id(call)):
        if row["PROCESS_ID"] != process_id:
            continue
        if message_ids is not None and row["MESSAGE_ID"] not in message_ids:
            continue
        # Marked failed and released: event.offline.get returns it again only with error=1.
        bus.offline.put(row["ID"], {**row, "ERROR": 1, "PROCESS_ID": ""})
    return True
