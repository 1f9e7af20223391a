"""CRM records of the portal (contacts, companies, leads, deals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.core import Portal


class CrmStore:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
