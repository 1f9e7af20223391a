"""Per-application options (``app.option.get``/``app.option.set``): one key-value map per app."""

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

    def value(self, client_id: str, key: str) -> Any:
        return self.get(client_id).get(key)

    def set(self, client_id: str, values: dict[str, Any]) -> None:
        # Setting merges: keys not named keep their values, as on Bitrix24.
        self.table.put(client_id, {**self.get(client_id), **values})

    def clear(self, client_id: str) -> None:
        """Drop every option of an app (the app was deleted)."""
        self.table.delete(client_id)
