"""Incoming events: parsing, sender verification, and routing to handlers.

Bitrix24 signs nothing: the only authenticator of an event is ``auth[application_token]``, a
static shared secret (reference 5.4, T19). So parsing is strict where an attacker could play
one reader against another (T19, T23):

* security fields (``event``, ``member_id``, every ``auth[...]``) must be single strings; a
  duplicated key is refused even though PHP would take the last one and Werkzeug the first,
  which is why :func:`parse_body` looks at the *raw* body before :func:`crest.forms.decode`
  merges duplicates;
* size, field count and nesting depth are capped (413 for size, 400 otherwise);
* JSON bodies get the same checks (duplicate keys, depth, field count).

Events only signal a change and may arrive twice or out of order (T21), so handlers should
re-read the entity. A handler gets an :class:`EventContext` whose :attr:`~EventContext.client`
acts with the *stored* installation tokens: many events carry no user token (robots,
workflows, T22) and outgoing webhooks never do.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from crest.errors import ApiError, CrestError, FormError
from crest.forms import MAX_FIELDS, decode, json_nesting, repeated_field
from crest.installation import is_member_id

if TYPE_CHECKING:
    from crest.client import Client

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FIELDS",
    "Event",
    "EventContext",
    "EventError",
    "EventHandler",
    "EventRouter",
    "WebhookToken",
    "decode_body",
    "ensure_bindings",
    "match_webhook_token",
    "parse_body",
    "parse_event",
    "verify_token",
]

log = logging.getLogger("crest.events")

#: Bitrix24 event bodies are a few KiB; 1 MiB leaves room for big CRM payloads (T23).
DEFAULT_MAX_BODY = 1024 * 1024
#: ``data[FIELDS][UF_CRM_x][0][VALUE]`` is as deep as real events go; 8 is T23's cap.
DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_FIELDS = MAX_FIELDS
#: Top-level names whose every occurrence must be unique, and the ``auth`` block.
_SECURITY_TOP = frozenset({"event", "member_id", "event_handler_id", "ts"})
_AUTH = "auth"
_MAX_FIELD_LENGTH = 4096


class EventError(CrestError):
    """An event body that must be refused; ``status`` is the HTTP answer (400, 401 or 413)."""

    code = "invalid_event"


@dataclass(frozen=True)
class Event:
    """One event as received. Every auth value is the string that arrived (or ``""``).

    The tokens are kept out of ``repr()`` so that logging an event never leaks them.
    ``offline`` holds ``ID``, ``MESSAGE_ID`` and ``TIMESTAMP_X`` when the event was recovered
    from the portal's offline queue instead of being POSTed.
    """

    name: str
    member_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    handler_id: str = ""
    ts: str = ""
    domain: str = ""
    application_token: str = field(default="", repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires: str = ""
    expires_in: str = ""
    scope: str = ""
    user_id: str = ""
    status: str = ""
    client_endpoint: str = ""
    server_endpoint: str = ""
    offline: Mapping[str, str] | None = None

    @property
    def has_user_tokens(self) -> bool:
        """False for robot, workflow and outgoing-webhook events, which carry no tokens (T22)."""
        return bool(self.access_token)

    @property
    def entity_id(self) -> str | None:
        """``data[FIELDS][ID]`` of CRM and task events: the key for idempotent processing (T21)."""
        fields = self.data.get("FIELDS")
        if isinstance(fields, Mapping):
            value = fields.get("ID")
            if isinstance(value, str | int) and str(value):
                return str(value)
        return None


# --- parsing -----------------------------------------------------------------------------------


def _single(value: Any, name: str, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise EventError(f"{name} is missing", status=400)
        return ""
    if not isinstance(value, str):
        # A list or map where one value belongs: a duplicated or nested key (T19).
        raise EventError(f"{name} must be a single value", status=400)
    if len(value) > _MAX_FIELD_LENGTH:
        raise EventError(f"{name} is too long", status=400)
    if required and not value:
        raise EventError(f"{name} is empty", status=400)
    return value


def _frozen(value: Any) -> Any:
    """Read-only views, so a handler cannot change what the next handler sees."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def parse_event(form: Mapping[str, Any]) -> Event:
    """An :class:`Event` from a decoded body; :class:`EventError` (400) when it is not one.

    ``member_id`` comes from ``auth[member_id]`` (or a top-level ``member_id``; both given
    and different is refused). Does *not* check the token: see :func:`verify_token`.
    """
    auth_raw = form.get(_AUTH, {})
    if not isinstance(auth_raw, Mapping):
        raise EventError("auth must be a set of fields", status=400)
    auth = {str(k): _single(v, f"auth[{k}]") for k, v in auth_raw.items()}
    name = _single(form.get("event"), "event", required=True).strip().upper()
    if not name.isascii() or not name.replace("_", "").isalnum():
        raise EventError("event is not an event name", status=400)
    member_id = auth.get("member_id", "")
    top_member = _single(form.get("member_id"), "member_id")
    if top_member and member_id and top_member != member_id:
        raise EventError("member_id and auth[member_id] differ", status=400)
    member_id = member_id or top_member
    if not member_id:
        raise EventError("auth[member_id] is missing", status=400)
    data = form.get("data", {})
    if data in ("", None):
        data = {}
    if isinstance(data, list):
        data = {str(i): v for i, v in enumerate(data)}
    if not isinstance(data, Mapping):
        raise EventError("data must be a set of fields", status=400)
    offline = form.get("offline")
    return Event(
        name=name,
        member_id=member_id,
        data=_frozen(data),
        handler_id=_single(form.get("event_handler_id"), "event_handler_id"),
        ts=_single(form.get("ts"), "ts"),
        domain=auth.get("domain", ""),
        application_token=auth.get("application_token", ""),
        access_token=auth.get("access_token") or None,
        refresh_token=auth.get("refresh_token") or None,
        expires=auth.get("expires", ""),
        expires_in=auth.get("expires_in", ""),
        scope=auth.get("scope", ""),
        user_id=auth.get("user_id", ""),
        status=auth.get("status", ""),
        client_endpoint=auth.get("client_endpoint", ""),
        server_endpoint=auth.get("server_endpoint", ""),
        offline=(
            MappingProxyType({str(k): str(v) for k, v in offline.items()})
            if isinstance(offline, Mapping)
            else None
        ),
    )


def _is_security_field(path: tuple[str, ...]) -> bool:
    return path[0] in _SECURITY_TOP or path[0] == _AUTH


def _check_form_duplicates(raw: bytes, max_depth: int) -> None:
    """Refuse a body that gives a security field twice (T19), however its name is spelled."""
    path = repeated_field(raw, only=_is_security_field, max_depth=max_depth)
    if path is not None:
        raise EventError(f"field {_name(path)} is given more than once", status=400)


def _name(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EventError(f"JSON key {key!r} is given more than once", status=400)
        result[key] = value
    return result


def _count_leaves(value: Any, limit: int) -> None:
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            count += 1
            if count > limit:
                raise EventError(f"JSON body has more than {limit} fields", status=400)


def _json_strings(value: Any) -> Any:
    """JSON scalars as the strings a form would carry, so both encodings read alike."""
    if isinstance(value, dict):
        return {k: _json_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_strings(v) for v in value]
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    return value if isinstance(value, str) else json.dumps(value)


def decode_body(
    body: bytes,
    content_type: str = "application/x-www-form-urlencoded",
    *,
    max_length: int = DEFAULT_MAX_BODY,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> dict[str, Any]:
    """The body as nested fields, with the limits and duplicate checks of :func:`parse_body`."""
    if len(body) > max_length:
        raise EventError(f"event body is larger than {max_length} bytes", status=413)
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("JSON body is not UTF-8", status=400) from None
        if json_nesting(text) > max_depth:
            raise EventError(f"JSON body is nested deeper than {max_depth} levels", status=400)
        try:
            parsed = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, EventError):
                raise
            raise EventError("body is not valid JSON", status=400) from None
        if not isinstance(parsed, dict):
            raise EventError("JSON body must be an object", status=400)
        _count_leaves(parsed, max_fields)
        return _json_strings(parsed)  # type: ignore[no-any-return]
    try:
        form = decode(body, max_length=max_length, max_fields=max_fields, max_depth=max_depth)
        _check_form_duplicates(body, max_depth)
    except FormError as exc:
        raise EventError(exc.description or "malformed form body", status=400) from None
    return form


def parse_body(
    body: bytes,
    content_type: str = "application/x-www-form-urlencoded",
    *,
    max_length: int = DEFAULT_MAX_BODY,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Event:
    """Parse a raw event body (form-encoded PHP nested keys, or JSON) into an :class:`Event`.

    Raises :class:`EventError` with ``status`` 413 for an oversize body and 400 for anything
    malformed, over a limit, or with a duplicated security field.
    """
    form = decode_body(body, content_type, max_length=max_length, max_fields=max_fields, max_depth=max_depth)
    return parse_event(form)


def verify_token(event: Event, expected_token: str | None) -> bool:
    """True when the event's ``application_token`` is ``expected_token``, in constant time.

    An empty token on either side never matches: an installation stored without one must
    not accept events that also lack one.
    """
    if not expected_token or not event.application_token:
        return False
    return hmac.compare_digest(event.application_token.encode("utf-8"), expected_token.encode("utf-8"))


@dataclass(frozen=True)
class WebhookToken:
    """An outgoing webhook's token, bound to the portal that issued it.

    ``portal`` is that portal's ``member_id`` or its domain. The token alone proves only that
    the sender knows it; binding it to a portal stops a delivery that names another portal
    (or a malformed ``member_id``) from being queued under its authority.
    """

    portal: str
    token: str = field(repr=False)

    @classmethod
    def parse(cls, entry: str) -> WebhookToken:
        """``"MEMBER_ID=TOKEN"`` or ``"DOMAIN=TOKEN"`` (as :class:`~crest.settings.Settings` checks them)."""
        portal, _, token = entry.partition("=")
        return cls(portal.strip().lower(), token.strip())

    def names(self, event: Event) -> bool:
        if not is_member_id(event.member_id):
            return False
        return self.portal in (event.member_id.lower(), event.domain.strip().lower())


def match_webhook_token(event: Event, tokens: Iterable[WebhookToken]) -> bool:
    """True when one of ``tokens`` is the event's and is bound to the portal the event names.

    Every token is compared (in constant time), so the answer's timing does not tell which
    one, or whether any, was close.
    """
    found = False
    for bound in tokens:
        found = (verify_token(event, bound.token) & bound.names(event)) | found
    return found


# --- routing -----------------------------------------------------------------------------------


class EventContext:
    """What a handler gets besides the event: a client for the event's portal.

    :attr:`client` uses the stored installation (installer's tokens, renewed in place); the
    event's own user token is never used for that, because robots' events have none (T22)
    and the stored chain is the one the app controls.
    """

    def __init__(self, event: Event, clients: Callable[[str], Client] | None = None) -> None:
        self.event = event
        self._clients = clients
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            if self._clients is None:
                raise CrestError("no client factory was given to this event context")
            self._client = self._clients(self.event.member_id)
        return self._client


EventHandler = Callable[[Event, EventContext], Any]


class EventRouter:
    """Handlers by event name. ``"*"`` receives every event, after the named handlers.

    >>> router = EventRouter()
    >>> @router.on("ONCRMDEALUPDATE")
    ... def deal_changed(event, ctx):
    ...     deal = ctx.client.call("crm.deal.get", {"ID": event.entity_id})
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}

    def on(self, *names: str) -> Callable[[EventHandler], EventHandler]:
        if not names:
            raise ValueError("name at least one event")

        def register(func: EventHandler) -> EventHandler:
            for name in names:
                self.add(name, func)
            return func

        return register

    def add(self, name: str, func: EventHandler) -> None:
        self._handlers.setdefault(name.strip().upper(), []).append(func)

    @property
    def events(self) -> list[str]:
        """The event names that have handlers (without ``"*"``): what the app should bind."""
        return sorted(name for name in self._handlers if name != "*")

    def handlers_for(self, name: str) -> list[EventHandler]:
        return [*self._handlers.get(name.upper(), ()), *self._handlers.get("*", ())]

    def dispatch(self, event: Event, ctx: EventContext | None = None) -> int:
        """Run every handler of ``event`` in registration order; the first exception propagates.

        Returns how many handlers ran. An event without handlers is not an error: the portal
        may send events the app no longer cares about.
        """
        ctx = ctx or EventContext(event)
        handlers = self.handlers_for(event.name)
        for func in handlers:
            func(event, ctx)
        return len(handlers)


# --- binding -----------------------------------------------------------------------------------


def ensure_bindings(
    client: Client,
    handler_url: str,
    online: Iterable[str],
    offline: Iterable[str] = (),
) -> list[str]:
    """Bind what is not bound yet; returns the bindings made (``"NAME"`` / ``"NAME offline"``).

    Reads ``event.get`` first, so calling it at every start is cheap and never makes a
    duplicate (handlers vanish on app update, so re-binding must be routine, reference 5.5).
    Offline bindings need an admin's tokens; an :class:`ApiError` for one binding is logged
    and the others still go ahead.
    """
    bound = {
        (
            str(row.get("event", "")).upper(),
            str(row.get("handler", "")),
            bool(int(row.get("offline", 0) or 0)),
        )
        for row in client.call("event.get") or []
        if isinstance(row, Mapping)
    }
    made: list[str] = []
    wanted = [(name.upper(), False) for name in online] + [(name.upper(), True) for name in offline]
    for name, is_offline in wanted:
        if (name, handler_url, is_offline) in bound:
            continue
        params: dict[str, Any] = {"event": name, "handler": handler_url}
        if is_offline:
            params["event_type"] = "offline"
        try:
            client.call("event.bind", params)
        except ApiError as exc:
            log.warning(
                "event.bind %s%s failed: %s %s",
                name,
                " offline" if is_offline else "",
                exc.code,
                exc.description,
            )
            continue
        made.append(f"{name} offline" if is_offline else name)
    return made
