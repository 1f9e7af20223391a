"""Placement methods: ``placement.bind``/``unbind``/``get``/``list`` (reference 6.4).

App context only, scope ``placement``; bind, unbind and get need an admin. Errors are HTTP
400: the docs show 200 for some, but the server raises them as RestException without a
status, which Bitrix24 answers with 400 (reference 2.4).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from portal import errors
from portal.context import Call
from portal.eventbus import PLACEMENTS, SINGLE_PLACEMENTS, placement_scopes
from portal.registry import method


def _client_id(call: Call) -> str:
    assert call.auth.client_id is not None  # app_only: an OAuth caller always has an app
    return call.auth.client_id


def _require_admin(call: Call) -> None:
    if not call.is_admin:
        raise errors.access_denied()


def _available(call: Call, code: str) -> bool:
    return code in PLACEMENTS and all(s in call.auth.scopes for s in placement_scopes(code))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise errors.RestError("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol", 400)
    # Bitrix24 also refuses localhost; a local portal exists to open local apps, so it allows it.
    if not parts.hostname:
        raise errors.RestError("ERROR_WRONG_HANDLER_URL", "Wrong handler URL", 400)


def _int(value: Any) -> int:
    try:
        return int(str(value)) if value not in (None, "") else 0
    except ValueError:
        return 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@method("placement.bind", scope="placement", app_only=True, batchable=False)
def placement_bind(call: Call) -> bool:
    _require_admin(call)
    code = str(call.require("PLACEMENT")).upper()
    handler = str(call.require("HANDLER"))
    if not _available(call, code):
        raise errors.RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found", 400)
    user_id = _int(call.param("USER_ID"))
    if user_id and code != "PAGE_BACKGROUND_WORKER":
        raise errors.RestError("ERROR_PLACEMENT_USER_MODE", "User mode is not available for placement", 400)
    _check_url(handler)
    options = call.param("OPTIONS")
    options = dict(options) if isinstance(options, dict) else {}
    if code == "PAGE_BACKGROUND_WORKER" and not options.get("errorHandlerUrl"):
        raise errors.RestError("EMPTY_ERROR_HANDLER_URL", "Error handler URL is empty", 400)
    bus = call.portal.events
    client_id = _client_id(call)
    mine = [p for p in bus.placements_of(client_id) if p["placement"] == code]
    if code in SINGLE_PLACEMENTS and mine:
        raise errors.RestError("ERROR_PLACEMENT_MAX_COUNT", "Placement max count: 1", 400)
    if any(p["handler"] == handler for p in mine):
        raise errors.core("Unable to set placement handler: Handler already binded")
    title, description, group = (
        _text(call.param("TITLE")),
        _text(call.param("DESCRIPTION")),
        _text(call.param("GROUP_NAME")),
    )
    lang_all = call.param("LANG_ALL")
    if not isinstance(lang_all, dict) or not lang_all:
        lang_all = {"en": {"TITLE": title, "DESCRIPTION": description, "GROUP_NAME": group}}
    placement_id = bus.next_id()
    record: dict[str, Any] = {
        "id": placement_id,
        "client_id": client_id,
        "placement": code,
        "handler": handler,
        "title": title,
        "description": description,
        "group_name": group,
        "lang_all": lang_all,
        "options": options,
        "user_id": user_id,
        "created": call.portal.clock.time(),
    }
    bus.placements.put(placement_id, record)
    return True


@method("placement.unbind", scope="placement", app_only=True)
def placement_unbind(call: Call) -> dict[str, int]:
    _require_admin(call)
    code = str(call.require("PLACEMENT")).upper()
    handler = call.param("HANDLER")
    user_id = call.param("USER_ID")
    bus = call.portal.events
    doomed = [
        p
        for p in bus.placements_of(_client_id(call))
        if p["placement"] == code
        and (not handler or p["handler"] == str(handler))
        and (user_id in (None, "") or int(p["user_id"]) == _int(user_id))
    ]
    for p in doomed:
        bus.placements.delete(p["id"])
    # The server counts each found record and again each deletion (documented), hence doubled.
    return {"count": 2 * len(doomed)}


@method("placement.get", scope="placement", app_only=True)
def placement_get(call: Call) -> list[dict[str, Any]]:
    _require_admin(call)
    rows = sorted(call.portal.events.placements_of(_client_id(call)), key=lambda p: int(p["id"]))
    return [
        {
            "placement": p["placement"],
            "userId": p["user_id"],
            "handler": p["handler"],
            # An empty PHP array: the envelope writes {} as [] already.
            "options": p["options"] or [],
            "title": p["title"],
            "description": p["description"],
            "langAll": p["lang_all"],
        }
        for p in rows
    ]


@method("placement.list", scope="placement", app_only=True)
def placement_list(call: Call) -> list[str]:
    full = str(call.param("FULL", default="")).lower() in {"1", "y", "true"}
    if full:
        return list(PLACEMENTS)
    wanted = call.param("SCOPE")
    if wanted:
        scope = str(wanted).lower()
        if scope == "placement":
            return [c for c in PLACEMENTS if not placement_scopes(c)]
        return [c for c in PLACEMENTS if scope in placement_scopes(c)]
    return [c for c in PLACEMENTS if _available(call, c)]
