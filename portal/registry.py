"""The REST method registry: each method module registers its handlers with :func:`method`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.context import Call

Handler = Callable[["Call"], Any]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    handler: Handler
    #: Scopes of which the caller must hold one; empty for the always-available (``basic``) methods.
    scopes: tuple[str, ...]
    #: Webhooks get WRONG_AUTH_TYPE (placement.*, event.*, app.option.*).
    app_only: bool = False
    #: False for batch itself (nested batch is refused).
    batchable: bool = True
    #: False only for batch, whose sub-calls take the portal lock themselves.
    locked: bool = True

    def allowed_for(self, granted: frozenset[str]) -> bool:
        return not self.scopes or any(s in granted for s in self.scopes)


REGISTRY: dict[str, MethodSpec] = {}


def method(
    name: str,
    *,
    scope: str | tuple[str, ...] | None,
    app_only: bool = False,
    batchable: bool = True,
    locked: bool = True,
) -> Callable[[Handler], Handler]:
    scopes = (scope,) if isinstance(scope, str) else tuple(scope or ())

    def register(handler: Handler) -> Handler:
        REGISTRY[name.lower()] = MethodSpec(name.lower(), handler, scopes, app_only, batchable, locked)
        return handler

    return register


def lookup(name: str) -> MethodSpec | None:
    return REGISTRY.get(name.lower())
