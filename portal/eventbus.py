"""Event handlers bound by apps, outgoing webhooks, and the delivery of events to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.core import Portal


class EventBus:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def emit(self, event: str, data: dict[str, Any], *, user_id: int | None) -> None:
        """Raise ``event`` (e.g. ONCRMCONTACTADD) to every bound handler and outgoing webhook."""
        raise NotImplementedError

    def app_installed(self, app: dict[str, Any], *, user_id: int) -> None:
        """Deliver ONAPPINSTALL to an API-only app's install path, server to server."""
        raise NotImplementedError
