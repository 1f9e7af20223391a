"""Per-application options (``app.option.get``/``app.option.set``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.persist import Table

if TYPE_CHECKING:
    from portal.core import Portal


class Options:
    def __init__(self, portal: Portal) -> None:
        self.table: Table[str] = Table(portal.persist, "app_option", str)

    def get(self, client_id: str) -> dict[str, Any]:
        return dict(self.table.get(client_id) or {})

    def set(self, client_id: str, values: dict[str, Any]) -> None:
        self.table.put(client_id, {**self.get(client_id), **values})
