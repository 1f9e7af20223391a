"""What a method handler gets (:class:`Call`) and may return (:class:`Paged`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal import errors

if TYPE_CHECKING:
    from portal.core import Portal
    from portal.credentials import AuthContext

PAGE_SIZE = 50


@dataclass(frozen=True)
class Paged:
    """A list page: the server hoists ``total`` and ``next`` to the top of the envelope."""

    result: Any
    total: int
    next: int | None


@dataclass
class Call:
    portal: Portal
    auth: AuthContext
    method: str
    params: dict[str, Any]
    in_batch: bool = False
    #: The list offset; the server takes ``start`` out of the parameters before the method runs.
    start: int = 0
    # Cost accounting, read by the dispatcher after the handler returns.
    rows: int = 0
    counted: int = 0
    offset: int = 0
    extra_time: float = field(default=0.0)

    def charge(self, *, rows: int = 0, counted: int = 0, offset: int = 0) -> None:
        self.rows += rows
        self.counted += counted
        self.offset += offset

    def param(self, *names: str, default: Any = None) -> Any:
        """A top-level parameter by any of ``names``, matched case-insensitively (as CRM does)."""
        wanted = {n.lower() for n in names}
        for key, value in self.params.items():
            if key.lower() in wanted:
                return value
        return default

    def require(self, *names: str) -> Any:
        value = self.param(*names)
        if value is None or value in ("", [], {}):
            raise errors.argument_null(names[0])
        return value

    @property
    def user_id(self) -> int:
        return self.auth.user_id

    @property
    def is_admin(self) -> bool:
        return self.portal.directory.is_admin(self.auth.user_id)
