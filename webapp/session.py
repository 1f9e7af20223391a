"""Short-lived signed page tokens: how an app page authenticates its own later requests.

The portal's iframe POST is cross-site, so browsers that block third-party cookies would
drop a session cookie (T9). Instead, after the POST is verified, the page gets a token
(HMAC-signed with ``settings.secret_key`` by itsdangerous) that its scripts send as
``Authorization: Bearer``. Browsers never attach that header on their own, so it also stops
cross-site form posts (T10). The token names the portal (``member_id``), the user, the
audience (which part of the app may accept it), and its own validity window; expiry is
checked against an injected clock so tests can move time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = ["PageClaims", "PageTokenError", "PageTokens", "bearer_token"]

#: Long enough for a person to use the page, short enough that a leaked token soon dies.
DEFAULT_LIFETIME = 600.0
#: Tolerated difference between the clocks of the processes that issue and check tokens.
LEEWAY = 10.0
_SALT = "crest.page-token.v1"


class PageTokenError(Exception):
    """The token is missing, forged, expired, or meant for someone else (always HTTP 401)."""


@dataclass(frozen=True)
class PageClaims:
    member_id: str
    user_id: int
    audience: str
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class PageTokens:
    secret_key: str
    clock: Callable[[], float]
    lifetime: float = DEFAULT_LIFETIME

    @classmethod
    def ephemeral(cls, clock: Callable[[], float]) -> PageTokens:
        # Without a configured key, tokens only work within this process: good enough for a
        # single-process development server, and never a guessable default.
        return cls(secrets.token_urlsafe(32), clock)

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret_key, salt=_SALT)

    def issue(self, member_id: str, user_id: int, audience: str) -> str:
        now = self.clock()
        claims = {"m": member_id, "u": user_id, "aud": audience, "iat": now, "exp": now + self.lifetime}
        return str(self._serializer().dumps(claims))

    def verify(self, token: str, *, audience: str, member_id: str | None = None) -> PageClaims:
        """The token's claims, or :class:`PageTokenError`; ``member_id``, when given, must match."""
        try:
            data: Any = self._serializer().loads(token)
        except BadSignature:
            raise PageTokenError("the page token is not ours") from None
        if not isinstance(data, dict):
            raise PageTokenError("the page token is malformed")
        try:
            claims = PageClaims(
                member_id=str(data["m"]),
                user_id=int(data["u"]),
                audience=str(data["aud"]),
                issued_at=float(data["iat"]),
                expires_at=float(data["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            raise PageTokenError("the page token is malformed") from None
        now = self.clock()
        if claims.issued_at > now + LEEWAY:
            raise PageTokenError("the page token is not valid yet")
        if claims.expires_at <= now - LEEWAY:
            raise PageTokenError("the page token has expired")
        if claims.audience != audience:
            raise PageTokenError("the page token is meant for another audience")
        if member_id is not None and claims.member_id != member_id:
            raise PageTokenError("the page token is for another portal")
        return claims


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header, or ``""``."""
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
