"""One portal's installation: its tokens, endpoints and ``application_token``.

:class:`Installation` is a frozen record. Every change (a token refresh, a reinstall, the
``needs_reinstall`` flag) makes a new record with :meth:`Installation.with_tokens` or
:func:`dataclasses.replace`, and a store saves the whole record at once, so readers never see
an access token paired with another chain's refresh token.

The secrets (``access_token``, ``refresh_token``, ``application_token``) are masked in
``repr()``/``str()`` so that logging a record, or an exception that carries one, never leaks
them. ``client_secret`` is deliberately not a field: it belongs to the configuration, never
to the store.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Installation", "is_member_id", "mask_secret"]

_MEMBER_ID = re.compile(r"[0-9a-f]{32}")
_TRUE = frozenset({"1", "y", "yes", "true", "on"})
_FALSE = frozenset({"", "0", "n", "no", "false", "off"})


def is_member_id(value: object) -> bool:
    """True for a Bitrix24 ``member_id``: 32 lowercase hex characters."""
    return isinstance(value, str) and _MEMBER_ID.fullmatch(value) is not None


def mask_secret(secret: str) -> str:
    """First 4 characters and an ellipsis: enough to tell two tokens apart in a log.

    Short values are masked completely, because their first four characters would be most of them.
    """
    if len(secret) < 8:
        return "…" if secret else "''"
    return secret[:4] + "…"


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # PHP may have written a numeric-looking value as a number.
        return str(value)
    raise ValueError(f"{name}: expected a string, got {type(value).__name__}")


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: not a finite number")
    return number


def _integer(value: Any, name: str) -> int | None:
    number = _number(value, name)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return int(number)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name}: expected a flag, got {value!r}")


def _host_of(endpoint: str) -> str:
    # "https://portal.example/rest/" -> "portal.example"; used only to fill a missing domain.
    rest = endpoint.split("://", 1)[-1]
    return rest.split("/", 1)[0]


@dataclass(frozen=True, slots=True, repr=False)
class Installation:
    """One portal's authorization, as the store keeps it.

    ``expires`` is the access token's expiry in Unix seconds; ``None`` means unknown (CRest's
    install-page path only knows ``expires_in``), and an unknown expiry is never treated as
    expired: the client learns it from ``expired_token`` and renews then, as Bitrix24 asks.
    ``member_id`` is ``""`` only for a record read from an old CRest ``settings.json`` written
    by the install page, which does not send it; such a record is found only by ``find(None)``.
    """

    member_id: str
    domain: str
    client_endpoint: str
    access_token: str
    refresh_token: str
    expires: float | None
    application_token: str = ""
    server_endpoint: str = ""
    scope: str = ""
    user_id: int | None = None
    status: str = "L"
    installed_at: float | None = None
    refreshed_at: float | None = None
    needs_reinstall: bool = False

    def __repr__(self) -> str:
        shown: list[str] = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in {"access_token", "refresh_token", "application_token"}:
                shown.append(f"{field.name}={mask_secret(value)}")
            else:
                shown.append(f"{field.name}={value!r}")
        return f"Installation({', '.join(shown)})"

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready. Holds the tokens in clear: write it only to the store."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Installation:
        """Read a record written by :meth:`to_dict`, by PHP CRest, or by hand.

        Tolerant of what PHP writes: numbers as strings, ``"Y"``/``"N"`` flags, missing
        optional keys; unknown keys (``expires_in``, an old CRest's ``client_id`` and
        ``client_secret``...) are ignored, so a secret can never become part of the record.
        A missing ``client_endpoint`` is built from ``domain`` the way CRest's install page
        does. Raises :class:`ValueError` when the tokens or both addresses are missing.
        """
        access_token = _text(data.get("access_token"), "access_token")
        refresh_token = _text(data.get("refresh_token"), "refresh_token")
        if "access_token" not in data or "refresh_token" not in data:
            raise ValueError("not an installation: access_token or refresh_token is missing")
        domain = _text(data.get("domain"), "domain")
        client_endpoint = _text(data.get("client_endpoint"), "client_endpoint")
        if not domain and not client_endpoint:
            raise ValueError("not an installation: both domain and client_endpoint are missing")
        if not client_endpoint:
            client_endpoint = f"https://{domain}/rest/"
        if not domain:
            domain = _host_of(client_endpoint)
        return cls(
            member_id=_text(data.get("member_id"), "member_id"),
            domain=domain,
            client_endpoint=client_endpoint,
            access_token=access_token,
            refresh_token=refresh_token,
            expires=_number(data.get("expires"), "expires"),
            application_token=_text(data.get("application_token"), "application_token"),
            server_endpoint=_text(data.get("server_endpoint"), "server_endpoint"),
            scope=_text(data.get("scope"), "scope"),
            user_id=_integer(data.get("user_id"), "user_id"),
            status=_text(data.get("status"), "status") or "L",
            installed_at=_number(data.get("installed_at"), "installed_at"),
            refreshed_at=_number(data.get("refreshed_at"), "refreshed_at"),
            needs_reinstall=_flag(data.get("needs_reinstall"), "needs_reinstall"),
        )

    def with_tokens(self, token_response: Mapping[str, Any], now: float) -> Installation:
        """This installation with a new token pair from an OAuth token response merged in.

        Takes ``access_token``, ``refresh_token``, ``expires`` (or ``now + expires_in``),
        and ``scope``, ``user_id``, ``status``, ``client_endpoint``, ``server_endpoint`` when
        present. ``client_endpoint`` is taken as given: the caller decides whether to trust it
        and drops it from the response if not. ``domain`` is never taken, because in a token
        response it is the OAuth server's domain, not the portal's. A response for another
        ``member_id`` raises :class:`ValueError`: merging it would splice two portals' chains.
        Clears ``needs_reinstall`` (a fresh pair means the chain is alive) and sets
        ``refreshed_at``.
        """
        access_token = _text(token_response.get("access_token"), "access_token")
        refresh_token = _text(token_response.get("refresh_token"), "refresh_token")
        if not access_token or not refresh_token:
            raise ValueError("token response without access_token or refresh_token")
        member_id = self.member_id
        their_member = _text(token_response.get("member_id"), "member_id")
        if their_member:
            if member_id and their_member != member_id:
                raise ValueError("token response is for another portal (member_id differs)")
            member_id = their_member
        expires = _number(token_response.get("expires"), "expires")
        if expires is None:
            expires_in = _number(token_response.get("expires_in"), "expires_in")
            expires = now + expires_in if expires_in is not None else None
        changes: dict[str, Any] = {
            "member_id": member_id,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires": expires,
            "refreshed_at": now,
            "needs_reinstall": False,
        }
        for name in ("scope", "status", "client_endpoint", "server_endpoint"):
            value = _text(token_response.get(name), name)
            if value:
                changes[name] = value
        user_id = _integer(token_response.get("user_id"), "user_id")
        if user_id is not None:
            changes["user_id"] = user_id
        return dataclasses.replace(self, **changes)

    def expired(self, now: float, leeway: float = 0.0) -> bool:
        """True when the access token expires within ``leeway`` seconds of ``now``.

        An unknown expiry counts as not expired (see the class docstring).
        """
        return self.expires is not None and now + leeway >= self.expires
